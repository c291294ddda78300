//! Settings from the environment (and an optional `skygeni.toml`), with embedded defaults.
//!
//! Precedence: environment variable > `skygeni.toml` (or the file named by `SKYGENI_CONFIG`)
//! > default. With nothing set, SkyGeni runs on `sqlite://skygeni.db` in the working directory.
use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://skygeni.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Everything the service reads from its environment. Secrets are `SecretString` so they
/// never show up in `Debug` output or logs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub public_url: String,
    pub jwt_secret: Option<SecretString>,
    pub encryption_key: Option<SecretString>,
    /// The key being rotated out (still opens old values; see `crypto`).
    pub encryption_key_previous: Option<SecretString>,
    pub slack_signing_secret: Option<SecretString>,
    pub slack_bot_token: Option<SecretString>,
    pub slack_client_id: Option<String>,
    pub slack_client_secret: Option<SecretString>,
    pub slack_api_url: String,
    pub salesforce_login_url: String,
    pub salesforce_client_id: Option<String>,
    pub salesforce_client_secret: Option<SecretString>,
    pub salesforce_webhook_secret: Option<SecretString>,
    pub sendgrid_api_key: Option<SecretString>,
    pub sendgrid_api_url: String,
    pub email_from: String,
    pub redis_url: Option<String>,
    pub rate_limit_user_per_min: u32,
    pub rate_limit_tenant_per_min: u32,
    /// Salesforce instance URL for record deep links in alerts (else the login URL).
    pub salesforce_instance_url: Option<String>,
    /// Slack app id for "Open in Slack" / App Home links in emails.
    pub slack_app_id: Option<String>,
    /// Nightly sync + score, in each tenant's zone (6-field cron: sec min hour dom mon dow).
    pub nightly_cron: String,
    /// Weekly CRO summary, in each tenant's zone.
    pub weekly_cron: String,
    /// How late a missed scheduled run may still be caught up after a restart.
    pub scheduler_catch_up_hours: u32,
    /// How long a scheduler's claim on a run holds without a heartbeat before another
    /// replica takes the run over (the runner extends it every third of this); default 300 s.
    pub scheduler_lease_secs: u32,
    /// Tenants one scheduler works on at once in a pass (their Salesforce calls overlap);
    /// default 4.
    pub scheduler_concurrency: u32,
    /// Attempts before an outbox row is dead-lettered.
    pub outbox_max_attempts: u32,
    /// First retry delay of a failed outbox send (doubles per attempt); default 30 s.
    pub outbox_base_backoff_secs: u32,
    /// How long a dispatcher's claim holds before another replica may take the row over;
    /// default 120 s.
    pub outbox_lease_secs: u32,
    /// Signs the expiring `/charts/…` image URLs; when unset a key is derived from the JWT
    /// secret (see `notify::charts::url_secret`).
    pub chart_url_secret: Option<SecretString>,
    /// JWT bearer flow: the connected app's RSA private key (PEM text or a file path).
    pub salesforce_jwt_private_key: Option<SecretString>,
    /// REST API version used for every Salesforce call (`v66.0`).
    pub salesforce_api_version: String,
    /// Orgs with more Opportunities than this are pulled with Bulk API 2.0 (first loads always).
    pub salesforce_bulk_threshold: u32,
    /// Also create Tasks for "this_week" recommendations (always for "immediate").
    pub salesforce_tasks_this_week: bool,
    /// JWT bearer `aud` override (an Experience Cloud site URL); unset = derived from the
    /// login URL: `https://test.salesforce.com` for sandboxes, else `https://login.salesforce.com`.
    pub salesforce_jwt_audience: Option<String>,
    /// Shown in every `internal_error` body (`SKYGENI_SUPPORT_CONTACT`).
    pub support_contact: String,
    /// Longest accepted JWT lifetime (`exp` − now), seconds; default 30 days.
    pub jwt_max_lifetime_secs: u64,
    /// Most TCP connections served at once; further ones wait in the kernel backlog.
    pub max_connections: u32,
    /// Time a client gets to send its request headers, seconds.
    pub header_timeout_secs: u32,
    /// Time a client gets to send its request body, seconds.
    pub body_timeout_secs: u32,
    /// Per-tenant series (`tenant` label) on the unauthenticated `/metrics`; `false` drops them.
    pub metrics_tenant_labels: bool,
}

