//! Who is asking: a Slack user → the SkyGeni user (and so the CRM owner) by the stored
//! `users.slack_user_id`, else by the Slack profile email (users.info) matched to a user's
//! email, remembered on the user row and cached in memory. Unmapped users get a message on how
//! to link ([`crate::slack::blocks::views::how_to_link`]), never silence.
use crate::app::AppState;
use crate::domain::TenantId;
use crate::slack::client::SlackError;
use crate::store::{DealScope, UserRow};
use std::time::{Duration, Instant};

/// How long a resolved identity is reused without a database read (role changes show up
/// within this time).
pub const IDENTITY_TTL: Duration = Duration::from_secs(300);

/// A mapped Slack user.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub tenant: TenantId,
    pub slack_user_id: String,
    pub user: UserRow,
    /// Direct reports (managers only).
    pub reports: Vec<UserRow>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.user.role == "admin"
    }

    pub fn is_manager(&self) -> bool {
        self.user.role == "manager"
    }

    /// The deals this user may see, as the REST API scopes them: admin all; a rep their own
    /// (by rep id or owner email); a manager theirs plus their direct reports'.
    pub fn scope(&self) -> DealScope {
        if self.is_admin() {
            return DealScope::All;
        }
        let mut rep_ids = vec![self.user.user_id.clone()];
        let mut emails: Vec<String> = self.user.email.iter().cloned().collect();
        for u in &self.reports {
            rep_ids.push(u.user_id.clone());
            emails.extend(u.email.iter().cloned());
        }
        DealScope::Owners { rep_ids, emails }
    }

    /// Display name for "snoozed by …".
    pub fn display_name(&self) -> String {
        self.user
            .name
            .clone()
            .unwrap_or_else(|| self.user.user_id.clone())
    }
}

/// The outcome of resolving a Slack user.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Known(Viewer),
    /// No SkyGeni user matches; `slack_email` is the Slack profile email when Slack gave one.
    Unmapped {
        slack_email: Option<String>,
    },
}

/// Resolves `slack_user_id` in `tenant`. `token` (the workspace's bot token) allows the
/// users.info email lookup; without it only stored mappings are found.
pub async fn resolve(
    state: &AppState,
    tenant: &TenantId,
    slack_user_id: &str,
    token: Option<&str>,
) -> anyhow::Result<Resolved> {
    let key = (tenant.as_str().to_string(), slack_user_id.to_string());
    if let Some((at, v)) = state.slack.identities().get(&key)
        && at.elapsed() < IDENTITY_TTL
    {
        return Ok(Resolved::Known(v.clone()));
    }
    if let Some(v) = stored(state, tenant, slack_user_id).await? {
        state.slack.remember(key, v.clone());
        return Ok(Resolved::Known(v));
    }
    let Some(token) = token else {
        return Ok(Resolved::Unmapped { slack_email: None });
    };
    let slack_email = match state.slack.api.user_info(token, slack_user_id).await {
        Ok(u) => u.email,
        // Without users:read.email, or a deleted user: fall through to "how to link".
        Err(SlackError::Permanent(e)) => {
            tracing::info!(slack_user_id, error = %e, "users.info gave no email");
            None
        }
        Err(e) => return Err(e.into()),
    };
    // Slack's own report of the caller's email is the proof of ownership here; a user linked
    // to another Slack account is left alone (only an admin unlinks).
    if let Some(email) = &slack_email
        && let Some(target) = state.store.user_by_email(tenant, email).await?
        && state
            .store
            .link_slack_user_if_free(tenant, &target.user.user_id, slack_user_id)
            .await?
        && let Some(v) = stored(state, tenant, slack_user_id).await?
    {
        state
            .audit
            .record(state.store.pending_audit(
                tenant,
                crate::store::AuditEntry {
                    actor: &format!("slack:{slack_user_id}"),
                    action: "slack.link",
                    target: Some(&v.user.user_id),
                    request_id: None,
                    detail: Some(serde_json::json!({"proof": "slack_profile_email",
                                                    "slack_user_id": slack_user_id})),
                },
            ))
            .await;
        state.slack.remember(key, v.clone());
        return Ok(Resolved::Known(v));
    }
    Ok(Resolved::Unmapped { slack_email })
}

async fn stored(
    state: &AppState,
    tenant: &TenantId,
    slack_user_id: &str,
) -> anyhow::Result<Option<Viewer>> {
    Ok(state
        .store
        .user_by_slack_id(tenant, slack_user_id)
        .await?
        .map(|(user, reports)| Viewer {
            tenant: tenant.clone(),
            slack_user_id: slack_user_id.to_string(),
            user,
            reports,
        }))
}

/// The cache entry type kept in [`crate::slack::SlackRuntime`].
pub(crate) type CachedViewer = (Instant, Viewer);
