//! The App Home tab: pipeline totals (RAPV, REM), risk distribution, the ten riskiest deals with
//! their relative risk and buttons, for managers a comparison of their reps and, for admins, the
//! chart images.
use super::actions;
use super::card::ListStanding;
use super::kit::*;
use super::views::{deal_line, distribution_text, metric_fields};
use crate::domain::{Deal, DealScore, TenantId};
use crate::engine::PipelineMetrics;
use crate::engine::explain::fmt_money;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const HOME_TOP_DEALS: usize = 10;

/// One rep's line in the manager comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct RepSummary {
    pub rep_id: String,
    pub open_deals: usize,
    pub pipeline_value: f64,
    pub at_risk_deals: usize,
    pub at_risk_value: f64,
    pub avg_risk_score: f64,
    /// Share of the rep's closed deals that were won (`None`: no closed deals given).
    pub win_rate: Option<f64>,
}

/// Per-rep totals from open deals and their scores (`scores[i]` belongs to `deals[i]`), most
/// value at risk first so a manager sees where to help.
pub fn rep_summaries(deals: &[Deal], scores: &[DealScore]) -> Vec<RepSummary> {
    let mut by_rep: BTreeMap<&str, RepSummary> = BTreeMap::new();
    for (d, s) in deals.iter().zip(scores) {
        let r = by_rep.entry(&d.sales_rep_id).or_insert_with(|| RepSummary {
            rep_id: d.sales_rep_id.clone(),
            open_deals: 0,
            pipeline_value: 0.0,
            at_risk_deals: 0,
            at_risk_value: 0.0,
            avg_risk_score: 0.0,
            win_rate: None,
        });
        r.open_deals += 1;
        r.pipeline_value += d.amount;
        r.avg_risk_score += f64::from(s.risk_score);
        if s.risk_category.is_at_risk() {
            r.at_risk_deals += 1;
            r.at_risk_value += d.amount;
        }
    }
    let mut reps: Vec<RepSummary> = by_rep
        .into_values()
        .map(|mut r| {
            r.avg_risk_score /= r.open_deals as f64;
            r
        })
        .collect();
    reps.sort_by(|a, b| {
        b.at_risk_value
            .total_cmp(&a.at_risk_value)
            .then(a.rep_id.cmp(&b.rep_id))
    });
    reps
}

/// Fills each rep's win rate from their closed deals (`history` may hold open deals too).
pub fn add_win_rates(reps: &mut [RepSummary], history: &[Deal]) {
    for r in reps {
        let closed: Vec<&Deal> = history
            .iter()
            .filter(|d| d.sales_rep_id == r.rep_id && !d.is_open())
            .collect();
        if !closed.is_empty() {
            let won = closed
                .iter()
                .filter(|d| d.outcome == Some(crate::domain::Outcome::Won))
                .count();
            r.win_rate = Some(won as f64 / closed.len() as f64);
        }
    }
}

pub struct HomeInput<'a> {
    pub metrics: &'a PipelineMetrics,
    /// Riskiest first; the first ten are shown.
    pub ranked: &'a [(&'a Deal, &'a DealScore)],
    /// `Some` for managers: their reps, as from [`rep_summaries`].
    pub reps: Option<&'a [RepSummary]>,
    /// Where each listed deal stands in the tenant's open pipeline, and the low-skill line.
    pub standing: ListStanding<'a>,
}

/// The Home view (`views.publish` body's `view`).
pub fn home_view(input: &HomeInput) -> Value {
    let m = input.metrics;
    let mut blocks = vec![
        header(&format!("Deal risk — pipeline as of {}", m.as_of)),
        actions(
            "home_toolbar",
            vec![
                button("Refresh", actions::REFRESH_HOME, "refresh"),
                button("Notification settings", actions::OPEN_SETTINGS, "settings"),
            ],
        ),
        fields(&metric_fields(m)),
        section(&distribution_text(m)),
        context(&format!(
            "Potential recovery {} — {}",
            fmt_money(m.recovery.potential_revenue),
            m.recovery.assumption
        )),
    ];
    blocks.extend(input.standing.skill_block());
    blocks.push(divider());
    blocks.push(header(&format!(
        "Top {} deals at risk",
        input.ranked.len().min(HOME_TOP_DEALS)
    )));
    for (i, (d, s)) in input.ranked.iter().take(HOME_TOP_DEALS).enumerate() {
        let line = match input.standing.deal_line(s) {
            Some(rel) => format!("{}\n{rel}", deal_line(d, s)),
            None => deal_line(d, s),
        };
        blocks.push(section(&line));
        // Index in the block id: deal ids may repeat across CRMs, block ids must not.
        blocks.push(actions(
            &format!("home_deal:{i}:{}", d.deal_id),
            vec![
                button("View deal", actions::VIEW_DEAL, &d.deal_id),
                button("Snooze", actions::SNOOZE, &d.deal_id),
                button("Mark false alarm", actions::FALSE_ALARM, &d.deal_id),
            ],
        ));
    }
    if let Some(reps) = input.reps {
        blocks.push(divider());
        blocks.push(header("Your team"));
        let rows: Vec<Value> = reps
            .iter()
            .map(|r| {
                let win = r
                    .win_rate
                    .map(|w| format!(" · win rate {:.0}%", w * 100.0))
                    .unwrap_or_default();
                section(&format!(
                    "*{}* · {} open deals · {} · {} at risk ({}) · avg risk {:.0}/100{win}",
                    escape(&r.rep_id),
                    r.open_deals,
                    fmt_money(r.pipeline_value),
                    r.at_risk_deals,
                    fmt_money(r.at_risk_value),
                    r.avg_risk_score
                ))
            })
            .collect();
        let room = MAX_VIEW_BLOCKS - blocks.len();
        push_capped(&mut blocks, rows, room);
    }
    json!({"type": "home", "blocks": blocks})
}

