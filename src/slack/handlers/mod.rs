//! Answering what Slack sends: the routes ([`routes`], signature-checked), the `/deal-risk`
//! command ([`command`] parses it, [`deal_risk`] answers it, [`matching`] finds the deals it
//! names, [`linking`] links accounts), buttons and modal submissions ([`interact`]), the Events
//! API ([`events`]), the OAuth install ([`install`]) and publishing the App Home tab
//! ([`app_home`]). Who is asking is resolved by [`identity`]; live scores for every surface come
//! from [`scoring`]. The request signature is checked by [`crate::slack::signature`].
use crate::app::AppState;
use crate::domain::Deal;
use crate::store::AuditEntry;
use identity::Viewer;
use serde_json::{Value, json};

pub mod app_home;
pub mod command;
pub mod deal_risk;
pub mod events;
pub mod identity;
pub mod install;
pub mod interact;
pub mod linking;
pub mod matching;
pub mod routes;
pub mod scoring;

/// Records a Slack action in the audit log (batched; never fails the request).
pub async fn audit(
    state: &AppState,
    viewer: &Viewer,
    action: &str,
    target: Option<&str>,
    detail: Option<Value>,
) {
    let mut detail = detail.unwrap_or_else(|| json!({}));
    detail["slack_user_id"] = json!(viewer.slack_user_id);
    state
        .audit
        .record(state.store.pending_audit(
            &viewer.tenant,
            AuditEntry {
                actor: &viewer.user.user_id,
                action,
                target,
                request_id: None,
                detail: Some(detail),
            },
        ))
        .await;
}

/// The Salesforce deep link of a deal, when the org URL is configured.
pub fn deal_url(state: &AppState, deal: &Deal) -> Option<String> {
    state
        .settings
        .salesforce_instance_url
        .as_deref()
        .map(|base| {
            format!(
                "{}/lightning/r/Opportunity/{}/view",
                base.trim_end_matches('/'),
                deal.deal_id
            )
        })
}
