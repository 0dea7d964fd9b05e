//! Printing results: JSON with a stable shape for `--json`, aligned text otherwise.

use anyhow::Result;
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `label: value` rows with the values aligned.
pub fn print_fields(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, value) in rows {
        println!("{label:<width$}  {value}");
    }
}

/// `1536` as `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    slipway_platform::limits::ByteSize(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(40 * 1024 * 1024), "40.0 MiB");
    }
}
