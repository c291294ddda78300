//! `/deal-risk` subcommands: from a parsed command and the caller's identity to the message
//! Slack shows (or a modal opened). Role scoping as in the REST API: a rep sees their own deals,
//! a manager their team's, an admin all; asking for someone else's deal gets a polite refusal.
use super::command::{self, DealRiskCommand};
use super::identity::{self, Resolved, Viewer};
use super::scoring::{scoped_view, score_deals, score_with_standing};
use super::{audit, deal_url};
use crate::app::AppState;
use crate::domain::{Deal, DealScore, TenantId};
use crate::slack::blocks::kit::{context, message, section};
use crate::slack::blocks::{card, degraded, modals, settings, views};
use crate::store::DealScope;
use chrono::NaiveDate;
use serde_json::{Value, json};

/// Candidates fetched for a name lookup before ranking (a pick list shows at most 45).
const LOOKUP_CANDIDATES: i64 = 50;

/// Who is asking and where: what every subcommand needs.
#[derive(Debug, Clone)]
pub struct CommandCtx {
    pub tenant: TenantId,
    pub team_id: String,
    pub channel_id: String,
    pub slack_user_id: String,
    pub trigger_id: String,
    /// When the request carrying `trigger_id` arrived (the trigger lives 3 s from about then).
    pub received: std::time::Instant,
    /// The workspace's bot token (`None`: Slack Web API calls are impossible, e.g. no token
    /// configured; answers still go back inline / via response_url).
    pub token: Option<String>,
}

/// What to answer Slack with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Only the caller sees it.
    Ephemeral(Value),
    /// Posted in the channel for everyone (`share`).
    InChannel(Value),
    /// Nothing to show (a modal was opened instead).
    Nothing,
}

impl Reply {
    /// The slash-command / response_url JSON body, `None` for [`Reply::Nothing`].
    pub fn body(&self) -> Option<Value> {
        let (mut v, kind) = match self {
            Reply::Ephemeral(v) => (v.clone(), "ephemeral"),
            Reply::InChannel(v) => (v.clone(), "in_channel"),
            Reply::Nothing => return None,
        };
        v["response_type"] = json!(kind);
        Some(v)
    }
}

/// Runs one `/deal-risk` invocation.
pub async fn run(state: &AppState, ctx: &CommandCtx, text: &str) -> anyhow::Result<Reply> {
    let cmd = match command::parse(text) {
        Ok(c) => c,
        Err(e) => return Ok(Reply::Ephemeral(views::usage_error(&e))),
    };
    if matches!(cmd, DealRiskCommand::Help | DealRiskCommand::Unknown(_)) {
        return Ok(Reply::Ephemeral(views::help()));
    }
    if let DealRiskCommand::Link(email) = &cmd {
        return super::linking::link(state, ctx, email).await;
    }
    if let DealRiskCommand::ConfirmLink(code) = &cmd {
        return super::linking::confirm(state, ctx, code).await;
    }
    let viewer =
        match identity::resolve(state, &ctx.tenant, &ctx.slack_user_id, ctx.token.as_deref())
            .await?
        {
            Resolved::Known(v) => v,
            Resolved::Unmapped { slack_email } => {
                return Ok(Reply::Ephemeral(views::how_to_link(slack_email.as_deref())));
            }
        };
    let today = state.clock.now().date_naive();
    let (action, reply) = match &cmd {
        DealRiskCommand::Lookup(q) => ("lookup", lookup(state, &viewer, q, today, false).await?),
        DealRiskCommand::Share(q) => ("share", lookup(state, &viewer, q, today, true).await?),
        DealRiskCommand::Top(n) => ("top", top(state, &viewer, *n, today).await?),
        DealRiskCommand::Pipeline => ("pipeline", pipeline(state, &viewer, today).await?),
        DealRiskCommand::Rep(user) => ("rep", rep(state, ctx, &viewer, &user.0, today).await?),
        DealRiskCommand::Settings => ("settings", open_settings(state, ctx, &viewer).await?),
        DealRiskCommand::Help
        | DealRiskCommand::Unknown(_)
        | DealRiskCommand::Link(_)
        | DealRiskCommand::ConfirmLink(_) => {
            unreachable!("answered above")
        }
    };
    let reply = with_degraded_notice(state, &viewer.tenant, reply).await?;
    audit(
        state,
        &viewer,
        &format!("slack.command.{action}"),
        None,
        Some(json!({"text": command_text(text)})),
    )
    .await;
    Ok(reply)
}

