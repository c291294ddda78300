//! POST /v1/alerts/configure: the caller's own alert preferences (partial update).
use super::audit;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use crate::http::AppState;
use crate::store::AlertSettings;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

pub const CHANNELS: [&str; 2] = ["slack", "email"];

/// Fields left out keep their current (or default) value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    pub critical_enabled: Option<bool>,
    pub channels: Option<Vec<String>>,
    /// Risk score (0-100) at or above which a deal alerts.
    pub threshold: Option<i64>,
    /// HH:MM in `time_zone`.
    pub digest_time: Option<String>,
    /// IANA time zone, e.g. "Asia/Kolkata".
    pub time_zone: Option<String>,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    /// Most deals listed in one digest (1-50).
    pub max_deals: Option<i64>,
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
    let settings = apply(current, cfg)?;
    st.store
        .upsert_alert_settings(&caller.tenant, &caller.sub, &settings)
        .await?;
    audit(
        &st,
        &caller,
        "alerts.configure",
        Some(&caller.sub),
        Some(serde_json::to_value(&settings).map_err(anyhow::Error::from)?),
    )
    .await?;
    Ok(Json(
        serde_json::json!({"user_id": caller.sub, "settings": settings}),
    ))
}

/// Validate `cfg` and merge it onto `s`.
pub fn apply(mut s: AlertSettings, cfg: AlertConfig) -> ApiResult<AlertSettings> {
    if let Some(v) = cfg.critical_enabled {
        s.critical_enabled = v;
    }
    if let Some(channels) = cfg.channels {
        let mut out: Vec<String> = Vec::new();
        for c in channels {
            if !CHANNELS.contains(&c.as_str()) {
                return Err(ApiError::invalid_field(
                    "channels",
                    format!("unknown channel {c:?}: use slack and/or email"),
                ));
            }
            if !out.contains(&c) {
                out.push(c);
            }
        }
        s.channels = out;
    }
    if let Some(t) = cfg.threshold {
        if !(0..=100).contains(&t) {
            return Err(ApiError::invalid_field(
                "threshold",
                "threshold must be between 0 and 100",
            ));
        }
        s.threshold = t;
    }
    if let Some(tz) = cfg.time_zone {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(ApiError::invalid_field(
                "time_zone",
                format!("{tz:?} is not an IANA time zone (e.g. Europe/Berlin)"),
            ));
        }
        s.time_zone = tz;
    }
    for (name, value, slot) in [
        ("digest_time", cfg.digest_time, &mut s.digest_time),
        ("quiet_start", cfg.quiet_start, &mut s.quiet_start),
        ("quiet_end", cfg.quiet_end, &mut s.quiet_end),
    ] {
        if let Some(v) = value {
            let ok = v.len() == 5 && chrono::NaiveTime::parse_from_str(&v, "%H:%M").is_ok();
            if !ok {
                return Err(ApiError::invalid_field(
                    name,
                    format!("{name} must be HH:MM (got {v:?})"),
                ));
            }
            *slot = v;
        }
    }
    if let Some(m) = cfg.max_deals {
        if !(1..=50).contains(&m) {
            return Err(ApiError::invalid_field(
                "max_deals",
                "max_deals must be between 1 and 50",
            ));
        }
        s.max_deals = m;
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
                serde_json::json!({"time_zone": "Mars/Olympus"}),
                "time_zone",
            ),
            (serde_json::json!({"digest_time": "8:00"}), "digest_time"),
            (serde_json::json!({"quiet_end": "24:30"}), "quiet_end"),
            (serde_json::json!({"threshold": 101}), "threshold"),
            (serde_json::json!({"channels": ["sms"]}), "channels"),
            (serde_json::json!({"max_deals": 0}), "max_deals"),
        ];
        for (input, field) in cases {
            let err = apply(AlertSettings::default(), cfg(input.clone())).unwrap_err();
            let body = serde_json::to_value(err.body()).unwrap();
            assert_eq!(body["details"]["field"], field, "input {input}");
        }
        let ok = apply(
            AlertSettings::default(),
            cfg(serde_json::json!({"time_zone": "Asia/Kolkata", "channels": ["email", "email"], "threshold": 0})),
        )
        .unwrap();
        assert_eq!(ok.channels, vec!["email"]);
        assert_eq!((ok.time_zone.as_str(), ok.threshold), ("Asia/Kolkata", 0));
    }
}
