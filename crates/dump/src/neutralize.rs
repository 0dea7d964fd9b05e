//! Neutralization as data: the effects of Odoo's per-module
//! `data/neutralize.sql` files (odoo-facts §6), each written as a step
//! that names the module it belongs to and the tables and columns it
//! touches. [`plan`] keeps the steps whose module is installed and whose
//! tables and columns exist; the others are reported as skipped, since
//! versions differ. Every step is idempotent: running the plan twice
//! leaves the database as running it once.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The dummy outgoing mail server that keeps Odoo from falling back to a
/// server given on its command line.
pub const DUMMY_MAIL_SERVER: &str = "neutralization - disable emails";

/// One neutralization step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The Odoo module whose `neutralize.sql` this step reproduces.
    pub module: &'static str,
    /// What it does, for reports.
    pub what: &'static str,
    /// Tables and the columns of each the SQL needs.
    pub needs: Vec<(&'static str, Vec<&'static str>)>,
    /// The statements, run in order.
    pub sql: Vec<String>,
}

/// A step left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The step.
    pub step: Step,
    /// "module payment not installed", "table website missing", ...
    pub reason: String,
}

/// What neutralizing a given database will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Steps to run, in order.
    pub run: Vec<Step>,
    /// Steps that do not apply to this database.
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// The SQL of the plan as a script (`db neutralize --dry-run`).
    pub fn script(&self) -> String {
        let mut out = String::from("-- Slipway neutralization\nBEGIN;\n");
        for step in &self.run {
            let _ = writeln!(out, "\n-- [{}] {}", step.module, step.what);
            for sql in &step.sql {
                let _ = writeln!(out, "{sql};");
            }
        }
        for s in &self.skipped {
            let _ = writeln!(
                out,
                "\n-- skipped [{}] {}: {}",
                s.step.module, s.step.what, s.reason
            );
        }
        out.push_str("\nCOMMIT;\n");
        out
    }
}

/// The columns present in a database, as (table, column) pairs.
pub type Columns = BTreeSet<(String, String)>;

/// Chooses the steps for a database with these installed modules
/// (states `installed`, `to upgrade`, `to remove`, as Odoo does) and
/// these columns.
pub fn plan(installed: &BTreeSet<String>, columns: &Columns) -> Plan {
    let tables: BTreeSet<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
    let mut out = Plan::default();
    for step in steps() {
        match missing(&step, installed, &tables, columns) {
            None => out.run.push(step),
            Some(reason) => out.skipped.push(Skipped { step, reason }),
        }
    }
    out
}

fn missing(
    step: &Step,
    installed: &BTreeSet<String>,
    tables: &BTreeSet<&str>,
    columns: &Columns,
) -> Option<String> {
    if !installed.contains(step.module) {
        return Some(format!("module {} not installed", step.module));
    }
    for (table, cols) in &step.needs {
        if !tables.contains(table) {
            return Some(format!("table {table} missing"));
        }
        if let Some(col) = cols
            .iter()
            .find(|c| !columns.contains(&(table.to_string(), c.to_string())))
        {
            return Some(format!("column {table}.{col} missing"));
        }
    }
    None
}