/// A scored answer leads with the degraded-mode notice while the tenant has no usable model
/// (the scorer is cached, so this costs no query).
async fn with_degraded_notice(
    state: &AppState,
    tenant: &TenantId,
    reply: Reply,
) -> anyhow::Result<Reply> {
    let loaded = state.scorers.get(&state.store, tenant).await?;
    Ok(match reply {
        Reply::Ephemeral(mut v) => {
            degraded::add_to_message(&mut v, &loaded);
            Reply::Ephemeral(v)
        }
        Reply::InChannel(mut v) => {
            degraded::add_to_message(&mut v, &loaded);
            Reply::InChannel(v)
        }
        Reply::Nothing => Reply::Nothing,
    })
}

fn command_text(text: &str) -> String {
    text.chars().take(command::MAX_TEXT_CHARS).collect()
}

async fn lookup(
    state: &AppState,
    viewer: &Viewer,
    query: &str,
    today: NaiveDate,
    share: bool,
) -> anyhow::Result<Reply> {
    let candidates = state
        .store
        .find_open_deals(&viewer.tenant, query, LOOKUP_CANDIDATES)
        .await?;
    let all = super::matching::match_deals(query, &candidates);
    let scope = viewer.scope();
    let mine: Vec<&Deal> = all.iter().copied().filter(|d| scope.allows(d)).collect();
    if mine.is_empty() {
        if !all.is_empty() {
            // Audited, but answered exactly like a deal that does not exist: the reply must not
            // tell a curious user that `D123` is real (the REST API answers 404 alike).
            audit(
                state,
                viewer,
                "slack.deal.access_denied",
                Some(&all[0].deal_id),
                None,
            )
            .await;
        }
        return Ok(Reply::Ephemeral(views::no_match(query)));
    }
    let exact = mine
        .iter()
        .find(|d| d.deal_id.eq_ignore_ascii_case(query.trim()));
    if mine.len() == 1 || exact.is_some() {
        let deal = exact.copied().unwrap_or(mine[0]);
        let (score, standing) = score_with_standing(state, &viewer.tenant, deal, today).await?;
        let body = card::with_standing(
            card::deal_card(deal, &score, deal_url(state, deal).as_deref()),
            &standing,
        );
        audit(state, viewer, "slack.deal.view", Some(&deal.deal_id), None).await;
        return Ok(if share {
            Reply::InChannel(body)
        } else {
            Reply::Ephemeral(body)
        });
    }
    let deals: Vec<Deal> = mine.iter().map(|d| (*d).clone()).collect();
    let scores = score_deals(state, &viewer.tenant, &deals, today).await?;
    let pairs: Vec<(&Deal, &DealScore)> = deals.iter().zip(scores.iter()).collect();
    Ok(Reply::Ephemeral(views::pick_list(query, &pairs)))
}

async fn top(
    state: &AppState,
    viewer: &Viewer,
    n: usize,
    today: NaiveDate,
) -> anyhow::Result<Reply> {
    let view = scoped_view(state, &viewer.tenant, &viewer.scope(), today).await?;
    let ranked: Vec<(&Deal, &DealScore)> = view.deals.iter().zip(view.scores.iter()).collect();
    Ok(Reply::Ephemeral(views::top_deals(&ranked, n)))
}

async fn pipeline(state: &AppState, viewer: &Viewer, today: NaiveDate) -> anyhow::Result<Reply> {
    let view = scoped_view(state, &viewer.tenant, &viewer.scope(), today).await?;
    Ok(Reply::Ephemeral(views::pipeline_summary(&view.metrics)))
}

