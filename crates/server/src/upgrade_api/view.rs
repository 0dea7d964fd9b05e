//! What `status` (and every other call) returns about a request: the documented dict, field for
//! field, and the human page behind `status_url`.

use serde::Serialize;
use slipway_upgrade::notes::escape;
use slipway_upgrade::rules::{api_datetime, hours_minutes, human_size, Aim, RequestState};
use slipway_upgrade::RequestStatus;

/// The `request` dict, in the documented field order.
#[derive(Debug, Serialize)]
pub(crate) struct RequestView {
    id: i64,
    key: String,
    email: String,
    target: String,
    aim: Aim,
    filename: String,
    timezone: Option<String>,
    state: RequestState,
    issue_stage: &'static str,
    issue: i64,
    status_url: String,
    notes_url: String,
    original_sql_url: String,
    original_dump_url: String,
    upgraded_sql_url: String,
    upgraded_dump_url: String,
    modules_url: String,
    filesize: Option<String>,
    database_uuid: Option<String>,
    created_at: String,
    estimated_time: Option<String>,
    processed_at: Option<String>,
    elapsed: String,
    filestore: bool,
    customer_message: Option<String>,
    database_version: Option<String>,
    postgresql: Option<String>,
    compressions: Vec<String>,
}

/// Where the request's URLs point: `<base>/database/<region>/<id>/<key>/...`.
pub(crate) struct UrlBase<'a> {
    pub base: &'a str,
    pub region: &'a str,
}

impl RequestView {
    pub fn new(status: &RequestStatus, key: &str, urls: &UrlBase<'_>) -> Self {
        let r = &status.record;
        let root = format!("{}/database/{}/{}/{key}", urls.base, urls.region, r.id);
        Self {
            id: r.id,
            key: key.to_string(),
            email: r.email.clone(),
            target: r.target.clone(),
            aim: r.aim,
            filename: r.filename.clone(),
            timezone: r.timezone.clone(),
            state: r.state,
            issue_stage: r.state.issue_stage(),
            issue: r.id,
            status_url: format!("{root}/status"),
            notes_url: format!("{root}/upgraded/notes"),
            original_sql_url: format!("{root}/original/sql"),
            original_dump_url: format!("{root}/original/archive"),
            upgraded_sql_url: format!("{root}/upgraded/sql"),
            upgraded_dump_url: format!("{root}/upgraded/archive"),
            modules_url: format!("{root}/modules/archive"),
            filesize: r.upload_size.map(|s| human_size(s.max(0) as u64)),
            database_uuid: r.database_uuid.clone(),
            created_at: api_datetime(r.created_at),
            estimated_time: status.estimated_seconds.map(hours_minutes),
            processed_at: r.processed_at.map(api_datetime),
            elapsed: hours_minutes(r.elapsed_seconds(chrono::Utc::now())),
            filestore: r.filestore,
            customer_message: (r.customer_message.as_deref()).map(crate::api::without_server_paths),
            database_version: r.database_version.clone(),
            postgresql: r.postgresql.clone(),
            compressions: r.compressions.0.clone(),
        }
    }
}

/// The page behind `status_url`: the same facts, for a person.
pub(crate) fn status_page(view: &RequestView) -> String {
    let rows = [
        ("Request", view.id.to_string()),
        ("State", view.state.as_str().to_string()),
        ("Target", view.target.clone()),
        ("Aim", view.aim.as_str().to_string()),
        ("File", view.filename.clone()),
        ("Size", view.filesize.clone().unwrap_or_else(|| "-".into())),
        (
            "Odoo version",
            view.database_version.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "PostgreSQL",
            view.postgresql.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Created", view.created_at.clone()),
        ("Elapsed", view.elapsed.clone()),
        (
            "Message",
            view.customer_message.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{}</td></tr>", escape(v)))
        .collect();
    let links = if view.state.has_result() {
        format!(
            "<p><a href=\"{}\">Upgraded dump</a> · <a href=\"{}\">Upgraded SQL</a> · <a href=\"{}\">Notes</a></p>",
            escape(&view.upgraded_dump_url),
            escape(&view.upgraded_sql_url),
            escape(&view.notes_url)
        )
    } else {
        String::new()
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Upgrade request {id}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}\
         th{{text-align:left;padding-right:1rem}}</style></head><body>\
         <h1>Upgrade request {id}</h1><table>{table}</table>{links}</body></html>",
        id = view.id
    )
}
