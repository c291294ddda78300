//! A user's alert settings (`alert_settings`) and the contact list that joins them to users,
//! mapped through the domain's one parser for the text columns.
use crate::domain::alert_settings::format_hhmm;
use crate::domain::{
    AlertSettings, AlertSettingsField, Channel, InvalidAlertSetting, TenantId, UserContact,
};
use crate::store::sql::Flag;
use crate::store::{Store, StoreResult, format_ts};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

/// An `alert_settings` row as stored: flags as 0/1, channels as a JSON list of names, times
/// as "HH:MM", the zone by IANA name.
#[derive(sqlx::FromRow)]
struct AlertSettingsRecord {
    #[sqlx(try_from = "Flag")]
    critical_enabled: bool,
    channels: String,
    threshold: i64,
    digest_time: String,
    time_zone: String,
    quiet_start: String,
    quiet_end: String,
    max_deals: i64,
    #[sqlx(try_from = "Flag")]
    digest_enabled: bool,
    digest_min_risk_score: i64,
    #[sqlx(try_from = "Flag")]
    quiet_enabled: bool,
}

impl AlertSettingsRecord {
    /// The settings, read by the same rules the API and the Slack modal save them with. A
    /// value those rules refuse (a row saved before they existed, or edited by hand) falls
    /// back to that field's default and is logged, as the policy and the modal did with the
    /// text before: refusing the row would stop the alerts of the whole tenant, whose
    /// contacts are read together.
    fn into_settings(self, user_id: &str) -> AlertSettings {
        let d = AlertSettings::default();
        // A channel name the rules do not know is dropped (it never reached anyone before
        // either); the rest are each kept once, in order.
        let names: Vec<String> = serde_json::from_str(&self.channels).unwrap_or_default();
        let channels = names
            .iter()
            .filter_map(|n| or_default(user_id, AlertSettings::parse_channels([n]).map(Some), None))
            .flatten();
        AlertSettings {
            critical_enabled: self.critical_enabled,
            channels: AlertSettings::parse_channels(channels.map(Channel::as_str))
                .expect("only known channel names are left"),
            threshold: self.threshold,
            digest_time: or_default(
                user_id,
                AlertSettings::parse_time(AlertSettingsField::DigestTime, &self.digest_time),
                d.digest_time,
            ),
            time_zone: or_default(
                user_id,
                AlertSettings::parse_time_zone(&self.time_zone),
                d.time_zone,
            ),
            quiet_start: or_default(
                user_id,
                AlertSettings::parse_time(AlertSettingsField::QuietStart, &self.quiet_start),
                d.quiet_start,
            ),
            quiet_end: or_default(
                user_id,
                AlertSettings::parse_time(AlertSettingsField::QuietEnd, &self.quiet_end),
                d.quiet_end,
            ),
            max_deals: self.max_deals,
            digest_enabled: self.digest_enabled,
            digest_min_risk_score: self.digest_min_risk_score,
            quiet_enabled: self.quiet_enabled,
        }
    }
}

/// `parsed`, or `default` (logged) when the rules refused the stored value.
fn or_default<T>(user_id: &str, parsed: Result<T, InvalidAlertSetting>, default: T) -> T {
    parsed.unwrap_or_else(|e| {
        tracing::warn!(user_id, error = %e, "stored alert setting breaks the rules; using its default");
        default
    })
}

/// The settings columns of a contact row: `None` when the LEFT JOIN found no settings row.
struct SavedSettings(Option<AlertSettingsRecord>);

impl<'r> FromRow<'r, AnyRow> for SavedSettings {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        // One `try_get` by hand: a derive cannot make a whole flattened struct optional, and
        // `critical_enabled` (NOT NULL in the table) is NULL exactly when no row joined.
        let joined: Option<i64> = row.try_get("critical_enabled")?;
        joined
            .map(|_| AlertSettingsRecord::from_row(row))
            .transpose()
            .map(SavedSettings)
    }
}

