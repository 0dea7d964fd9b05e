//! The upgrade API's rules, free of I/O: parameter validation and its failures, the request
//! states and which call each allows, and the value formats the documented JSON uses.

use serde::Serialize;

/// One entry of the `failures` list: `reason` and `message` always, the rest when they apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Machine-readable kind, e.g. `TARGET:INVALID`.
    pub reason: String,
    /// A sentence for a person.
    pub message: String,
    /// The offending code (e.g. the contract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The offending value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The values that would have been accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<String>>,
}

impl Failure {
    /// A failure with only a reason and a message.
    pub fn new(reason: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_string(),
            message: message.into(),
            code: None,
            value: None,
            expected: None,
        }
    }

    fn missing(param: &str) -> Self {
        Self::new(
            &format!("{}:MISSING", param.to_ascii_uppercase()),
            format!("Parameter \"{param}\" is required"),
        )
    }

    fn invalid(param: &str, value: &str, expected: Option<Vec<String>>) -> Self {
        Self {
            value: Some(value.to_string()),
            expected,
            ..Self::new(
                &format!("{}:INVALID", param.to_ascii_uppercase()),
                format!("Invalid value \"{value}\""),
            )
        }
    }

    /// The one answer for an unknown request and for a wrong key, so that a caller cannot
    /// tell which request ids exist.
    pub fn bad_key() -> Self {
        Self::new(
            "KEY:INVALID",
            "Unknown request, or wrong key for this request",
        )
    }
}

/// What a request is for: `test` results are neutralized (no mails, no crons), `production`
/// ones are delivered as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aim {
    Test,
    Production,
}

impl Aim {
    /// Every aim, in the order `AIM:INVALID` lists them.
    pub const ALL: [Aim; 2] = [Aim::Test, Aim::Production];

    /// The API's name of the aim.
    pub fn as_str(self) -> &'static str {
        match self {
            Aim::Test => "test",
            Aim::Production => "production",
        }
    }

    /// The aim named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        slipway_metadata::by_name(&Self::ALL, Self::as_str, name)
    }
}

/// The parameters of `create`, as received (every one optional until validated).
#[derive(Debug, Clone, Default)]
pub struct CreateParams {
    pub contract: Option<String>,
    pub email: Option<String>,
    pub target: Option<String>,
    pub aim: Option<String>,
    pub filename: Option<String>,
    pub timezone: Option<String>,
    /// Slipway's extension (Odoo's platform ignores it): the custom modules, comma-separated,
    /// the upgrade leaves at their old version for the sender's code to update afterwards
    /// (what a branch's Upgrade tab sends, here or to another Slipway).
    pub custom_modules: Option<String>,
}

/// The parameters of `create`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub contract: String,
    pub email: String,
    pub target: String,
    pub aim: Aim,
    pub filename: String,
    pub timezone: Option<String>,
    /// Modules left as they are for the sender's code ([`CreateParams::custom_modules`]).
    pub custom_modules: Vec<String>,
}

