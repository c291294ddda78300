//! GET and PUT /v1/settings/risk (admin only): the tenant's risk-band edges and its critical
//! alerts per recipient per day. Not part of the design's API (its `/v1/alerts/configure` is one
//! user's preferences); the body is the CLI's `risk-settings --json` shape. The edges and the
//! budget are checked by the domain's rules, the same the CLI and the Slack form run.
use super::audit;
use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::domain::{RiskSettings, RiskSettingsField};
use crate::http_error::{ApiError, ApiResult};
use crate::service::risk_settings;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

/// The PUT body: every field required (a PUT replaces the settings; GET them first to change
/// one). Integers are taken as sent and checked here, so 300 or -1 is a `validation_error`
/// naming `bands`, not a serde message about u8.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettingsBody {
    pub bands: BandsBody,
    pub alerts_per_day: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsBody {
    pub low_max: i64,
    pub medium_max: i64,
    pub high_max: i64,
}

impl RiskSettingsBody {
    pub fn check(&self) -> ApiResult<RiskSettings> {
        let b = &self.bands;
        RiskSettings::new(b.low_max, b.medium_max, b.high_max, self.alerts_per_day).map_err(
            |(field, message)| {
                let field = match field {
                    RiskSettingsField::Bands => "bands",
                    RiskSettingsField::AlertsPerDay => "alerts_per_day",
                };
                ApiError::invalid_field(field, message)
            },
        )
    }
}

fn body(caller: &Caller, s: &RiskSettings) -> serde_json::Value {
    serde_json::json!({
        "tenant_id": caller.tenant,
        "bands": s.bands,
        "alerts_per_day": s.alerts_per_day,
    })
}

async fn require_admin(st: &AppState, caller: &Caller, action: &str) -> ApiResult<()> {
    if caller.role == Role::Admin {
        return Ok(());
    }
    audit(st, caller, action, None, None).await?;
    Err(ApiError::Forbidden(
        "the tenant's risk settings are available to admins only".into(),
    ))
}

pub async fn get(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<serde_json::Value>> {
    require_admin(&st, &caller, "settings.risk.denied").await?;
    let current = risk_settings::current(&st.store, &caller.tenant).await?;
    audit(&st, &caller, "settings.risk.read", None, None).await?;
    Ok(Json(body(&caller, &current)))
}

pub async fn put(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<RiskSettingsBody>,
) -> ApiResult<Json<serde_json::Value>> {
    require_admin(&st, &caller, "settings.risk.denied").await?;
    let new = req.check()?;
    let previous = risk_settings::current(&st.store, &caller.tenant).await?;
    // Writes, then forgets the cached standing: the next score uses the new edges.
    risk_settings::replace(&st.store, Some(&st.standing), &caller.tenant, new).await?;
    audit(
        &st,
        &caller,
        "settings.risk.update",
        None,
        Some(serde_json::json!({"previous": previous, "new": new})),
    )
    .await?;
    let mut out = body(&caller, &new);
    out["settings_updated"] = (new != previous).into();
    out["effective_at"] = crate::store::format_ts(st.clock.now()).into();
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_edges_and_budgets_are_validation_errors_naming_their_field() {
        let cases = [
            (
                serde_json::json!({"bands": {"low_max": 50, "medium_max": 40, "high_max": 90}, "alerts_per_day": 5}),
                "bands",
            ),
            (
                serde_json::json!({"bands": {"low_max": 25, "medium_max": 50, "high_max": 100}, "alerts_per_day": 5}),
                "bands",
            ),
            (
                serde_json::json!({"bands": {"low_max": 25, "medium_max": 50, "high_max": 75}, "alerts_per_day": 0}),
                "alerts_per_day",
            ),
        ];
        for (input, field) in cases {
            let req: RiskSettingsBody = serde_json::from_value(input.clone()).unwrap();
            let err = req.check().unwrap_err();
            assert_eq!(err.status().as_u16(), 422, "{input}");
            let b = serde_json::to_value(err.body()).unwrap();
            assert_eq!(b["details"]["field"], field, "{input}");
            assert!(
                b["message"]
                    .as_str()
                    .unwrap()
                    .contains(if field == "bands" {
                        "band edges"
                    } else {
                        "alerts per day"
                    }),
                "{b}"
            );
        }
    }
}