fn step(
    module: &'static str,
    what: &'static str,
    table: &'static str,
    cols: &[&'static str],
    sql: &[&str],
) -> Step {
    Step {
        module,
        what,
        needs: vec![(table, cols.to_vec())],
        sql: sql.iter().map(|s| s.to_string()).collect(),
    }
}

/// `UPDATE table SET col = value, ...` for a module that stores
/// credentials: `value` is `NULL` or a dummy literal.
fn reset(
    module: &'static str,
    what: &'static str,
    table: &'static str,
    sets: &[(&'static str, &str)],
    filter: &str,
) -> Step {
    let cols: Vec<&'static str> = sets.iter().map(|(c, _)| *c).collect();
    let assignments: Vec<String> = sets.iter().map(|(c, v)| format!("{c} = {v}")).collect();
    let mut sql = format!("UPDATE {table} SET {}", assignments.join(", "));
    if !filter.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(filter);
    }
    Step {
        module,
        what,
        needs: vec![(table, cols)],
        sql: vec![sql],
    }
}

/// A step whose WHERE clause reads `column` too.
fn filtered_on(mut step: Step, column: &'static str) -> Step {
    if let Some((_, cols)) = step.needs.first_mut() {
        cols.push(column);
    }
    step
}

fn nulls(module: &'static str, table: &'static str, cols: &[&'static str]) -> Step {
    let sets: Vec<(&'static str, &str)> = cols.iter().map(|c| (*c, "NULL")).collect();
    reset(module, "clear credentials", table, &sets, "")
}

/// Every step, in the order they run: `base` first, as Odoo loads it.
pub fn steps() -> Vec<Step> {
    let mut all = base_steps();
    all.extend(mail_and_web_steps());
    all.extend(integration_steps());
    all.extend(payment_steps());
    all.extend(localization_steps());
    all
}

fn base_steps() -> Vec<Step> {
    vec![
        step(
            "base",
            "deactivate outgoing mail servers",
            "ir_mail_server",
            &["name", "active"],
            &["UPDATE ir_mail_server SET active = false WHERE active AND name IS DISTINCT FROM 'neutralization - disable emails'"],
        ),
        step(
            "base",
            "add an active dummy mail server so nothing falls back to a real one",
            "ir_mail_server",
            &["name", "smtp_port", "smtp_host", "smtp_encryption", "active", "smtp_authentication"],
            &[
                "UPDATE ir_mail_server SET active = true WHERE name = 'neutralization - disable emails'",
                "INSERT INTO ir_mail_server (name, smtp_port, smtp_host, smtp_encryption, active, smtp_authentication) \
                 SELECT 'neutralization - disable emails', 1025, 'invalid', 'none', true, 'login' \
                 WHERE NOT EXISTS (SELECT 1 FROM ir_mail_server WHERE name = 'neutralization - disable emails')",
            ],
        ),
        Step {
            module: "base",
            what: "deactivate scheduled actions except the autovacuum job",
            needs: vec![("ir_cron", vec!["id", "active"]), ("ir_model_data", vec!["res_id", "model", "name", "module"])],
            sql: vec!["UPDATE ir_cron SET active = false WHERE active AND id NOT IN (SELECT res_id FROM ir_model_data \
                 WHERE model = 'ir.cron' AND module = 'base' AND name = 'autovacuum_job')"
                .into()],
        },
        step(
            "base",
            "flag the database as neutralized",
            "ir_config_parameter",
            &["key", "value"],
            &["INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true') \
               ON CONFLICT (key) DO UPDATE SET value = 'true'"],
        ),
        step(
            "base",
            "disable webhooks of server actions",
            "ir_act_server",
            &["state", "webhook_url"],
            &["UPDATE ir_act_server SET webhook_url = 'neutralization - disable webhook' WHERE state = 'webhook'"],
        ),
    ]
}

fn mail_and_web_steps() -> Vec<Step> {
    vec![
        step(
            "web",
            "show the neutralized banner",
            "ir_ui_view",
            &["key", "active"],
            &["UPDATE ir_ui_view SET active = true WHERE key = 'web.neutralize_banner'"],
        ),
        step(
            "mail",
            "detach mail templates from mail servers",
            "mail_template",
            &["mail_server_id"],
            &["UPDATE mail_template SET mail_server_id = NULL WHERE mail_server_id IS NOT NULL"],
        ),
        step(
            "mail",
            "deactivate incoming mail servers",
            "fetchmail_server",
            &["active"],
            &["UPDATE fetchmail_server SET active = false WHERE active"],
        ),
        step(
            "mail",
            "delete web push keys",
            "ir_config_parameter",
            &["key"],
            &[
                "DELETE FROM ir_config_parameter WHERE key IN ('mail.web_push_vapid_private_key', \
             'mail.web_push_vapid_public_key', 'mail.sfu_server_key')",
            ],
        ),
        step(
            "mail",
            "drop pending web push notifications",
            "mail_notification_web_push",
            &[],
            &["TRUNCATE mail_notification_web_push"],
        ),
        step(
            "mail",
            "forget web push devices",
            "mail_partner_device",
            &[],
            &["TRUNCATE mail_partner_device CASCADE"],
        ),
        step(
            "website",
            "clear website domains",
            "website",
            &["domain"],
            &["UPDATE website SET domain = NULL"],
        ),
        step(
            "website",
            "show the neutralized ribbon",
            "ir_ui_view",
            &["key", "active"],
            &["UPDATE ir_ui_view SET active = true WHERE key = 'website.neutralize_ribbon'"],
        ),
        step(
            "website",
            "disable the CDN",
            "website",
            &["cdn_activated"],
            &["UPDATE website SET cdn_activated = false"],
        ),
        step(
            "website",
            "disallow indexing",
            "website",
            &["robots_txt"],
            &["UPDATE website SET robots_txt = E'User-agent: *\\nDisallow: /'"],
        ),
    ]
}

fn integration_steps() -> Vec<Step> {
    vec![
        step("auth_oauth", "disable OAuth providers", "auth_oauth_provider", &["enabled"], &[
            "UPDATE auth_oauth_provider SET enabled = false",
        ]),
        step("iap", "disable IAP account tokens", "iap_account", &["account_token"], &[
            "UPDATE iap_account SET account_token = REGEXP_REPLACE(account_token, '(\\+.*)?$', '+disabled') \
             WHERE LENGTH(account_token) <= 33",
            "UPDATE iap_account SET account_token = 'dummy_value+disabled' \
             WHERE LENGTH(account_token) > 33 AND account_token NOT LIKE '%+disabled'",
        ]),
        step("delivery", "use carriers' test environments", "delivery_carrier", &["prod_environment"], &[
            "UPDATE delivery_carrier SET prod_environment = false",
        ]),
        step("delivery", "archive carriers of external providers", "delivery_carrier", &["active", "delivery_type"], &[
            "UPDATE delivery_carrier SET active = false WHERE delivery_type NOT IN ('fixed', 'base_on_rule')",
        ]),
        reset("delivery_mondialrelay", "use Mondial Relay's test brand", "delivery_carrier", &[("mondialrelay_brand", "'BDTEST  '")], ""),
        reset("google_calendar", "stop Google Calendar sync", "google_calendar_credentials",
            &[("calendar_rtoken", "NULL"), ("calendar_token", "NULL"), ("synchronization_stopped", "true")], ""),
        nulls("microsoft_calendar", "res_users", &["microsoft_calendar_token", "microsoft_calendar_rtoken"]),
        reset("microsoft_calendar", "stop Outlook Calendar sync", "microsoft_calendar_credentials",
            &[("calendar_sync_token", "NULL"), ("synchronization_stopped", "true"), ("last_sync_date", "NULL")], ""),
        step("google_recaptcha", "clear reCAPTCHA keys", "ir_config_parameter", &["key", "value"], &[
            "UPDATE ir_config_parameter SET value = '' WHERE key IN ('recaptcha_public_key', 'recaptcha_private_key')",
        ]),
        step("website_cf_turnstile", "clear Turnstile keys", "ir_config_parameter", &["key", "value"], &[
            "UPDATE ir_config_parameter SET value = '' WHERE key IN ('cf.turnstile_site_key', 'cf.turnstile_secret_key')",
        ]),
        step("website_event_jitsi", "forget the Jitsi server", "ir_config_parameter", &["key"], &[
            "DELETE FROM ir_config_parameter WHERE key = 'website_jitsi.jitsi_server_domain'",
        ]),
        reset("website_sale_autocomplete", "replace the Google Places key", "website", &[("google_places_api_key", "'dummy'")], ""),
        filtered_on(reset("account_edi_proxy_client", "use EDI proxies in test mode", "account_edi_proxy_client_user",
            &[("edi_mode", "CASE WHEN proxy_type = 'l10n_it_edi' THEN 'demo' ELSE 'test' END")],
            "proxy_type != 'l10n_my_edi'"), "proxy_type"),
        reset("pos_adyen", "Adyen terminals in test mode", "pos_payment_method", &[("adyen_test_mode", "true")], ""),
        reset("pos_mercado_pago", "replace Mercado Pago terminal keys", "pos_payment_method",
            &[("mp_bearer_token", "'dummy_value'"), ("mp_webhook_secret_key", "'dummy_value'")], "mp_bearer_token IS NOT NULL"),
        reset("pos_paytm", "Paytm terminals in test mode", "pos_payment_method",
            &[("paytm_test_mode", "true"), ("paytm_merchant_key", "'dummykey00012345'")], ""),
        reset("pos_razorpay", "Razorpay terminals in test mode", "pos_payment_method",
            &[("razorpay_test_mode", "true"), ("razorpay_api_key", "'dummykey00012345'")], ""),
        reset("pos_viva_wallet", "Viva Wallet terminals in test mode", "pos_payment_method", &[("viva_wallet_test_mode", "true")], ""),
        reset("sms_twilio", "replace the Twilio token", "res_company", &[("sms_twilio_auth_token", "'dummytoken'")], ""),
    ]
}

fn payment_steps() -> Vec<Step> {
    let mut out = vec![step("payment", "disable payment providers not in test mode", "payment_provider", &["state"], &[
        "UPDATE payment_provider SET state = 'disabled' WHERE state NOT IN ('test', 'disabled')",
    ])];
    let providers: &[(&'static str, &[&'static str])] = &[
        (
            "payment_adyen",
            &["adyen_merchant_account", "adyen_api_key", "adyen_hmac_key"],
        ),
        (
            "payment_alipay",
            &[
                "alipay_merchant_partner_id",
                "alipay_md5_signature_key",
                "alipay_seller_email",
            ],
        ),
        (
            "payment_aps",
            &[
                "aps_merchant_identifier",
                "aps_access_code",
                "aps_sha_request",
                "aps_sha_response",
            ],
        ),
        (
            "payment_asiapay",
            &[
                "asiapay_merchant_id",
                "asiapay_secure_hash_secret",
                "asiapay_secure_hash_function",
            ],
        ),
        (
            "payment_authorize",
            &[
                "authorize_login",
                "authorize_transaction_key",
                "authorize_signature_key",
                "authorize_client_key",
            ],
        ),
        (
            "payment_buckaroo",
            &["buckaroo_website_key", "buckaroo_secret_key"],
        ),
        (
            "payment_flutterwave",
            &[
                "flutterwave_public_key",
                "flutterwave_secret_key",
                "flutterwave_webhook_secret",
            ],
        ),
        ("payment_mercado_pago", &["mercado_pago_access_token"]),
        ("payment_mollie", &["mollie_api_key"]),
        (
            "payment_ogone",
            &[
                "ogone_pspid",
                "ogone_userid",
                "ogone_password",
                "ogone_shakey_in",
                "ogone_shakey_out",
            ],
        ),
        (
            "payment_paypal",
            &["paypal_email_account", "paypal_pdt_token"],
        ),
        (
            "payment_payulatam",
            &[
                "payulatam_merchant_id",
                "payulatam_account_id",
                "payulatam_api_key",
            ],
        ),
        (
            "payment_payumoney",
            &["payumoney_merchant_key", "payumoney_merchant_salt"],
        ),
        (
            "payment_razorpay",
            &[
                "razorpay_key_id",
                "razorpay_key_secret",
                "razorpay_webhook_secret",
            ],
        ),
        (
            "payment_razorpay_oauth",
            &[
                "razorpay_public_token",
                "razorpay_refresh_token",
                "razorpay_access_token",
                "razorpay_access_token_expiry",
                "razorpay_account_id",
            ],
        ),
        ("payment_sips", &["sips_merchant_id", "sips_secret"]),
        (
            "payment_stripe",
            &[
                "stripe_secret_key",
                "stripe_publishable_key",
                "stripe_webhook_secret",
            ],
        ),
    ];
    out.extend(
        providers
            .iter()
            .map(|(module, cols)| nulls(module, "payment_provider", cols)),
    );
    out.push(reset(
        "payment_xendit",
        "replace Xendit keys",
        "payment_provider",
        &[
            ("xendit_secret_key", "'dummysecret'"),
            ("xendit_webhook_token", "'dummytoken'"),
        ],
        "",
    ));
    out
}

fn localization_steps() -> Vec<Step> {
    let c = "res_company";
    vec![
        reset(
            "l10n_eg_edi_eta",
            "ETA test environment",
            c,
            &[
                ("l10n_eg_production_env", "false"),
                ("l10n_eg_client_secret", "'dummy'"),
            ],
            "",
        ),
        reset(
            "l10n_es_edi_sii",
            "SII test environment",
            c,
            &[("l10n_es_edi_test_env", "true")],
            "",
        ),
        reset(
            "l10n_es_edi_verifactu",
            "Veri*Factu test environment",
            c,
            &[("l10n_es_edi_verifactu_test_environment", "true")],
            "",
        ),
        reset(
            "l10n_hu_edi",
            "Hungarian EDI test mode",
            c,
            &[
                ("l10n_hu_edi_server_mode", "'test'"),
                ("l10n_hu_edi_username", "''"),
                ("l10n_hu_edi_password", "''"),
                ("l10n_hu_edi_signature_key", "''"),
                ("l10n_hu_edi_replacement_key", "''"),
            ],
            "l10n_hu_edi_server_mode = 'production'",
        ),
        reset(
            "l10n_in_edi",
            "Indian EDI off",
            c,
            &[
                ("l10n_in_edi_production_env", "false"),
                ("l10n_in_edi_username", "NULL"),
                ("l10n_in_edi_password", "NULL"),
                ("l10n_in_edi_token", "NULL"),
                ("l10n_in_edi_token_validity", "NULL"),
            ],
            "",
        ),
        nulls(
            "l10n_in_edi_ewaybill",
            c,
            &[
                "l10n_in_edi_ewaybill_username",
                "l10n_in_edi_ewaybill_password",
                "l10n_in_edi_ewaybill_auth_validity",
            ],
        ),
        reset(
            "l10n_jo_edi",
            "JoFotara dummy keys",
            c,
            &[
                ("l10n_jo_edi_secret_key", "'dummy_secret'"),
                ("l10n_jo_edi_client_identifier", "'dummy_id'"),
            ],
            "",
        ),
        reset(
            "l10n_ke_edi_tremol",
            "forget the Tremol control unit",
            c,
            &[("l10n_ke_cu_proxy_address", "''")],
            "",
        ),
        filtered_on(
            reset(
                "l10n_my_edi",
                "archive MyInvois proxy users",
                "account_edi_proxy_client_user",
                &[("active", "false")],
                "proxy_type = 'l10n_my_edi'",
            ),
            "proxy_type",
        ),
        reset(
            "l10n_my_edi",
            "MyInvois pre-production mode",
            c,
            &[("l10n_my_edi_mode", "'test'")],
            "",
        ),
        reset(
            "l10n_ro_efactura",
            "e-Factura test environment",
            c,
            &[
                ("l10n_ro_edi_test_env", "true"),
                ("l10n_ro_edi_client_id", "NULL"),
                ("l10n_ro_edi_client_secret", "NULL"),
                ("l10n_ro_edi_access_token", "NULL"),
                ("l10n_ro_edi_refresh_token", "NULL"),
            ],
            "",
        ),
        reset(
            "l10n_rs_edi",
            "SEF demo environment",
            c,
            &[
                ("l10n_rs_edi_api_key", "'dummy_key'"),
                ("l10n_rs_edi_demo_env", "true"),
            ],
            "",
        ),
        reset(
            "l10n_sa_edi",
            "ZATCA sandbox",
            c,
            &[("l10n_sa_api_mode", "'sandbox'")],
            "",
        ),
        reset(
            "l10n_tr_nilvera",
            "Nilvera sandbox",
            c,
            &[
                ("l10n_tr_nilvera_api_key", "NULL"),
                ("l10n_tr_nilvera_environment", "'sandbox'"),
                ("l10n_tr_nilvera_purchase_journal_id", "NULL"),
            ],
            "",
        ),
        reset(
            "l10n_vn_edi_viettel",
            "clear Viettel credentials",
            c,
            &[
                ("l10n_vn_edi_username", "''"),
                ("l10n_vn_edi_password", "''"),
            ],
            "",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn columns_of(steps: &[Step]) -> Columns {
        steps
            .iter()
            .flat_map(|s| s.needs.iter())
            .flat_map(|(t, cols)| {
                cols.iter()
                    .map(move |c| (t.to_string(), c.to_string()))
                    .chain([(t.to_string(), "id".to_string())])
            })
            .collect()
    }

    #[test]
    fn base_only_database_runs_base_and_skips_the_rest_with_reasons() {
        let all = steps();
        let p = plan(&installed(&["base", "web"]), &columns_of(&all));
        let modules: BTreeSet<&str> = p.run.iter().map(|s| s.module).collect();
        assert_eq!(modules, ["base", "web"].into_iter().collect());
        assert!(p
            .skipped
            .iter()
            .any(|s| s.step.module == "payment" && s.reason == "module payment not installed"));
        assert_eq!(p.run.len() + p.skipped.len(), all.len());
    }

    #[test]
    fn a_missing_table_or_column_skips_only_that_step() {
        let mut cols = columns_of(&steps());
        cols.retain(|(t, c)| {
            !(t == "ir_act_server" && c == "webhook_url") && t != "fetchmail_server"
        });
        let p = plan(&installed(&["base", "mail"]), &cols);
        let reason = |what: &str| {
            p.skipped
                .iter()
                .find(|s| s.step.what == what)
                .map(|s| s.reason.clone())
        };
        assert_eq!(
            reason("disable webhooks of server actions").as_deref(),
            Some("column ir_act_server.webhook_url missing")
        );
        assert_eq!(
            reason("deactivate incoming mail servers").as_deref(),
            Some("table fetchmail_server missing")
        );
        assert!(p
            .run
            .iter()
            .any(|s| s.what == "flag the database as neutralized"));
        assert!(p
            .run
            .iter()
            .any(|s| s.what == "detach mail templates from mail servers"));
    }

    #[test]
    fn every_effect_of_odoo_facts_section_6_has_a_step() {
        let all = steps();
        let touches = |table: &str| all.iter().any(|s| s.needs.iter().any(|(t, _)| *t == table));
        for table in [
            "ir_mail_server",
            "ir_cron",
            "fetchmail_server",
            "payment_provider",
            "delivery_carrier",
            "iap_account",
            "website",
            "auth_oauth_provider",
            "google_calendar_credentials",
            "microsoft_calendar_credentials",
            "ir_act_server",
            "ir_config_parameter",
            "ir_ui_view",
        ] {
            assert!(touches(table), "{table}");
        }
    }

    #[test]
    fn dummy_mail_server_is_not_deactivated_by_a_second_run() {
        let base = steps();
        let deactivate = &base[0].sql[0];
        assert!(deactivate.contains(&format!("name IS DISTINCT FROM '{DUMMY_MAIL_SERVER}'")));
        assert!(base[1].sql[1].contains("WHERE NOT EXISTS"));
    }

    #[test]
    fn script_wraps_steps_in_a_transaction_and_lists_skips() {
        let p = plan(&installed(&["base"]), &columns_of(&steps()));
        let script = p.script();
        assert!(script.starts_with("-- Slipway neutralization\nBEGIN;"));
        assert!(script.trim_end().ends_with("COMMIT;"));
        assert!(script.contains(
            "-- [base] flag the database as neutralized\nINSERT INTO ir_config_parameter"
        ));
        assert!(script.contains("-- skipped [mail]"));
    }
}