/// Checks every parameter of `create` and reports all failures at once, as the documented
/// example does (`TARGET:INVALID` and `CONTRACT:NOT_FOUND` together).
pub fn validate_create(
    params: &CreateParams,
    targets: &[String],
    contract_exists: impl Fn(&str) -> bool,
) -> Result<NewRequest, Vec<Failure>> {
    let mut failures = Vec::new();
    let mut required = |name: &str, value: &Option<String>| -> String {
        let value = value.as_deref().map(str::trim).unwrap_or_default();
        if value.is_empty() {
            failures.push(Failure::missing(name));
        }
        value.to_string()
    };
    let contract = required("contract", &params.contract);
    let email = required("email", &params.email);
    let target = required("target", &params.target);
    let aim = required("aim", &params.aim);
    let filename = required("filename", &params.filename);

    if !target.is_empty() && !targets.contains(&target) {
        let mut failure = Failure::invalid("target", &target, Some(targets.to_vec()));
        if targets.is_empty() {
            failure.message = format!(
                "Invalid value \"{target}\": this server has no ready upgrade engine yet; an administrator adds one with `slipway upgrade engine add {}` (see `slipway upgrade engine list`)",
                target.parse::<slipway_odoo::Series>().map(|s| s.to_string()).unwrap_or_else(|_| "17.0".into())
            );
        }
        failures.push(failure);
    }
    let known_aim = Aim::parse(&aim);
    if !aim.is_empty() && known_aim.is_none() {
        let expected = Aim::ALL.iter().map(|a| a.as_str().to_string()).collect();
        failures.push(Failure::invalid("aim", &aim, Some(expected)));
    }
    if !email.is_empty() && !looks_like_email(&email) {
        failures.push(Failure::invalid("email", &email, None));
    }
    if !filename.is_empty() && !is_plain_file_name(&filename) {
        failures.push(Failure {
            message: format!(
                "Invalid file name \"{filename}\": give a plain name, without '/' or control characters"
            ),
            ..Failure::invalid("filename", &filename, None)
        });
    }
    let custom_modules = custom_module_list(params.custom_modules.as_deref().unwrap_or(""));
    if let Some(bad) = custom_modules.iter().find(|m| !is_module_name(m)) {
        failures.push(Failure {
            message: format!(
                "Invalid module name \"{bad}\": custom_modules lists module names (lowercase \
                 letters, digits and '_'), separated by commas"
            ),
            ..Failure::invalid("custom_modules", bad, None)
        });
    }
    if !contract.is_empty() && !contract_exists(&contract) {
        failures.push(Failure {
            code: Some(contract.clone()),
            ..Failure::new(
                "CONTRACT:NOT_FOUND",
                format!("Can not find contract {contract}"),
            )
        });
    }
    // A missing or unknown aim is among the failures, so `known_aim` is set when there are none.
    let Some(aim) = known_aim.filter(|_| failures.is_empty()) else {
        return Err(failures);
    };
    Ok(NewRequest {
        contract,
        email,
        target,
        aim,
        filename,
        custom_modules,
        timezone: params
            .timezone
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    })
}

fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// A name that stays one file wherever it is joined: it becomes the SFTP `shared_file` and a
/// file on disk.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

slipway_metadata::text_column!(Aim, "request aim");

/// A request's state, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    Draft,
    Pending,
    Progress,
    Done,
    Failed,
    Cancelled,
    Delivered,
}

slipway_metadata::text_column!(RequestState, "request state");

impl RequestState {
    /// Every state, in lifecycle order.
    pub const ALL: [RequestState; 7] = [
        RequestState::Draft,
        RequestState::Pending,
        RequestState::Progress,
        RequestState::Done,
        RequestState::Failed,
        RequestState::Cancelled,
        RequestState::Delivered,
    ];

    /// The API's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Draft => "draft",
            RequestState::Pending => "pending",
            RequestState::Progress => "progress",
            RequestState::Done => "done",
            RequestState::Failed => "failed",
            RequestState::Cancelled => "cancelled",
            RequestState::Delivered => "delivered",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        slipway_metadata::by_name(&Self::ALL, Self::as_str, name)
    }

    /// Whether the upgraded database can be downloaded.
    pub fn has_result(self) -> bool {
        matches!(self, RequestState::Done | RequestState::Delivered)
    }

    /// Whether the request may still be processed, so that an estimate of its time means
    /// something.
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            RequestState::Draft | RequestState::Pending | RequestState::Progress
        )
    }

    /// The stage of the request's follow-up, as Odoo's helpdesk names it (`issue_stage`).
    pub fn issue_stage(self) -> &'static str {
        match self {
            RequestState::Draft => "new",
            RequestState::Pending | RequestState::Progress => "in progress",
            RequestState::Done | RequestState::Delivered => "done",
            RequestState::Cancelled => "cancelled",
            RequestState::Failed => "failed",
        }
    }
}