/// A user joined to their settings row ([`CONTACT_SQL`]).
#[derive(sqlx::FromRow)]
struct ContactRecord {
    user_id: String,
    email: Option<String>,
    name: Option<String>,
    role: String,
    manager_id: Option<String>,
    /// The user's own zone (the settings row has its own `time_zone`).
    #[sqlx(rename = "user_time_zone")]
    time_zone: String,
    slack_user_id: Option<String>,
    salesforce_user_id: Option<String>,
    #[sqlx(flatten)]
    settings: SavedSettings,
}

impl From<ContactRecord> for UserContact {
    fn from(r: ContactRecord) -> UserContact {
        let settings = r.settings.0.map(|s| s.into_settings(&r.user_id));
        UserContact {
            user_id: r.user_id,
            email: r.email,
            name: r.name,
            role: r.role,
            manager_id: r.manager_id,
            time_zone: r.time_zone,
            slack_user_id: r.slack_user_id,
            salesforce_user_id: r.salesforce_user_id,
            settings,
        }
    }
}

const CONTACT_SQL: &str = "SELECT u.user_id, u.email, u.name, u.role, u.manager_id, \
     u.time_zone AS user_time_zone, u.slack_user_id, u.salesforce_user_id, s.critical_enabled, \
     s.channels, s.threshold, s.digest_time, s.time_zone, s.quiet_start, s.quiet_end, s.max_deals, \
     s.digest_enabled, s.digest_min_risk_score, s.quiet_enabled \
     FROM users u LEFT JOIN alert_settings s ON s.tenant_id = u.tenant_id AND s.user_id = u.user_id \
     WHERE u.tenant_id = $1 ORDER BY u.user_id";

/// Every user of the tenant with their settings, on an open (tenant-scoped) connection.
pub(super) async fn contacts(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
) -> StoreResult<Vec<UserContact>> {
    let rows: Vec<ContactRecord> = sqlx::query_as(CONTACT_SQL)
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(UserContact::from).collect())
}

impl Store {
    /// Every user of the tenant with their alert settings and Slack link.
    pub async fn user_contacts(&self, tenant: &TenantId) -> StoreResult<Vec<UserContact>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let out = contacts(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn upsert_alert_settings(
        &self,
        tenant: &TenantId,
        user_id: &str,
        s: &AlertSettings,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO alert_settings (tenant_id, user_id, critical_enabled, channels, threshold, \
             digest_time, time_zone, quiet_start, quiet_end, max_deals, updated_at, \
             digest_enabled, digest_min_risk_score, quiet_enabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET critical_enabled = excluded.critical_enabled, \
             channels = excluded.channels, threshold = excluded.threshold, digest_time = excluded.digest_time, \
             time_zone = excluded.time_zone, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, \
             max_deals = excluded.max_deals, updated_at = excluded.updated_at, \
             digest_enabled = excluded.digest_enabled, \
             digest_min_risk_score = excluded.digest_min_risk_score, \
             quiet_enabled = excluded.quiet_enabled",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .bind(i64::from(s.critical_enabled))
        .bind(serde_json::to_string(&s.channel_names()).map_err(anyhow::Error::from)?)
        .bind(s.threshold)
        .bind(format_hhmm(s.digest_time))
        .bind(s.time_zone.name().to_string())
        .bind(format_hhmm(s.quiet_start))
        .bind(format_hhmm(s.quiet_end))
        .bind(s.max_deals)
        .bind(format_ts(self.now()))
        .bind(i64::from(s.digest_enabled))
        .bind(s.digest_min_risk_score)
        .bind(i64::from(s.quiet_enabled))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_alert_settings(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> StoreResult<Option<AlertSettings>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<AlertSettingsRecord> = sqlx::query_as(
            "SELECT critical_enabled, channels, threshold, digest_time, time_zone, quiet_start, quiet_end, \
             max_deals, digest_enabled, digest_min_risk_score, quiet_enabled \
             FROM alert_settings WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(user_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.into_settings(user_id)))
    }
}