async fn rep(
    state: &AppState,
    ctx: &CommandCtx,
    viewer: &Viewer,
    rep_slack_id: &str,
    today: NaiveDate,
) -> anyhow::Result<Reply> {
    if !(viewer.is_manager() || viewer.is_admin()) {
        let text = "`/deal-risk rep` is for managers. Try `/deal-risk top` for your own deals.";
        return Ok(Reply::Ephemeral(message(text, vec![section(text)])));
    }
    let rep = match identity::resolve(state, &ctx.tenant, rep_slack_id, ctx.token.as_deref())
        .await?
    {
        Resolved::Known(v) => v,
        Resolved::Unmapped { .. } => {
            let text = format!(
                "<@{rep_slack_id}> isn't linked to a SkyGeni user yet, so I can't find their deals. \
                 They can run `/deal-risk link their@company.com`."
            );
            return Ok(Reply::Ephemeral(message(&text, vec![section(&text)])));
        }
    };
    let in_team = viewer.is_admin()
        || rep.user.user_id == viewer.user.user_id
        || viewer.reports.iter().any(|u| u.user_id == rep.user.user_id);
    if !in_team {
        audit(
            state,
            viewer,
            "slack.rep.access_denied",
            Some(&rep.user.user_id),
            None,
        )
        .await;
        let text =
            format!("<@{rep_slack_id}> isn't on your team, so I can't show their portfolio.");
        return Ok(Reply::Ephemeral(message(&text, vec![section(&text)])));
    }
    let only_rep = DealScope::Owners {
        rep_ids: vec![rep.user.user_id.clone()],
        emails: rep.user.email.iter().cloned().collect(),
    };
    let view = scoped_view(state, &viewer.tenant, &only_rep, today).await?;
    let ranked: Vec<(&Deal, &DealScore)> = view.deals.iter().zip(view.scores.iter()).collect();
    let mut body = views::rep_portfolio(&rep.display_name(), &ranked);
    if let Some(wr) = rep_win_rate(state, &viewer.tenant, &rep).await?
        && let Some(blocks) = body["blocks"].as_array_mut()
    {
        let avg = if view.scores.is_empty() {
            0.0
        } else {
            view.scores
                .iter()
                .map(|s| f64::from(s.risk_score))
                .sum::<f64>()
                / view.scores.len() as f64
        };
        blocks.insert(
            2.min(blocks.len()),
            context(&format!(
                "Win rate {:.0}% on closed deals · average risk score {avg:.0}/100",
                wr * 100.0
            )),
        );
    }
    Ok(Reply::Ephemeral(body))
}

/// The rep's historical win rate over their closed deals, if they have any.
async fn rep_win_rate(
    state: &AppState,
    tenant: &TenantId,
    rep: &Viewer,
) -> anyhow::Result<Option<f64>> {
    let deals = state.store.load_deals(tenant).await?;
    let scope = DealScope::Owners {
        rep_ids: vec![rep.user.user_id.clone()],
        emails: rep.user.email.iter().cloned().collect(),
    };
    let closed: Vec<&Deal> = deals
        .iter()
        .filter(|d| !d.is_open() && scope.allows(d))
        .collect();
    if closed.is_empty() {
        return Ok(None);
    }
    let won = closed
        .iter()
        .filter(|d| d.outcome == Some(crate::domain::Outcome::Won))
        .count();
    Ok(Some(won as f64 / closed.len() as f64))
}

/// Opens the settings modal at once (the trigger_id lives 3 s) with a loading view, then fills
/// it with the stored settings through views.update.
pub async fn open_settings(
    state: &AppState,
    ctx: &CommandCtx,
    viewer: &Viewer,
) -> anyhow::Result<Reply> {
    let Some(token) = ctx.token.as_deref() else {
        let text = "Slack isn't fully set up for this workspace (no bot token), so I can't open the settings form.";
        return Ok(Reply::Ephemeral(message(text, vec![section(text)])));
    };
    let view_id = state
        .slack
        .api
        .open_view(
            token,
            &ctx.trigger_id,
            ctx.received,
            &modals::loading_modal(),
        )
        .await?;
    let stored = state
        .store
        .get_alert_settings(&viewer.tenant, &viewer.user.user_id)
        .await?
        .unwrap_or_default();
    // The tenant's bands and alert budget are on an admin's form only.
    let risk = if viewer.is_admin() {
        Some(crate::service::risk_settings::current(&state.store, &viewer.tenant).await?)
    } else {
        None
    };
    let modal = settings::settings_modal(
        &super::interact::settings_save::to_notification(&stored),
        risk.as_ref(),
    );
    state.slack.api.update_view(token, &view_id, &modal).await?;
    Ok(Reply::Nothing)
}
