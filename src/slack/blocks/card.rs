//! The deal card: score with category colour, win probability, top three factors, recommended
//! actions, similar won deals and the buttons. Used by `/deal-risk <deal>` and by alerts.
use super::actions;
use super::kit::*;
use super::views::{capitalise, deal_title, deal_title_md, emoji};
use crate::domain::{Deal, DealScore, RelativeRisk};
use crate::engine::PipelineRanks;
use crate::engine::explain::fmt_money;
use serde_json::{Value, json};

/// Where a card is shown. An alert arrives in a private DM with the design's three buttons
/// (View deal, Snooze, Mark false alarm); a looked-up card also offers Share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    Lookup,
    Alert,
}

/// The card body, shared by `/deal-risk <deal>` and the alert.
pub fn deal_card_blocks(
    deal: &Deal,
    s: &DealScore,
    deal_url: Option<&str>,
    kind: CardKind,
) -> Vec<Value> {
    // Every string from the CRM or the engine's CRM-derived sentences is escaped (kit::escape)
    // before it goes into mrkdwn; the header is plain_text and takes the raw title.
    let title = deal_title(deal);
    let title_md = deal_title_md(deal);
    let factors: Vec<String> = s
        .risk_factors
        .iter()
        .take(3)
        .map(|f| {
            format!(
                "• {} ({:+.1} pp win probability for this deal)",
                escape(&f.description),
                f.impact_pp
            )
        })
        .collect();
    let recs: Vec<String> = s
        .recommendations
        .iter()
        .take(3)
        .map(|r| {
            format!(
                "• *{}* — {}",
                r.priority.as_str().replace('_', " "),
                escape(&r.action)
            )
        })
        .collect();
    let mut blocks = vec![
        header(&format!(
            "{} {} risk: {title}",
            emoji(s.risk_category),
            capitalise(s.risk_category.as_str())
        )),
        fields(&[
            format!(
                "*Deal*\n{} ({})",
                truncate(&title_md, 1000),
                truncate(&escape(&deal.deal_id), 500)
            ),
            format!("*Amount*\n{}", fmt_money(deal.amount)),
            format!(
                "*Risk score*\n{}/100 ({})",
                s.risk_score,
                s.risk_category.as_str()
            ),
            format!("*Win probability*\n{:.0}%", s.win_probability * 100.0),
            format!("*Stage*\n{}", escape(&deal.deal_stage)),
            format!(
                "*Owner*\n{}",
                escape(deal.owner_email.as_deref().unwrap_or(&deal.sales_rep_id))
            ),
        ]),
        section(&format!("*Top risk factors*\n{}", factors.join("\n"))),
        section(&format!("*Recommended actions*\n{}", recs.join("\n"))),
    ];
    if !s.similar_deals.is_empty() {
        let similar: Vec<String> = s
            .similar_deals
            .iter()
            .take(3)
            .map(|w| {
                let cycle = w
                    .sales_cycle_days
                    .map(|d| format!(", won in {d} days"))
                    .unwrap_or_default();
                format!(
                    "• {} — {}, {}{cycle}",
                    escape(&w.deal_id),
                    escape(&w.industry),
                    fmt_money(w.amount)
                )
            })
            .collect();
        blocks.push(section(&format!(
            "*Similar won deals*\n{}",
            similar.join("\n")
        )));
    }
    let mut ctx = format!(
        "Model {} · confidence {:.0}%",
        s.model_version,
        s.confidence * 100.0
    );
    if s.degraded {
        ctx.push_str(" · degraded: scored from segment win rates, no model loaded");
    }
    blocks.push(context(&ctx));
    let mut view = button("View deal", actions::VIEW_DEAL, &deal.deal_id);
    if let Some(url) = deal_url.filter(|u| u.len() <= 3000) {
        view["url"] = json!(url);
    }
    let mut buttons = vec![
        styled(view, "primary"),
        button("Snooze", actions::SNOOZE, &deal.deal_id),
        styled(
            button("Mark false alarm", actions::FALSE_ALARM, &deal.deal_id),
            "danger",
        ),
    ];
    if kind == CardKind::Lookup {
        buttons.push(button("Share", actions::SHARE, &deal.deal_id));
    }
    blocks.push(super::kit::actions(
        &format!("deal_actions:{}", deal.deal_id),
        buttons,
    ));
    blocks
}

/// `/deal-risk <deal>`: the card in an attachment, whose side bar shows the category colour.
pub fn deal_card(deal: &Deal, s: &DealScore, deal_url: Option<&str>) -> Value {
    json!({
        "text": truncate(&format!("{} risk: {} ({}) scored {}/100", capitalise(s.risk_category.as_str()),
            deal_title_md(deal), fmt_money(deal.amount), s.risk_score), MAX_SECTION_TEXT),
        "attachments": [{"color": s.risk_category.slack_color(), "blocks": deal_card_blocks(deal, s, deal_url, CardKind::Lookup)}]
    })
}