/// The calls that change or depend on a request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Upload,
    SftpAccess,
    Process,
    SkipTest,
    Cancel,
}

impl Action {
    /// The states in which the call is allowed.
    pub fn allowed_in(self) -> &'static [RequestState] {
        use RequestState::*;
        match self {
            Action::Upload | Action::Process => &[Draft],
            // Draft: to upload the dump; done/delivered: to download the upgraded one.
            Action::SftpAccess => &[Draft, Done, Delivered],
            Action::SkipTest => &[Draft, Pending, Progress],
            Action::Cancel => &[Draft, Pending],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::SftpAccess => "request_sftp_access",
            Action::Process => "process",
            Action::SkipTest => "skip_test",
            Action::Cancel => "cancel",
        }
    }
}

/// `STATE:INVALID` unless `action` is allowed in `state`.
pub fn check_state(state: RequestState, action: Action) -> Result<(), Failure> {
    let allowed = action.allowed_in();
    if allowed.contains(&state) {
        return Ok(());
    }
    Err(Failure {
        value: Some(state.as_str().to_string()),
        expected: Some(allowed.iter().map(|s| s.as_str().to_string()).collect()),
        ..Failure::new(
            "STATE:INVALID",
            format!(
                "Cannot {} a request in state \"{}\"",
                action.name(),
                state.as_str()
            ),
        )
    })
}

/// A size as Odoo's `human_size` writes it: `912.99 Kb`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "Kb", "Mb", "Gb", "Tb"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.2} {}", UNITS[unit])
}

