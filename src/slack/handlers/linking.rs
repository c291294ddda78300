//! `/deal-risk link you@company.com`: linking a Slack account to a SkyGeni user needs proof of
//! owning that email. Proof is either the email Slack itself reports for the caller (users.info
//! with `users:read.email`), or a one-time code mailed to the address (through the outbox's
//! email channel) and typed back with `/deal-risk link confirm CODE` within [`CODE_TTL`].
//! A SkyGeni user already linked to another Slack account is never re-pointed here (an admin
//! runs `skygeni users unlink`). Every link, request and refusal is audited.
use super::deal_risk::{CommandCtx, Reply};
use crate::app::AppState;
use crate::notify::outbox::{CHANNEL_EMAIL, MessagePayload, Payload, Recipient};
use crate::slack::blocks::kit::{escape, message, section};
use crate::store::{AuditEntry, CodeCheck, ListedUser, NewOutboxRow};
use chrono::Duration;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long a mailed code is valid.
pub const CODE_TTL: Duration = Duration::minutes(15);
/// Wrong guesses before a code dies (8 characters of 32 symbols: 2^40 possibilities).
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// Outbox kind (and SendGrid category) of the confirmation email.
pub const KIND_LINK_CODE: &str = "slack_link_code";
/// No 0/O, 1/I/L: codes are read from an email and typed.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

fn reply(text: &str) -> Reply {
    Reply::Ephemeral(message(text, vec![section(text)]))
}

async fn record(state: &AppState, ctx: &CommandCtx, action: &str, target: &str, detail: Value) {
    let mut detail = detail;
    detail["slack_user_id"] = json!(ctx.slack_user_id);
    detail["team_id"] = json!(ctx.team_id);
    let actor = format!("slack:{}", ctx.slack_user_id);
    state
        .audit
        .record(state.store.pending_audit(
            &ctx.tenant,
            AuditEntry {
                actor: &actor,
                action,
                target: Some(target),
                request_id: None,
                detail: Some(detail),
            },
        ))
        .await;
}

/// SHA-256 of a code, hex: what is stored.
pub fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..8)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// `link <email>`.
pub async fn link(state: &AppState, ctx: &CommandCtx, email: &str) -> anyhow::Result<Reply> {
    let shown = escape(email);
    let Some(target) = state.store.user_by_email(&ctx.tenant, email).await? else {
        record(
            state,
            ctx,
            "slack.link.refused",
            email,
            json!({"reason": "no_such_email"}),
        )
        .await;
        return Ok(reply(&format!(
            "No SkyGeni user has the email *{shown}*. Use the email of your Salesforce user, \
             or ask your SkyGeni admin to add you (`skygeni users add`)."
        )));
    };
    let uid = target.user.user_id.clone();
    match target.slack_user_id.as_deref() {
        Some(s) if s == ctx.slack_user_id => {
            return Ok(reply(&format!(
                "Your Slack account is already linked to *{shown}*."
            )));
        }
        Some(_) => {
            record(
                state,
                ctx,
                "slack.link.refused",
                &uid,
                json!({"reason": "linked_to_another_slack_user"}),
            )
            .await;
            return Ok(reply(&format!(
                "*{shown}* is already linked to another Slack account. Ask your SkyGeni admin to \
                 unlink it first (`skygeni users unlink {shown}`)."
            )));
        }
        None => {}
    }
    if slack_reports_email(state, ctx, email).await {
        return finish_link(state, ctx, &target, "slack_profile_email").await;
    }
    let Some(to) = target.user.email.clone() else {
        return Ok(reply("That user has no email address to confirm with."));
    };
    let code = new_code();
    let now = state.clock.now();
    state
        .store
        .create_slack_link_request(
            &ctx.tenant,
            &ctx.slack_user_id,
            &uid,
            &code_hash(&code),
            now + CODE_TTL,
            now,
        )
        .await?;
    let pretty = format!("{}-{}", &code[..4], &code[4..]);
    let text = format!(
        "Someone using the Slack account {} asked to link it to your SkyGeni user.\n\n\
         If that was you, type this in Slack within {} minutes:\n\n    /deal-risk link confirm {pretty}\n\n\
         If it was not you, ignore this email: nothing changes without the code.",
        ctx.slack_user_id,
        CODE_TTL.num_minutes()
    );
    let html = format!(
        "<p>Someone using the Slack account <code>{}</code> asked to link it to your SkyGeni user.</p>\
         <p>If that was you, type this in Slack within {} minutes:</p><p><code>/deal-risk link confirm {pretty}</code></p>\
         <p>If it was not you, ignore this email: nothing changes without the code.</p>",
        html_escape(&ctx.slack_user_id),
        CODE_TTL.num_minutes()
    );
    let payload = Payload::Message(Box::new(MessagePayload {
        recipient: Recipient {
            user_id: uid.clone(),
            name: target.user.name.clone(),
            email: Some(to),
            slack_user_id: None,
            role: target.user.role.clone(),
        },
        subject: "Confirm linking your Slack account to SkyGeni".into(),
        html,
        text,
        slack: json!({}),
        inline_images: Vec::new(),
        // A one-off transactional message: no List-Unsubscribe (nothing to unsubscribe from).
        email_headers: Vec::new(),
    }));
    state
        .store
        .enqueue_outbox(
            &ctx.tenant,
            &[NewOutboxRow {
                kind: KIND_LINK_CODE.into(),
                channel: CHANNEL_EMAIL.into(),
                recipient: uid.clone(),
                payload: payload.to_json(),
                idempotency_key: format!(
                    "slack_link:{}:{}",
                    ctx.slack_user_id,
                    uuid::Uuid::new_v4()
                ),
                alert_id: None,
                due: now,
            }],
            now,
        )
        .await?;
    record(state, ctx, "slack.link.code_sent", &uid, json!({})).await;
    Ok(reply(&format!(
        "Your Slack profile doesn't show *{shown}*, so I've emailed a confirmation code to that address. \
         Run `/deal-risk link confirm CODE` within {} minutes. Nothing changes until then.",
        CODE_TTL.num_minutes()
    )))
}

