//! Progress shown on a terminal (and nowhere else, so scripts and logs stay clean).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a message, elapsed time and, when fed, a byte count; hidden when stderr
/// is not a terminal or `--json` was asked.
pub fn spinner(message: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let style =
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}] {bytes} {binary_bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A callback that moves `bar` to the number of bytes done.
pub fn bytes_callback(bar: &ProgressBar) -> Arc<dyn Fn(u64) + Send + Sync> {
    let bar = bar.clone();
    Arc::new(move |done| bar.set_position(done))
}