/// What a card says beyond the deal itself: where the deal stands in the tenant's open
/// pipeline, the model's low-skill line, and (alert DMs) that the day's alert budget is spent.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    pub relative: Option<RelativeRisk>,
    pub skill_line: Option<String>,
    pub budget_note: Option<String>,
}

impl Standing {
    /// The lines in display order; empty when there is nothing to add.
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.relative {
            out.push(format!("*Relative risk:* {}", escape(&r.sentence())));
        }
        if let Some(l) = &self.skill_line {
            out.push(format!(":warning: {}", escape(l)));
        }
        if let Some(n) = &self.budget_note {
            out.push(format!("_{}_", escape(n)));
        }
        out
    }
}

/// Where the deals of a list (App Home, the Slack digest) stand: the pipeline each is ranked
/// in and the model's low-skill line, said once above the list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListStanding<'a> {
    pub ranks: Option<&'a PipelineRanks>,
    pub skill_line: Option<&'a str>,
}

impl ListStanding<'_> {
    /// The relative-risk line under one deal of the list (mrkdwn, escaped).
    pub fn deal_line(&self, s: &DealScore) -> Option<String> {
        self.ranks
            .map(|r| format!("_Relative risk: {}_", escape(&r.of(s).sentence())))
    }

    /// The low-skill line as a context block, when skill is low.
    pub fn skill_block(&self) -> Option<Value> {
        self.skill_line
            .map(|l| context(&format!(":warning: {}", escape(l))))
    }
}

/// Puts the standing right under the score fields of a card message (`deal_card`,
/// `alert::alert_message`); a message without the card layout is returned unchanged.
pub fn with_standing(mut message: Value, st: &Standing) -> Value {
    let lines = st.lines();
    if lines.is_empty() {
        return message;
    }
    if let Some(blocks) = message
        .pointer_mut("/attachments/0/blocks")
        .and_then(Value::as_array_mut)
    {
        insert_standing(blocks, st);
    }
    message
}

/// [`with_standing`] on the card's blocks themselves ([`deal_card_blocks`]), for a card shown
/// in a modal or rebuilt around a note: the lines go after the header and the score fields.
pub fn insert_standing(blocks: &mut Vec<Value>, st: &Standing) {
    let lines = st.lines();
    if lines.is_empty() {
        return;
    }
    let at = blocks.len().min(2);
    blocks.insert(at, section(&lines.join("\n")));
}

/// The card redrawn after a click (snooze, false alarm): where the deal stands, and the
/// outcome `note` under it. `buttons: false` drops the action row (the card that replaces an
/// ephemeral one through its `response_url`).
pub fn outcome_blocks(
    deal: &Deal,
    s: &DealScore,
    deal_url: Option<&str>,
    st: &Standing,
    note: &str,
    buttons: bool,
) -> Vec<Value> {
    let mut blocks = deal_card_blocks(deal, s, deal_url, CardKind::Alert);
    if !buttons {
        blocks.retain(|b| b["type"] != "actions");
    }
    insert_standing(&mut blocks, st);
    blocks.push(context(note));
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::blocks::kit_check::assert_valid_message;
    use crate::testkit::book;

    fn relative() -> RelativeRisk {
        crate::engine::PipelineRanks::new([0.1, 0.3, 0.5, 0.9], 0.6).relative(0.7)
    }

    #[test]
    fn the_standing_sits_under_the_score_and_stays_valid_block_kit() {
        let b = book();
        let (d, s) = (&b.open[0], &b.scores[0]);
        let st = Standing {
            relative: Some(relative()),
            skill_line: Some(crate::engine::LOW_SKILL_LINE.into()),
            budget_note: Some("This is alert 5 of 5 today; <!channel> & more".into()),
        };
        let card = with_standing(deal_card(d, s, None), &st);
        assert_valid_message(&card);
        let text = card["attachments"][0]["blocks"][2]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains(&relative().sentence()), "{text}");
        assert!(text.contains(crate::engine::LOW_SKILL_LINE), "{text}");
        // Whatever goes into mrkdwn is escaped: no mention can be smuggled in.
        assert!(text.contains("&lt;!channel&gt; &amp; more"), "{text}");
        assert!(!text.contains("<!channel>"), "{text}");
    }

    #[test]
    fn with_fine_skill_and_no_budget_note_only_the_relative_risk_is_added() {
        let b = book();
        let (d, s) = (&b.open[0], &b.scores[0]);
        let plain = deal_card(d, s, None);
        let st = Standing {
            relative: Some(relative()),
            ..Standing::default()
        };
        let card = with_standing(plain.clone(), &st);
        let n = |v: &Value| v["attachments"][0]["blocks"].as_array().unwrap().len();
        assert_eq!(n(&card), n(&plain) + 1);
        let text = card.to_string();
        assert!(!text.contains(crate::engine::LOW_SKILL_LINE));
        assert!(!text.contains("roll into your digest"));
        assert_eq!(with_standing(plain.clone(), &Standing::default()), plain);
    }
}
