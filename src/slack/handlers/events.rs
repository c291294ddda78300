//! POST /slack/events: the Events API. App Home opens publish the Home tab; `tokens_revoked`
//! and `app_uninstalled` stop using the revoked token; org-wide (Enterprise Grid) envelopes and
//! redelivered `event_id`s are acknowledged like Slack expects.
use super::identity::{self, Resolved};
use super::routes::{bad_request, workspace};
use crate::app::AppState;
use crate::domain::TenantId;
use crate::slack::blocks::views::how_to_link;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// Events API. Read as JSON rather than slack-morphism's `SlackPushEvent`, which requires a
/// top-level `team_id`: org-wide (Enterprise Grid) deliveries have none and carry
/// `authorizations[].team_id: null`, and answering them 400 makes Slack disable the
/// subscription. Redelivered `event_id`s are acknowledged and ignored.
pub async fn events(State(st): State<AppState>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad_request("unrecognised Events API payload: not a JSON object"),
        Err(e) => return bad_request(format!("unrecognised Events API payload: {e}")),
    };
    match v["type"].as_str() {
        Some("url_verification") => {
            return match v["challenge"].as_str() {
                Some(c) => axum::Json(json!({"challenge": c})).into_response(),
                None => bad_request("url_verification without a challenge"),
            };
        }
        Some("event_callback") => {}
        Some("app_rate_limited") => {
            tracing::warn!(team = %v["team_id"], "Slack rate-limited our event subscriptions");
            return StatusCode::OK.into_response();
        }
        // Slack's Events API has only these three envelope types.
        other => {
            return bad_request(format!(
                "unrecognised Events API payload: envelope type {:?}",
                other.unwrap_or("(none)")
            ));
        }
    }
    if let Some(id) = v["event_id"].as_str()
        && !st.slack.first_sight(id)
    {
        tracing::info!(event_id = id, "duplicate Slack event ignored");
        return StatusCode::OK.into_response();
    }
    let team_id = event_team(&v);
    let event = &v["event"];
    match event["type"].as_str().unwrap_or_default() {
        "app_home_opened" if event["tab"].as_str().unwrap_or("home") == "home" => {
            let (Some(team_id), Some(user)) = (team_id, event["user"].as_str()) else {
                return StatusCode::OK.into_response();
            };
            let user = user.to_string();
            // Ack now; publishing scores the user's pipeline.
            tokio::spawn(async move {
                if let Err(e) = home_opened(&st, &team_id, &user).await {
                    tracing::warn!(error = %e, "App Home publish failed");
                }
            });
        }
        "app_uninstalled" => deactivate(&st, team_id.as_deref(), "app_uninstalled").await,
        "tokens_revoked" => {
            let bot_revoked = event
                .pointer("/tokens/bot")
                .and_then(Value::as_array)
                .is_some_and(|b| !b.is_empty());
            if bot_revoked {
                deactivate(&st, team_id.as_deref(), "tokens_revoked").await;
            }
        }
        _ => {}
    }
    StatusCode::OK.into_response()
}

/// The workspace an event is for: the top-level `team_id`, else the first non-null
/// `authorizations[].team_id`, else the event's own `team` / `user_team` / `view.team_id`
/// (an App Home view names its workspace); `None` for an
/// org-wide delivery that names no workspace.
fn event_team(v: &Value) -> Option<String> {
    let non_empty = |x: &Value| x.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    non_empty(&v["team_id"])
        .or_else(|| {
            v["authorizations"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|a| non_empty(&a["team_id"]))
        })
        .or_else(|| non_empty(&v["event"]["team"]))
        .or_else(|| non_empty(&v["event"]["user_team"]))
        .or_else(|| non_empty(&v["event"]["view"]["team_id"]))
}

async fn home_opened(st: &AppState, team_id: &str, slack_user: &str) -> anyhow::Result<()> {
    let Some((tenant, Some(token))) = workspace(st, team_id).await? else {
        return Ok(());
    };
    match identity::resolve(st, &tenant, slack_user, Some(&token)).await? {
        Resolved::Known(v) => super::app_home::publish_for(st, &v, &token).await,
        Resolved::Unmapped { slack_email } => {
            let msg = how_to_link(slack_email.as_deref());
            let view = json!({"type": "home", "blocks": msg["blocks"]});
            st.slack.api.publish_home(&token, slack_user, &view).await?;
            Ok(())
        }
    }
}

/// Stops using a revoked workspace token: an installed workspace is deactivated; the
/// single-workspace `SLACK_BOT_TOKEN` is dropped when the event is for its team (or names no
/// team, as org-wide deliveries may not, while only that token is configured).
async fn deactivate(st: &AppState, team_id: Option<&str>, why: &str) {
    let tenant = match team_id {
        Some(t) => match st.store.slack_team_tenant(t).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "Slack team lookup failed");
                return;
            }
        },
        None => None,
    };
    let Some(tenant) = tenant else {
        revoke_single(st, team_id, why).await;
        return;
    };
    let team_id = team_id.unwrap_or_default();
    match st.store.deactivate_slack_team(&tenant, team_id).await {
        Ok(done) => {
            st.slack.forget_team(team_id);
            tracing::info!(team = team_id, why, done, "Slack workspace deactivated");
            audit_revocation(st, &tenant, team_id, why).await;
        }
        Err(e) => tracing::error!(error = %e, "Slack workspace deactivation failed"),
    }
}

async fn revoke_single(st: &AppState, team_id: Option<&str>, why: &str) {
    let Some(bot) = st.settings.slack_bot_token.as_ref() else {
        return;
    };
    if st.slack.single_revoked() {
        return;
    }
    // Whose token is it? auth.test was asked on first use; after a revocation it may fail,
    // and then only an event that names no team can be matched to it.
    let own = st
        .slack
        .single_team(bot.expose_secret())
        .await
        .ok()
        .map(str::to_string);
    let ours = match (team_id, own.as_deref()) {
        (Some(t), Some(o)) => t == o,
        (None, _) => true,
        (Some(_), None) => false,
    };
    if ours {
        st.slack.revoke_single();
        tracing::warn!(why, "SLACK_BOT_TOKEN revoked by Slack; no longer used");
        let team = team_id.or(own.as_deref()).unwrap_or("single");
        audit_revocation(st, &TenantId::default_tenant(), team, why).await;
    }
}

async fn audit_revocation(st: &AppState, tenant: &TenantId, team_id: &str, why: &str) {
    st.audit
        .record(st.store.pending_audit(
            tenant,
            crate::store::AuditEntry {
                actor: "slack",
                action: &format!("slack.workspace.{why}"),
                target: Some(team_id),
                request_id: None,
                detail: None,
            },
        ))
        .await;
}
