//! The Slack HTTP edge: POST /slack/commands, /slack/interactions, /slack/events (signature
//! checked first, 401 and nothing else on failure), GET /slack/install and
//! GET /slack/oauth/callback (OAuth v2 with a stored, single-use `state`).
//!
//! Slack's 3-second rule: each request starts its work in a task and waits at most
//! [`INLINE_BUDGET`]; a fast answer goes back inline, a slow one is acknowledged and finished
//! through `response_url` (commands) or the Web API (buttons, modals).
use super::deal_risk::{self, CommandCtx, Reply};
use super::interact::{self, Ack, Interaction};
use super::{events, install};
use crate::app::AppState;
use crate::domain::TenantId;
use crate::slack::client::tokens;
use crate::slack::{self, signature};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use slack_morphism::prelude::SlackCommandEvent;
use std::future::Future;
use std::time::Duration;

/// How long a request waits for its answer before acknowledging and finishing later: well
/// under Slack's 3 s, leaving room for the network.
pub const INLINE_BUDGET: Duration = Duration::from_millis(2000);

/// The Slack routes, merged into the app router.
pub fn router(state: AppState) -> Router<AppState> {
    let signed = Router::new()
        .route(slack::COMMANDS_PATH, post(commands))
        .route(slack::INTERACTIONS_PATH, post(interactions))
        .route(slack::EVENTS_PATH, post(events::events))
        .layer(middleware::from_fn_with_state(state, verify_signature));
    Router::new()
        .merge(signed)
        .route(slack::INSTALL_PATH, get(install::start))
        .route(slack::OAUTH_CALLBACK_PATH, get(install::callback))
}

