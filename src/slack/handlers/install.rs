//! Multi-workspace install, OAuth v2: `GET /slack/install?token=<admin API token>` stores a
//! random single-use `state` for the admin's tenant and redirects to Slack; Slack sends the
//! browser to `GET /slack/oauth/callback?code&state`, where the state is checked and used up,
//! the code exchanged (oauth.v2.access), the bot token (and refresh token when Slack rotates
//! tokens) sealed with AES-256-GCM and the workspace bound to the tenant.
//!
//! Own routes rather than slack-morphism's `oauth_router`, which sends no `state` at all.
use crate::app::AppState;
use crate::auth::{Role, verify_token};
use crate::slack;
use crate::slack::client::tokens;
use crate::store::{AuditEntry, SlackInstall, StoreError, format_ts};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Slack's authorize page.
pub const AUTHORIZE_URL: &str = "https://slack.com/oauth/v2/authorize";
/// How long an install link's `state` stays valid (Slack's codes live 10 minutes too).
pub const STATE_TTL: Duration = Duration::minutes(10);

#[derive(Debug, Deserialize)]
pub struct InstallParams {
    /// An admin's SkyGeni API token (JWT): decides which tenant the workspace joins.
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by Slack when the user cancelled (`access_denied`).
    pub error: Option<String>,
}

fn page(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response()
}

/// SHA-256 (hex) of a state value: what is stored, so a database read yields no usable state.
pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn redirect_uri(st: &AppState) -> String {
    format!(
        "{}{}",
        st.settings.public_url.trim_end_matches('/'),
        slack::OAUTH_CALLBACK_PATH
    )
}

pub async fn start(State(st): State<AppState>, Query(p): Query<InstallParams>) -> Response {
    let Some(secret) = st.settings.jwt_secret.as_ref() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "SKYGENI_JWT_SECRET is not set, so admins cannot be recognised.",
        );
    };
    let Some(client_id) = st.settings.slack_client_id.clone() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "SLACK_CLIENT_ID is not set: Slack OAuth installs are off.",
        );
    };
    let claims = match p.token.as_deref().map(|t| verify_token(secret, t)) {
        Some(Ok(c)) if c.role == Role::Admin => c,
        Some(Ok(_)) => {
            return page(
                StatusCode::FORBIDDEN,
                "Only a SkyGeni admin can connect a Slack workspace.",
            );
        }
        Some(Err(e)) => {
            return page(
                StatusCode::UNAUTHORIZED,
                &format!("Invalid admin token: {e}"),
            );
        }
        None => {
            return page(
                StatusCode::UNAUTHORIZED,
                "Open this link with your admin API token: /slack/install?token=<token>",
            );
        }
    };
    let state: [u8; 32] = rand::random();
    let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state);
    if let Err(e) = st
        .store
        .create_slack_oauth_state(
            &state_hash(&state),
            &claims.tenant_id,
            &claims.sub,
            st.clock.now() + STATE_TTL,
        )
        .await
    {
        tracing::error!(error = %e, "saving the OAuth state failed");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not start the install; try again.",
        );
    }
    let url = reqwest::Url::parse_with_params(
        AUTHORIZE_URL,
        &[
            ("client_id", client_id.as_str()),
            ("scope", &slack::BOT_SCOPES.join(",")),
            ("redirect_uri", &redirect_uri(&st)),
            ("state", &state),
        ],
    )
    .expect("constant URL with encoded params");
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

pub async fn callback(State(st): State<AppState>, Query(p): Query<CallbackParams>) -> Response {
    finish(&st, p, st.clock.now()).await
}

/// The callback with the clock as an input (tests expire states without waiting).
pub async fn finish(st: &AppState, p: CallbackParams, now: DateTime<Utc>) -> Response {
    let Some(state) = p.state.as_deref().filter(|s| !s.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Missing state: start the install again from /slack/install.",
        );
    };
    // Used up whatever happens next: a state works once.
    let found = match st
        .store
        .consume_slack_oauth_state(&state_hash(state), now)
        .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "reading the OAuth state failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not finish the install; try again.",
            );
        }
    };
    let Some((tenant, admin)) = found else {
        return page(
            StatusCode::BAD_REQUEST,
            "This install link is invalid, expired or was already used. Start again from /slack/install.",
        );
    };
    if let Some(err) = p.error {
        return page(
            StatusCode::BAD_REQUEST,
            &format!("Slack did not authorise the install ({err})."),
        );
    }
    let Some(code) = p.code.filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Slack sent no code; start the install again.",
        );
    };
    let (client_id, client_secret) = match tokens::oauth_client(st) {
        Ok(c) => c,
        Err(e) => return page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let secrets = match st.secrets() {
        Ok(s) => s,
        Err(e) => {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("Cannot store the Slack token: {e}"),
            );
        }
    };
    let grant = match st
        .slack
        .api
        .oauth_exchange(&client_id, &client_secret, &code, &redirect_uri(st))
        .await
    {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(error = %e, "oauth.v2.access failed");
            return page(
                StatusCode::BAD_GATEWAY,
                &format!("Slack refused the install: {e}"),
            );
        }
    };
    let t = tenant.as_str();
    let install = SlackInstall {
        tenant_id: tenant.clone(),
        team_id: grant.team_id.clone(),
        team_name: Some(grant.team_name.clone()),
        bot_user_id: grant.bot_user_id.clone(),
        scope: Some(grant.scope.clone()),
        bot_token_sealed: secrets.seal(t, &grant.access_token),
        refresh_token_sealed: grant.refresh_token.as_deref().map(|r| secrets.seal(t, r)),
        expires_at: grant
            .expires_in
            .map(|s| format_ts(now + Duration::seconds(s as i64))),
        installed_by: Some(admin.clone()),
        active: true,
    };
    match st.store.save_slack_install(&install).await {
        Ok(()) => st.slack.forget_team(&install.team_id),
        Err(StoreError::Conflict(m)) => return page(StatusCode::CONFLICT, &m),
        Err(e) => {
            tracing::error!(error = %e, "saving the Slack install failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not save the install; try again.",
            );
        }
    }
    st.audit
        .record(st.store.pending_audit(
            &tenant,
            AuditEntry {
                actor: &admin,
                action: "slack.workspace.install",
                target: Some(&grant.team_id),
                request_id: None,
                detail: Some(serde_json::json!({"team_name": grant.team_name, "rotating": grant.refresh_token.is_some()})),
            },
        ))
        .await;
    page(
        StatusCode::OK,
        &format!(
            "SkyGeni is now installed in the Slack workspace {}. You can close this tab.",
            grant.team_name
        ),
    )
}