/// A duration as `HH:MM`, the `elapsed` and `estimated_time` format.
pub fn hours_minutes(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A timestamp as `2015-09-09 07:13:49` (UTC), the `created_at` and `processed_at` format.
pub fn api_datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The names of a comma-separated list, trimmed, empty ones left out.
fn custom_module_list(text: &str) -> Vec<String> {
    (text.split(','))
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// A module's technical name as Odoo's own are written: it becomes a folder name and SQL data.
fn is_module_name(name: &str) -> bool {
    name.len() <= 64
        && (name.chars()).all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> CreateParams {
        CreateParams {
            contract: Some("M123456-abcdef".into()),
            email: Some("john.doe@example.com".into()),
            target: Some("17.0".into()),
            aim: Some("test".into()),
            filename: Some("db_name.dump".into()),
            timezone: None,
            custom_modules: None,
        }
    }

    #[test]
    fn custom_modules_are_a_list_of_module_names() {
        let p = CreateParams {
            custom_modules: Some(" shop_core, x_2 ,,".into()),
            ..params()
        };
        let new = validate_create(&p, &targets(), |_| true).unwrap();
        assert_eq!(new.custom_modules, ["shop_core", "x_2"]);
        assert!(validate_create(&params(), &targets(), |_| true)
            .unwrap()
            .custom_modules
            .is_empty());
        let p = CreateParams {
            custom_modules: Some("shop_core,../etc".into()),
            ..params()
        };
        let failures = validate_create(&p, &targets(), |_| true).unwrap_err();
        assert_eq!(failures[0].reason, "CUSTOM_MODULES:INVALID");
        assert_eq!(failures[0].value.as_deref(), Some("../etc"));
    }

    fn targets() -> Vec<String> {
        vec!["16.0".into(), "17.0".into()]
    }

    #[test]
    fn a_valid_create_passes() {
        let new = validate_create(&params(), &targets(), |_| true).unwrap();
        assert_eq!(new.target, "17.0");
        assert_eq!(new.aim, Aim::Test);
        assert_eq!(new.filename, "db_name.dump");
    }

    #[test]
    fn every_failure_is_reported_at_once_like_the_documented_example() {
        let p = CreateParams {
            target: Some("5.0".into()),
            contract: Some("M123456-abcxyz".into()),
            ..params()
        };
        let failures = validate_create(&p, &targets(), |_| false).unwrap_err();
        let json = serde_json::to_value(&failures).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"expected": ["16.0", "17.0"], "message": "Invalid value \"5.0\"",
                 "reason": "TARGET:INVALID", "value": "5.0"},
                {"code": "M123456-abcxyz", "message": "Can not find contract M123456-abcxyz",
                 "reason": "CONTRACT:NOT_FOUND"}
            ])
        );
    }

    #[test]
    fn with_no_target_offered_the_failure_says_how_to_add_an_engine() {
        let failures = validate_create(&params(), &[], |_| true).unwrap_err();
        assert_eq!(failures[0].reason, "TARGET:INVALID");
        assert_eq!(failures[0].expected, Some(Vec::new()));
        assert!(
            failures[0]
                .message
                .contains("`slipway upgrade engine add 17.0`"),
            "{}",
            failures[0].message
        );
        let bogus = CreateParams {
            target: Some("latest".into()),
            ..params()
        };
        let failures = validate_create(&bogus, &[], |_| true).unwrap_err();
        assert!(failures[0].message.contains("engine add 17.0"));
    }

    #[test]
    fn missing_and_malformed_parameters_are_named() {
        let p = CreateParams {
            email: Some("not-an-email".into()),
            aim: Some("fun".into()),
            filename: Some("../etc/passwd".into()),
            contract: None,
            ..params()
        };
        let reasons: Vec<String> = validate_create(&p, &targets(), |_| true)
            .unwrap_err()
            .into_iter()
            .map(|f| f.reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "CONTRACT:MISSING",
                "AIM:INVALID",
                "EMAIL:INVALID",
                "FILENAME:INVALID"
            ]
        );
    }

    #[test]
    fn states_allow_only_their_calls() {
        use RequestState::*;
        assert!(check_state(Draft, Action::Upload).is_ok());
        let refused = check_state(Progress, Action::Upload).unwrap_err();
        assert_eq!(refused.reason, "STATE:INVALID");
        assert_eq!(refused.value.as_deref(), Some("progress"));
        assert!(check_state(Done, Action::SftpAccess).is_ok());
        assert!(check_state(Failed, Action::SftpAccess).is_err());
        assert!(check_state(Pending, Action::Process).is_err());
        assert!(check_state(Pending, Action::Cancel).is_ok());
        assert!(check_state(Progress, Action::Cancel).is_err());
    }

    #[test]
    fn names_round_trip_and_serialize_as_the_api_writes_them() {
        for state in RequestState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        for aim in Aim::ALL {
            assert_eq!(Aim::parse(aim.as_str()), Some(aim));
            assert_eq!(serde_json::to_value(aim).unwrap(), aim.as_str());
        }
        assert_eq!(Aim::parse("fun"), None);
    }

    #[test]
    fn the_issue_stage_follows_the_state() {
        use RequestState::*;
        let stages: Vec<&str> = RequestState::ALL.iter().map(|s| s.issue_stage()).collect();
        assert_eq!(
            stages,
            [
                "new",
                "in progress",
                "in progress",
                "done",
                "failed",
                "cancelled",
                "done"
            ]
        );
        assert!(Progress.is_unfinished());
        assert!(!Done.is_unfinished());
    }

    #[test]
    fn values_are_written_in_the_documented_formats() {
        assert_eq!(human_size(934_902), "912.99 Kb");
        assert_eq!(human_size(12), "12.00 bytes");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3.00 Gb");
        assert_eq!(hours_minutes(0), "00:00");
        assert_eq!(hours_minutes(3 * 3600 + 7 * 60 + 59), "03:07");
        let at = chrono::DateTime::parse_from_rfc3339("2015-09-09T07:13:49Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(api_datetime(at), "2015-09-09 07:13:49");
    }
}
