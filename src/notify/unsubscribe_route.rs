//! `GET /unsubscribe/{token}`: a confirm page (GET never changes anything: mail scanners and
//! link previews fetch links); `POST /unsubscribe/{token}`: the RFC 8058 one-click
//! unsubscribe mail providers send (`List-Unsubscribe=One-Click`) and the page's button.
//! No login: the signed token is the credential (see `notify::unsubscribe`).
use super::unsubscribe::{Grant, TokenError, UnsubscribeSigner};
use crate::app::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use handlebars::html_escape;

pub fn router() -> Router<AppState> {
    Router::new().route("/unsubscribe/{token}", get(confirm_page).post(unsubscribe))
}

/// The grant of a token, or the status and message to answer with.
fn verify(st: &AppState, token: &str) -> Result<Grant, (StatusCode, String)> {
    let Some(signer) = UnsubscribeSigner::from_settings(&st.settings) else {
        return Err((
            StatusCode::NOT_FOUND,
            "unsubscribe links are not enabled on this server".into(),
        ));
    };
    signer.verify(token, st.clock.now()).map_err(|e| match e {
        TokenError::Invalid => (StatusCode::FORBIDDEN, e.to_string()),
        TokenError::Expired => (
            StatusCode::GONE,
            format!("{e}: change your email settings in SkyGeni's App Home in Slack"),
        ),
    })
}

/// A small page in the emails' style; every value is escaped.
fn page(title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title></head><body style=\"margin:0;background-color:#F4F5F7;\">\
         <div style=\"max-width:520px;margin:40px auto;padding:24px;background-color:#FFFFFF;\
         font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:22px;color:#1D1C1D;\">\
         <h1 style=\"font-size:20px;margin:0 0 12px 0;\">{t}</h1>{body_html}</div></body></html>",
        t = html_escape(title)
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // The token is in the URL: keep it out of caches and other sites' Referer.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        html,
    )
        .into_response()
}

async fn confirm_page(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    let g = match verify(&st, &token) {
        Ok(g) => g,
        Err(refused) => return refused.into_response(),
    };
    page(
        "Unsubscribe from SkyGeni email",
        &format!(
            "<p>Stop sending {} to this address (SkyGeni workspace <strong>{}</strong>)? \
             Critical deal alerts and Slack messages are not affected.</p>\
             <form method=\"post\"><button type=\"submit\" style=\"font-family:Arial,Helvetica,sans-serif;\
             font-size:15px;font-weight:bold;color:#FFFFFF;background-color:#1264A3;border:0;\
             border-radius:4px;padding:11px 18px;cursor:pointer;\">Unsubscribe</button></form>",
            html_escape(g.list.title()),
            html_escape(g.tenant.as_str()),
        ),
    )
}

async fn unsubscribe(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    let g = match verify(&st, &token) {
        Ok(g) => g,
        Err(refused) => return refused.into_response(),
    };
    let now = st.clock.now();
    match st
        .store
        .unsubscribe_email(&g.tenant, &g.user_id, g.list.as_str(), now)
        .await
    {
        Ok(true) => {
            tracing::info!(tenant = g.tenant.as_str(), user = %g.user_id, list = g.list.as_str(), "email unsubscribe");
            // The user acted through their signed link: they are the actor.
            st.audit
                .record(st.store.pending_audit(
                    &g.tenant,
                    crate::store::AuditEntry {
                        actor: &g.user_id,
                        action: "email.unsubscribe",
                        target: Some(g.list.as_str()),
                        request_id: None,
                        detail: None,
                    },
                ))
                .await;
            page(
                "You are unsubscribed",
                &format!(
                    "<p>SkyGeni will no longer email you {}. You can turn it back on in \
                     SkyGeni's App Home in Slack.</p>",
                    html_escape(g.list.title())
                ),
            )
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no such user in this workspace").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "unsubscribe failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the unsubscribe could not be saved; please try again",
            )
                .into_response()
        }
    }
}