/// `link confirm <code>`.
pub async fn confirm(state: &AppState, ctx: &CommandCtx, code: &str) -> anyhow::Result<Reply> {
    let check = state
        .store
        .use_slack_link_code(
            &ctx.tenant,
            &ctx.slack_user_id,
            &code_hash(code),
            MAX_CODE_ATTEMPTS,
            state.clock.now(),
        )
        .await?;
    let CodeCheck::Valid { user_id } = check else {
        record(
            state,
            ctx,
            "slack.link.refused",
            &ctx.slack_user_id,
            json!({"reason": "bad_or_expired_code"}),
        )
        .await;
        return Ok(reply(
            "That code is wrong, already used or expired. Run `/deal-risk link you@company.com` to get a new one.",
        ));
    };
    let users = state.store.list_users(&ctx.tenant).await?;
    let Some(target) = users.into_iter().find(|u| u.user.user_id == user_id) else {
        return Ok(reply("That SkyGeni user no longer exists."));
    };
    finish_link(state, ctx, &target, "email_code").await
}

/// Whether Slack reports `email` for the caller (only with a token and `users:read.email`).
async fn slack_reports_email(state: &AppState, ctx: &CommandCtx, email: &str) -> bool {
    let Some(token) = ctx.token.as_deref() else {
        return false;
    };
    match state.slack.api.user_info(token, &ctx.slack_user_id).await {
        Ok(u) => u
            .email
            .is_some_and(|e| !u.deleted && e.trim().eq_ignore_ascii_case(email.trim())),
        Err(e) => {
            tracing::info!(error = %e, "users.info failed during link; falling back to an emailed code");
            false
        }
    }
}

async fn finish_link(
    state: &AppState,
    ctx: &CommandCtx,
    target: &ListedUser,
    proof: &str,
) -> anyhow::Result<Reply> {
    let uid = &target.user.user_id;
    let shown = escape(target.user.email.as_deref().unwrap_or(uid));
    if !state
        .store
        .link_slack_user_if_free(&ctx.tenant, uid, &ctx.slack_user_id)
        .await?
    {
        record(
            state,
            ctx,
            "slack.link.refused",
            uid,
            json!({"reason": "linked_to_another_slack_user", "proof": proof}),
        )
        .await;
        return Ok(reply(&format!(
            "*{shown}* is already linked to another Slack account. Ask your SkyGeni admin to unlink it first."
        )));
    }
    state
        .slack
        .forget_identity(ctx.tenant.as_str(), &ctx.slack_user_id);
    record(state, ctx, "slack.link", uid, json!({"proof": proof})).await;
    let name = escape(target.user.name.as_deref().unwrap_or(uid));
    Ok(reply(&format!(
        "Linked: your Slack account now acts as *{name}* ({shown}). Try `/deal-risk top`."
    )))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