/// Rejects anything not signed by Slack with the signing secret within the 5-minute window.
async fn verify_signature(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::http_limits::BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let Some(secret) = st.settings.slack_signing_secret.as_ref() else {
        tracing::warn!("Slack request refused: SLACK_SIGNING_SECRET is not set");
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(
        secret.expose_secret().as_bytes(),
        header(signature::SIGNATURE_HEADER),
        header(signature::TIMESTAMP_HEADER),
        &bytes,
        st.clock.now().timestamp(),
    ) {
        tracing::warn!(error = %e, path = %parts.uri.path(), "Slack signature check failed");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

pub(crate) fn bad_request(msg: impl Into<String>) -> Response {
    let msg = msg.into();
    tracing::warn!(%msg, "malformed Slack request");
    (StatusCode::BAD_REQUEST, msg).into_response()
}

/// The tenant and bot token serving a Slack workspace: an OAuth-installed workspace, else
/// (single-workspace mode, `SLACK_BOT_TOKEN` set) the default tenant, but only for the bot
/// token's own workspace; `None` for any other (the caller answers "not connected").
pub async fn workspace(
    st: &AppState,
    team_id: &str,
) -> anyhow::Result<Option<(TenantId, Option<String>)>> {
    let bound = match st.slack.cached_team(team_id) {
        Some(b) => b,
        None => {
            let b = st.store.slack_team_tenant(team_id).await?;
            st.slack.remember_team(team_id, b.clone());
            b
        }
    };
    if let Some(tenant) = bound {
        let token = tokens::bot_token_at(st, &tenant, Some(team_id), st.clock.now()).await?;
        return Ok(Some((tenant, token)));
    }
    let Some(bot) = st.settings.slack_bot_token.as_ref() else {
        return Ok(None);
    };
    if st.slack.single_revoked() {
        return Ok(None);
    }
    let bot = bot.expose_secret();
    let own = st.slack.single_team(bot).await?;
    if own != team_id {
        tracing::warn!(
            team = team_id,
            "Slack request from a workspace that is not connected"
        );
        return Ok(None);
    }
    Ok(Some((TenantId::default_tenant(), Some(bot.to_string()))))
}

fn not_installed(st: &AppState) -> Value {
    let text = format!(
        "This Slack workspace isn't connected to SkyGeni yet. A SkyGeni admin can connect it at {}{}.",
        st.settings.public_url.trim_end_matches('/'),
        slack::INSTALL_PATH
    );
    json!({"response_type": "ephemeral", "text": text})
}

fn oops() -> Value {
    json!({"response_type": "ephemeral",
           "text": "Sorry, something went wrong on our side while answering that. Please try again in a minute."})
}

/// Runs `work` in a task; its result if ready within [`INLINE_BUDGET`], else `None` while it
/// carries on and `late` receives the result when it comes.
async fn within_budget<T, F, L, LF>(work: F, late: L) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    L: FnOnce(T) -> LF + Send + 'static,
    LF: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<T>();
    tokio::spawn(async move {
        let out = work.await;
        if let Err(out) = tx.send(out) {
            // The request already answered: finish the slow way.
            late(out).await;
        }
    });
    tokio::time::timeout(INLINE_BUDGET, rx).await.ok()?.ok()
}

async fn commands(State(st): State<AppState>, body: Bytes) -> Response {
    let received = std::time::Instant::now();
    let ev: SlackCommandEvent = match serde_urlencoded::from_bytes(&body) {
        Ok(ev) => ev,
        Err(e) => return bad_request(format!("malformed slash command form: {e}")),
    };
    let ws = match workspace(&st, &ev.team_id.0).await {
        Ok(Some(ws)) => ws,
        Ok(None) => return axum::Json(not_installed(&st)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Slack workspace lookup failed");
            return axum::Json(oops()).into_response();
        }
    };
    let ctx = CommandCtx {
        tenant: ws.0,
        team_id: ev.team_id.0.clone(),
        channel_id: ev.channel_id.0.clone(),
        slack_user_id: ev.user_id.0.clone(),
        trigger_id: ev.trigger_id.0.clone(),
        received,
        token: ws.1,
    };
    let text = ev.text.clone().unwrap_or_default();
    let response_url = ev.response_url.0.to_string();
    let work_st = st.clone();
    let late_st = st.clone();
    let work = async move {
        deal_risk::run(&work_st, &ctx, &text).await.map_err(|e| {
            tracing::error!(error = %e, "/deal-risk failed");
        })
    };
    let late = move |out: Result<Reply, ()>| async move {
        // The follow-up takes the place of the "Working on it…" acknowledgement instead of
        // adding a second message. An ephemeral message cannot become in_channel (share), so
        // that one is posted and the acknowledgement deleted; a modal answer just deletes it.
        let body = match out {
            Ok(r) => r.body(),
            Err(()) => Some(oops()),
        };
        let mut posts = Vec::new();
        match body {
            Some(mut b) if b["response_type"] == "in_channel" => {
                b["replace_original"] = json!(false);
                posts.push(b);
                posts.push(json!({"delete_original": true}));
            }
            Some(mut b) => {
                b["replace_original"] = json!(true);
                posts.push(b);
            }
            None => posts.push(json!({"delete_original": true})),
        }
        for b in posts {
            if let Err(e) = late_st.slack.api.respond(&response_url, &b).await {
                tracing::warn!(error = %e, "response_url post failed");
            }
        }
    };
    match within_budget(work, late).await {
        Some(Ok(reply)) => match reply.body() {
            Some(b) => axum::Json(b).into_response(),
            None => StatusCode::OK.into_response(),
        },
        Some(Err(())) => axum::Json(oops()).into_response(),
        None => axum::Json(json!({"response_type": "ephemeral", "text": "Working on it…"}))
            .into_response(),
    }
}

async fn interactions(State(st): State<AppState>, body: Bytes) -> Response {
    let ia = match Interaction::from_form(&body) {
        Ok(ia) => ia,
        Err(e) => return bad_request(e),
    };
    let (tenant, token) = match workspace(&st, &ia.team_id).await {
        Ok(Some(ws)) => ws,
        Ok(None) => {
            tracing::warn!(team = %ia.team_id, "interaction from an unconnected workspace");
            return StatusCode::OK.into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "Slack workspace lookup failed");
            return StatusCode::OK.into_response();
        }
    };
    let work_st = st.clone();
    let work = async move {
        interact::handle(&work_st, &tenant, token.as_deref(), &ia)
            .await
            .map_err(|e| tracing::error!(error = %e, "Slack interaction failed"))
    };
    match within_budget(work, |_| async {}).await {
        Some(Ok(Ack::Json(v))) => axum::Json(v).into_response(),
        _ => StatusCode::OK.into_response(),
    }
}
