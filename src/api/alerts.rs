//! POST /v1/alerts/configure: the caller's own alert preferences in the design's body
//! (`critical_deals`, `daily_digest`, `quiet_hours`; a partial update), answered with
//! `{user_id, settings_updated, effective_at}` and the stored settings.
use super::audit;
use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::Caller;
use crate::domain::alert_settings::format_hhmm;
use crate::domain::{AlertSettings, AlertSettingsField as Field, InvalidAlertSetting};
use crate::http_error::{ApiError, ApiResult};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

pub use crate::domain::alert_settings::CHANNELS;

/// The design's body; every part and every field in it is optional (a partial update):
/// what is left out keeps its current (or default) value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    pub critical_deals: Option<CriticalDeals>,
    pub daily_digest: Option<DailyDigest>,
    pub quiet_hours: Option<QuietHours>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalDeals {
    pub enabled: Option<bool>,
    /// "slack" and/or "email"; an empty list sends alerts nowhere.
    pub channels: Option<Vec<String>>,
    /// Risk score (0-100) at or above which a deal alerts.
    pub threshold: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyDigest {
    pub enabled: Option<bool>,
    /// HH:MM in `timezone`.
    pub time: Option<String>,
    /// IANA time zone, e.g. "Asia/Kolkata" (also the zone of quiet hours).
    pub timezone: Option<String>,
    /// Most deals listed in one digest (1-50).
    pub max_deals: Option<i64>,
    /// Lowest risk score a listed deal has (0-100).
    pub min_risk_score: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub enabled: Option<bool>,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// The stored settings in the design's request shape (so a client can read back what it sent).
pub fn settings_json(s: &AlertSettings) -> serde_json::Value {
    serde_json::json!({
        "critical_deals": {"enabled": s.critical_enabled, "channels": s.channel_names(), "threshold": s.threshold},
        "daily_digest": {
            "enabled": s.digest_enabled, "time": format_hhmm(s.digest_time), "timezone": s.time_zone.name(),
            "max_deals": s.max_deals, "min_risk_score": s.digest_min_risk_score,
        },
        "quiet_hours": {
            "enabled": s.quiet_enabled, "start": format_hhmm(s.quiet_start), "end": format_hhmm(s.quiet_end),
        },
    })
}

pub async fn configure(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(cfg): ApiJson<AlertConfig>,
) -> ApiResult<Json<serde_json::Value>> {
    let current = st
        .store
        .get_alert_settings(&caller.tenant, &caller.sub)
        .await?
        .unwrap_or_default();
    let settings = apply(current.clone(), cfg)?;
    st.store
        .upsert_alert_settings(&caller.tenant, &caller.sub, &settings)
        .await?;
    audit(
        &st,
        &caller,
        "alerts.configure",
        Some(&caller.sub),
        Some(settings_json(&settings)),
    )
    .await?;
    Ok(Json(serde_json::json!({
        "user_id": caller.sub,
        "settings_updated": settings != current,
        "effective_at": crate::store::format_ts(st.clock.now()),
        "settings": settings_json(&settings),
    })))
}

/// The domain's refusal as the API's field error.
fn invalid(e: InvalidAlertSetting) -> ApiError {
    ApiError::invalid_field(e.field.api_name(), e.api_message())
}

/// Parse `cfg` by the domain's rules (`AlertSettings::parse_*`/`check_*`, shared with the Slack
/// modal and the store) and merge it onto `s`. Only the fields sent are checked: a partial update does not fail on
/// a value saved earlier.
pub fn apply(mut s: AlertSettings, cfg: AlertConfig) -> ApiResult<AlertSettings> {
    let c = cfg.critical_deals.unwrap_or_default();
    if let Some(v) = c.enabled {
        s.critical_enabled = v;
    }
    if let Some(channels) = c.channels {
        s.channels = AlertSettings::parse_channels(channels).map_err(invalid)?;
    }
    if let Some(t) = c.threshold {
        s.threshold = AlertSettings::check_threshold(t).map_err(invalid)?;
    }
    let d = cfg.daily_digest.unwrap_or_default();
    if let Some(v) = d.enabled {
        s.digest_enabled = v;
    }
    if let Some(tz) = d.timezone {
        s.time_zone = AlertSettings::parse_time_zone(&tz).map_err(invalid)?;
    }
    if let Some(t) = d.time {
        s.digest_time = AlertSettings::parse_time(Field::DigestTime, &t).map_err(invalid)?;
    }
    if let Some(m) = d.max_deals {
        s.max_deals = AlertSettings::check_max_deals(m).map_err(invalid)?;
    }
    if let Some(m) = d.min_risk_score {
        s.digest_min_risk_score = AlertSettings::check_digest_min_risk_score(m).map_err(invalid)?;
    }
    let q = cfg.quiet_hours.unwrap_or_default();
    if let Some(v) = q.enabled {
        s.quiet_enabled = v;
    }
    if let Some(t) = q.start {
        s.quiet_start = AlertSettings::parse_time(Field::QuietStart, &t).map_err(invalid)?;
    }
    if let Some(t) = q.end {
        s.quiet_end = AlertSettings::parse_time(Field::QuietEnd, &t).map_err(invalid)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: serde_json::Value) -> AlertConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn invalid_alert_settings_name_the_offending_field() {
        let cases = [
            (
                serde_json::json!({"daily_digest": {"timezone": "Mars/Olympus"}}),
                "daily_digest.timezone",
            ),
            (
                serde_json::json!({"daily_digest": {"time": "8:00"}}),
                "daily_digest.time",
            ),
            (
                serde_json::json!({"quiet_hours": {"end": "24:30"}}),
                "quiet_hours.end",
            ),
            (
                serde_json::json!({"critical_deals": {"threshold": 101}}),
                "critical_deals.threshold",
            ),
            (
                serde_json::json!({"critical_deals": {"channels": ["sms"]}}),
                "critical_deals.channels",
            ),
            (
                serde_json::json!({"daily_digest": {"max_deals": 0}}),
                "daily_digest.max_deals",
            ),
            (
                serde_json::json!({"daily_digest": {"min_risk_score": -1}}),
                "daily_digest.min_risk_score",
            ),
        ];
        for (input, field) in cases {
            let err = apply(AlertSettings::default(), cfg(input.clone())).unwrap_err();
            let body = serde_json::to_value(err.body()).unwrap();
            assert_eq!(body["details"]["field"], field, "input {input}");
        }
        let ok = apply(
            AlertSettings::default(),
            cfg(serde_json::json!({
                "critical_deals": {"channels": ["email", "email"], "threshold": 0},
                "daily_digest": {"timezone": "Asia/Kolkata", "enabled": false},
                "quiet_hours": {"enabled": false}
            })),
        )
        .unwrap();
        assert_eq!(ok.channel_names(), vec!["email"]);
        assert_eq!((ok.time_zone.name(), ok.threshold), ("Asia/Kolkata", 0));
        assert!(!ok.digest_enabled && !ok.quiet_enabled);
    }
}
