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
    /// What became of each installed module (`base: 16.0.1.3 -> 17.0.1.3`, renamed, merged,
    /// removed).
    pub modules: Vec<String>,
    /// The WARNING records of the log, by kind.
    pub log_warnings: Vec<WarningKind>,
}

/// WARNING records of one kind: the same logger and the same first words
/// (`Not dropping the column of field x of model y` x 164).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningKind {
    /// `logger: first words …`.
    pub kind: String,
    /// How many.
    pub count: usize,
    /// The first few, whole.
    pub examples: Vec<String>,
}

/// At most how many words of a warning name its kind: its words up to the first name (a word
/// with a dot, an underscore or a digit: `res.partner`, `__last_update`), which changes from
/// one record to the next ("Not dropping the column of field …").
const KIND_WORDS: usize = 6;
/// Examples kept per kind.
const EXAMPLES: usize = 3;

/// The WARNING records of an Odoo log, grouped by kind, the most frequent first.
pub fn warning_kinds(log: &str) -> Vec<WarningKind> {
    let mut kinds: Vec<WarningKind> = Vec::new();
    for (level, record) in log.lines().filter_map(slipway_runner::odoo::record_of) {
        if level != "WARNING" {
            continue;
        }
        let (logger, message) = record.split_once(": ").unwrap_or(("", record));
        let is_name = |w: &&str| {
            let w = w.trim_end_matches(['.', ',', ':', ';']);
            w.contains(['.', '_']) || w.contains(|c: char| c.is_ascii_digit())
        };
        let all: Vec<&str> = message.split_whitespace().collect();
        let words: Vec<&str> = all
            .iter()
            .copied()
            .take_while(|w| !is_name(w))
            .take(KIND_WORDS)
            .collect();
        let mut kind = format!("{logger}: {}", words.join(" "));
        if words.len() < all.len() {
            kind.push_str(" …");
        }
        match kinds.iter_mut().find(|k| k.kind == kind) {
            Some(found) => {
                found.count += 1;
                if found.examples.len() < EXAMPLES {
                    found.examples.push(record.to_string());
                }
            }
            None => kinds.push(WarningKind {
                kind,
                count: 1,
                examples: vec![record.to_string()],
            }),
        }
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.count));
    kinds
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
        if !self.modules.is_empty() {
            html.push_str("<h2>Modules</h2><ul>");
            for line in &self.modules {
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
        if !self.log_warnings.is_empty() {
            html.push_str("<h2>Warnings in the log</h2><ul>");
            for kind in &self.log_warnings {
                html.push_str(&format!("<li>{} × {}<ul>", escape(&kind.kind), kind.count));
                for example in &kind.examples {
                    html.push_str(&format!("<li>{}</li>", escape(example)));
                }
                html.push_str("</ul></li>");
            }
            html.push_str("</ul>");
        }
        // The notes are served at `.../upgraded/notes`, the log beside them.
        html.push_str("<p><a href=\"log\">The whole log (upgrade.log)</a></p>");
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
            ..Notes::default()
        };
        let html = notes.to_html();
        assert!(html.contains("Standard scripts of 17.0"));
        assert!(html.contains("(1.5 s)"));
        assert!(html.contains("pre-&lt;x&gt;"));
        assert!(html.contains("script &lt;b&gt; failed"));
        assert!(html.contains("href=\"log\""));
    }

    #[test]
    fn warnings_are_counted_by_kind_with_examples() {
        let mut log = String::new();
        for (field, model) in [
            ("active", "res.partner"),
            ("__last_update", "res.users"),
            ("name", "res.partner"),
            ("x_code", "x"),
        ] {
            log.push_str(&format!(
                "2026-12-07 10:00:00,123 42 WARNING db odoo.addons.openupgrade_framework.odoo_patch.odoo.models: Not dropping the column of field {field} of model {model}\n"
            ));
        }
        log.push_str("2026-12-07 10:00:01,000 42 WARNING db odoo.modules.loading: Slow.\n");
        log.push_str("2026-12-07 10:00:01,000 42 INFO db odoo.modules.loading: Not dropping the column of x\n");
        let kinds = warning_kinds(&log);
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert_eq!(kinds[0].count, 4);
        assert!(
            kinds[0]
                .kind
                .ends_with("models: Not dropping the column of field …"),
            "{}",
            kinds[0].kind
        );
        assert_eq!(kinds[0].examples.len(), 3);
        assert!(kinds[0].examples[0].ends_with("field active of model res.partner"));
        assert_eq!(kinds[1].kind, "odoo.modules.loading: Slow.");
        let html = Notes {
            log_warnings: kinds,
            ..Notes::default()
        }
        .to_html();
        assert!(html.contains("the column of field … × 4"), "{html}");
    }
}