/// Shortest accepted signing secret: HS256 and Slack/Salesforce HMACs need 256 bits of key.
pub const MIN_SECRET_BYTES: usize = 32;

/// `skygeni.toml`: the same settings, keys in lower case without the `SKYGENI_` prefix
/// (`database_url = "postgres://…"`, `slack_api_url = "…"`).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
struct FileSettings(HashMap<String, toml::Value>);

impl Settings {
    /// Read the process environment and the optional config file.
    pub fn load() -> anyhow::Result<Settings> {
        let file = match std::env::var("SKYGENI_CONFIG") {
            Ok(path) => Some(read_file(&path)?),
            Err(_) if std::path::Path::new("skygeni.toml").exists() => {
                Some(read_file("skygeni.toml")?)
            }
            Err(_) => None,
        };
        let env: HashMap<String, String> = std::env::vars().collect();
        Settings::from_sources(&env, &file.unwrap_or_default())
    }

    /// Settings from the given variables only (no process environment, no file): for tests
    /// and embedding, where mutating the process environment would race.
    pub fn from_vars<'a>(
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(&env, &FileSettings::default())
    }

    fn from_sources(
        env: &HashMap<String, String>,
        file: &FileSettings,
    ) -> anyhow::Result<Settings> {
        let get = |var: &str| -> Option<String> {
            // An empty (or blank) value means "not set", in the environment and in the file
            // alike: `jwt_secret = ""` must never become a real, guessable key.
            if let Some(v) = env.get(var).filter(|v| !v.trim().is_empty()) {
                return Some(v.clone());
            }
            let key = var
                .strip_prefix("SKYGENI_")
                .unwrap_or(var)
                .to_ascii_lowercase();
            file.0
                .get(&key)
                .map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .filter(|v| !v.trim().is_empty())
        };
        let secret = |var: &str| get(var).map(SecretString::from);
        let number = |var: &str, default: u32| -> anyhow::Result<u32> {
            match get(var) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .with_context(|| format!("{var} must be a whole number, got {v:?}")),
            }
        };
        let bind = get("SKYGENI_BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        Ok(Settings {
            database_url: get("SKYGENI_DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            public_url: get("SKYGENI_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}")),
            bind,
            jwt_secret: secret("SKYGENI_JWT_SECRET"),
            encryption_key: secret("SKYGENI_ENCRYPTION_KEY"),
            encryption_key_previous: secret("SKYGENI_ENCRYPTION_KEY_PREVIOUS"),
            slack_signing_secret: secret("SLACK_SIGNING_SECRET"),
            slack_bot_token: secret("SLACK_BOT_TOKEN"),
            slack_client_id: get("SLACK_CLIENT_ID"),
            slack_client_secret: secret("SLACK_CLIENT_SECRET"),
            slack_api_url: get("SLACK_API_URL").unwrap_or_else(|| "https://slack.com/api/".into()),
            salesforce_login_url: get("SALESFORCE_LOGIN_URL")
                .unwrap_or_else(|| "https://login.salesforce.com".into()),
            salesforce_client_id: get("SALESFORCE_CLIENT_ID"),
            salesforce_client_secret: secret("SALESFORCE_CLIENT_SECRET"),
            salesforce_webhook_secret: secret("SALESFORCE_WEBHOOK_SECRET"),
            sendgrid_api_key: secret("SENDGRID_API_KEY"),
            sendgrid_api_url: get("SENDGRID_API_URL")
                .unwrap_or_else(|| "https://api.sendgrid.com".into()),
            email_from: get("SKYGENI_EMAIL_FROM").unwrap_or_else(|| "skygeni@localhost".into()),
            redis_url: get("SKYGENI_REDIS_URL"),
            rate_limit_user_per_min: number("SKYGENI_RATE_LIMIT_USER_PER_MIN", 100)?,
            rate_limit_tenant_per_min: number("SKYGENI_RATE_LIMIT_TENANT_PER_MIN", 1000)?,
            salesforce_instance_url: get("SALESFORCE_INSTANCE_URL"),
            slack_app_id: get("SLACK_APP_ID"),
            nightly_cron: get("SKYGENI_NIGHTLY_CRON").unwrap_or_else(|| "0 0 2 * * *".into()),
            weekly_cron: get("SKYGENI_WEEKLY_CRON").unwrap_or_else(|| "0 0 9 * * Mon".into()),
            scheduler_catch_up_hours: number("SKYGENI_SCHEDULER_CATCH_UP_HOURS", 12)?,
            scheduler_lease_secs: number("SKYGENI_SCHEDULER_LEASE_SECS", 300)?,
            scheduler_concurrency: number("SKYGENI_SCHEDULER_CONCURRENCY", 4)?,
            outbox_max_attempts: number("SKYGENI_OUTBOX_MAX_ATTEMPTS", 6)?,
            outbox_base_backoff_secs: number("SKYGENI_OUTBOX_BASE_BACKOFF_SECS", 30)?,
            outbox_lease_secs: number("SKYGENI_OUTBOX_LEASE_SECS", 120)?,
            chart_url_secret: secret("SKYGENI_CHART_URL_SECRET"),
            salesforce_jwt_private_key: secret("SALESFORCE_JWT_PRIVATE_KEY"),
            salesforce_api_version: get("SALESFORCE_API_VERSION").unwrap_or_else(|| "v66.0".into()),
            salesforce_bulk_threshold: number("SALESFORCE_BULK_THRESHOLD", 10_000)?,
            salesforce_tasks_this_week: matches!(
                get("SALESFORCE_TASKS_THIS_WEEK").as_deref(),
                Some("1" | "true" | "yes")
            ),
            salesforce_jwt_audience: get("SALESFORCE_JWT_AUDIENCE"),
            support_contact: get("SKYGENI_SUPPORT_CONTACT")
                .unwrap_or_else(|| "support@skygeni.com".into()),
            jwt_max_lifetime_secs: u64::from(number(
                "SKYGENI_JWT_MAX_LIFETIME_SECS",
                crate::auth::DEFAULT_MAX_LIFETIME_SECS as u32,
            )?),
            max_connections: number("SKYGENI_MAX_CONNECTIONS", 1024)?.max(1),
            header_timeout_secs: number("SKYGENI_HEADER_TIMEOUT_SECS", 10)?.max(1),
            body_timeout_secs: number("SKYGENI_BODY_TIMEOUT_SECS", 30)?.max(1),
            metrics_tenant_labels: !matches!(
                get("SKYGENI_METRICS_TENANT_LABELS").as_deref(),
                Some("0" | "false" | "no")
            ),
        })
    }

    /// Why `serve` must not start: a signing secret that is set but shorter than
    /// [`MIN_SECRET_BYTES`], or Slack configured (bot token or OAuth client) without its signing
    /// secret. An unset secret just leaves its integration off (its routes refuse every call).
    pub fn secret_problems(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        let mut out = Vec::new();
        for (var, value) in [
            ("SKYGENI_JWT_SECRET", &self.jwt_secret),
            ("SLACK_SIGNING_SECRET", &self.slack_signing_secret),
            ("SALESFORCE_WEBHOOK_SECRET", &self.salesforce_webhook_secret),
        ] {
            if let Some(v) = value
                && v.expose_secret().len() < MIN_SECRET_BYTES
            {
                out.push(format!(
                    "{var} is {} bytes; use at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`)",
                    v.expose_secret().len()
                ));
            }
        }
        let slack_configured = self.slack_bot_token.is_some() || self.slack_client_id.is_some();
        if slack_configured && self.slack_signing_secret.is_none() {
            out.push(
                "Slack is configured (SLACK_BOT_TOKEN or SLACK_CLIENT_ID) but SLACK_SIGNING_SECRET is not set; \
                 without it no Slack request can be verified"
                    .into(),
            );
        }
        out
    }
}

