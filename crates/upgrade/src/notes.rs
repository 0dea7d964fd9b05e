//! The report of a processing run (`upgraded/notes`): every step with its timing, the scripts
//! run, warnings, and the failure if any, as a self-contained HTML page.

use std::time::Duration;

/// One step of the processing.
#[derive(Debug, Clone)]
pub struct NoteStep {
    /// What the step did, e.g. `Standard scripts of 17.0`.
    pub title: String,
    /// Lines worth reading (scripts run, modules moved, tables neutralized...).
    pub details: Vec<String>,
    /// How long it took.
    pub elapsed: Duration,
    /// Whether it succeeded.
    pub ok: bool,
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    /// Request id, source and target, for the title.
    pub heading: String,
    /// Steps in order.
    pub steps: Vec<NoteStep>,
    /// Things to know that are not failures.
    pub warnings: Vec<String>,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
}

impl Notes {
    /// The report as an HTML page.
    pub fn to_html(&self) -> String {
        let mut html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>\
             body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
             .ok{{color:#1a7f37}}.failed{{color:#cf222e}}li{{font-family:ui-monospace,monospace;font-size:.9em}}\
             </style></head><body><h1>{title}</h1>",
            title = escape(&self.heading)
        );
        match &self.failure {
            Some(failure) => html.push_str(&format!(
                "<p class=\"failed\"><strong>Failed:</strong> {}</p>",
                escape(failure)
            )),
            None => html.push_str("<p class=\"ok\"><strong>Upgraded.</strong></p>"),
        }
        for step in &self.steps {
            let (class, mark) = if step.ok {
                ("ok", "✓")
            } else {
                ("failed", "✗")
            };
            html.push_str(&format!(
                "<h2 class=\"{class}\">{mark} {} <small>({:.1} s)</small></h2><ul>",
                escape(&step.title),
                step.elapsed.as_secs_f64()
            ));
            for line in &step.details {
                html.push_str(&format!("<li>{}</li>", escape(line)));
            }
            html.push_str("</ul>");
        }
        if !self.warnings.is_empty() {
            html.push_str("<h2>Warnings</h2><ul>");
            for warning in &self.warnings {
                html.push_str(&format!("<li>{}</li>", escape(warning)));
            }
            html.push_str("</ul>");
        }
        html.push_str("</body></html>\n");
        html
    }
}

/// Escapes text for HTML (element content and double-quoted attributes).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_shows_steps_and_escapes_what_scripts_print() {
        let notes = Notes {
            heading: "Request 7: 16.0 to 17.0".into(),
            steps: vec![NoteStep {
                title: "Standard scripts of 17.0".into(),
                details: vec!["module base: Running migration [>17.0.1.3] pre-<x>".into()],
                elapsed: Duration::from_millis(1500),
                ok: true,
            }],
            warnings: vec![],
            failure: Some("script <b> failed".into()),
        };
        let html = notes.to_html();
        assert!(html.contains("Standard scripts of 17.0"));
        assert!(html.contains("(1.5 s)"));
        assert!(html.contains("pre-&lt;x&gt;"));
        assert!(html.contains("script &lt;b&gt; failed"));
    }
}