/// Image blocks for the risk distribution and RAPV-vs-pipeline charts behind signed URLs that
/// expire at `expires` (Slack fetches them when it renders the Home tab), placed after the
/// summary; skipped when the view is already at Slack's 100-block limit.
pub fn add_chart_images(
    home: &mut Value,
    public_url: &str,
    secret: &[u8],
    tenant: &TenantId,
    expires: DateTime<Utc>,
) {
    use crate::notify::chart_link::signed_url;
    use crate::notify::charts::Chart;
    let Some(blocks) = home.get_mut("blocks").and_then(Value::as_array_mut) else {
        return;
    };
    if blocks.len() + 2 > 100 {
        return;
    }
    let images = [
        (Chart::RiskDistribution, "Open deals by risk category"),
        (Chart::RapvVsPipeline, "Risk-adjusted vs raw pipeline"),
    ]
    .map(|(chart, alt)| {
        serde_json::json!({
            "type": "image",
            "image_url": signed_url(public_url, secret, tenant, chart, expires),
            "alt_text": alt,
        })
    });
    let at = blocks.len().min(3);
    for (i, img) in images.into_iter().enumerate() {
        blocks.insert(at + i, img);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::blocks::kit_check::assert_valid_view;
    use crate::testkit::book;

    #[test]
    fn the_home_view_for_a_rep_shows_totals_and_ten_deals_with_buttons() {
        let b = book();
        let ranked = b.ranked();
        let v = home_view(&HomeInput {
            metrics: &b.metrics,
            ranked: &ranked,
            reps: None,
            standing: ListStanding::default(),
        });
        assert_valid_view(&v);
        let blocks = v["blocks"].as_array().unwrap();
        let deal_rows = blocks
            .iter()
            .filter(|b| {
                b["block_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("home_deal:"))
            })
            .count();
        assert_eq!(deal_rows, 10);
        let text = v.to_string();
        assert!(text.contains("RAPV") && text.contains("REM") && !text.contains("Your team"));
    }

    #[test]
    fn a_manager_with_more_reps_than_fit_gets_and_n_more_within_100_blocks() {
        let b = book();
        let ranked = b.ranked();
        let mut reps = rep_summaries(&b.open, &b.scores);
        assert_eq!(
            reps.len(),
            5,
            "the generator's open deals belong to reps 0-4"
        );
        let many: Vec<RepSummary> = (0..20).flat_map(|_| reps.clone()).collect();
        let v = home_view(&HomeInput {
            metrics: &b.metrics,
            ranked: &ranked,
            reps: Some(&many),
            standing: ListStanding::default(),
        });
        assert_valid_view(&v);
        assert_eq!(v["blocks"].as_array().unwrap().len(), MAX_VIEW_BLOCKS);
        assert!(v.to_string().contains("more"));
        reps.truncate(3);
        let v = home_view(&HomeInput {
            metrics: &b.metrics,
            ranked: &ranked,
            reps: Some(&reps),
            standing: ListStanding::default(),
        });
        assert_valid_view(&v);
        assert!(v.to_string().contains(&reps[0].rep_id));
    }

    #[test]
    fn every_home_deal_says_its_relative_risk_and_low_skill_is_said_within_100_blocks() {
        let b = book();
        let ranked = b.ranked();
        let ranks = crate::engine::PipelineRanks::from_scores(&b.scores, 0.45);
        let reps = rep_summaries(&b.open, &b.scores);
        let many: Vec<RepSummary> = (0..20).flat_map(|_| reps.clone()).collect();
        let v = home_view(&HomeInput {
            metrics: &b.metrics,
            ranked: &ranked,
            reps: Some(&many),
            standing: ListStanding {
                ranks: Some(&ranks),
                skill_line: Some(crate::engine::LOW_SKILL_LINE),
            },
        });
        assert_valid_view(&v);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.len(),
            MAX_VIEW_BLOCKS,
            "the team list still fills the rest"
        );
        // Each deal row is the section right before its buttons.
        let rows: Vec<&str> = blocks
            .windows(2)
            .filter(|w| {
                w[1]["block_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("home_deal:"))
            })
            .map(|w| w[0]["text"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(rows.len(), HOME_TOP_DEALS);
        for ((_, s), text) in ranked.iter().zip(&rows) {
            let want = format!("_Relative risk: {}_", ranks.of(s).sentence());
            assert!(text.contains(&want), "{text} lacks {want}");
        }
        let all = v.to_string();
        assert_eq!(
            all.matches(crate::engine::LOW_SKILL_LINE).count(),
            1,
            "{all}"
        );
        // Without a low-skill line there is no warning block.
        let fine = home_view(&HomeInput {
            metrics: &b.metrics,
            ranked: &ranked,
            reps: None,
            standing: ListStanding {
                ranks: Some(&ranks),
                skill_line: None,
            },
        });
        assert!(!fine.to_string().contains(":warning:"));
    }

    #[test]
    fn rep_summaries_add_up_and_put_most_value_at_risk_first() {
        let b = book();
        let reps = rep_summaries(&b.open, &b.scores);
        assert_eq!(reps.iter().map(|r| r.open_deals).sum::<usize>(), 200);
        let total: f64 = reps.iter().map(|r| r.pipeline_value).sum();
        assert!(
            (total - b.metrics.pipeline_value).abs() < 1.0,
            "{total} vs {}",
            b.metrics.pipeline_value
        );
        assert!(
            reps.windows(2)
                .all(|w| w[0].at_risk_value >= w[1].at_risk_value)
        );
        assert!(
            reps.iter()
                .all(|r| (0.0..=100.0).contains(&r.avg_risk_score))
        );
    }
}