fn read_file(path: &str) -> anyhow::Result<FileSettings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config file {path}"))?;
    toml::from_str(&text).with_context(|| format!("config file {path} is not valid TOML"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_secrets_in_the_file_or_environment_are_unset_and_short_ones_are_named() {
        let file: FileSettings = toml::from_str(
            "jwt_secret = \"\"\nslack_signing_secret = \" \"\nsalesforce_webhook_secret = \"\"",
        )
        .unwrap();
        let s = Settings::from_sources(&env(&[("SKYGENI_JWT_SECRET", "")]), &file).unwrap();
        assert!(s.jwt_secret.is_none() && s.slack_signing_secret.is_none());
        assert!(s.salesforce_webhook_secret.is_none());
        assert!(s.secret_problems().is_empty(), "unset = integration off");
        let short = Settings::from_sources(
            &env(&[
                ("SKYGENI_JWT_SECRET", "short"),
                ("SLACK_BOT_TOKEN", "xoxb-1"),
                ("SALESFORCE_WEBHOOK_SECRET", &"w".repeat(31)),
            ]),
            &FileSettings::default(),
        )
        .unwrap();
        let problems = short.secret_problems().join("\n");
        for var in [
            "SKYGENI_JWT_SECRET",
            "SALESFORCE_WEBHOOK_SECRET",
            "SLACK_SIGNING_SECRET is not set",
        ] {
            assert!(problems.contains(var), "{var} in {problems}");
        }
        let long = "k".repeat(32);
        let ok = Settings::from_sources(
            &env(&[
                ("SKYGENI_JWT_SECRET", &long),
                ("SLACK_SIGNING_SECRET", &long),
            ]),
            &FileSettings::default(),
        )
        .unwrap();
        assert!(ok.secret_problems().is_empty());
    }

    #[test]
    fn nothing_configured_means_the_embedded_sqlite_default() {
        let s = Settings::from_sources(&env(&[]), &FileSettings::default()).unwrap();
        assert_eq!(s.database_url, "sqlite://skygeni.db");
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.rate_limit_user_per_min, 100);
        assert_eq!(s.rate_limit_tenant_per_min, 1000);
        assert_eq!(s.slack_api_url, "https://slack.com/api/");
    }

    #[test]
    fn environment_beats_the_config_file() {
        let file: FileSettings =
            toml::from_str("database_url = \"sqlite://file.db\"\nbind = \"0.0.0.0:9000\"").unwrap();
        let s = Settings::from_sources(
            &env(&[("SKYGENI_DATABASE_URL", "postgres://x@h/db")]),
            &file,
        )
        .unwrap();
        assert_eq!(s.database_url, "postgres://x@h/db");
        assert_eq!(s.bind, "0.0.0.0:9000");
    }

    #[test]
    fn secrets_are_hidden_from_debug_output_and_bad_numbers_are_named() {
        let s = Settings::from_sources(
            &env(&[("SKYGENI_JWT_SECRET", "hunter2")]),
            &FileSettings::default(),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = Settings::from_sources(
            &env(&[("SKYGENI_RATE_LIMIT_USER_PER_MIN", "lots")]),
            &FileSettings::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("SKYGENI_RATE_LIMIT_USER_PER_MIN"),
            "{err}"
        );
    }
}
