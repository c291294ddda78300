//! Similar won deals: same industry, amount within ±30 %, sharing at least one of this deal's
//! risk factors, ranked by similarity. Built once from history; lookups are in memory.
use std::collections::HashMap;

use chrono::NaiveDate;

use super::segments::cycle_days;
use crate::domain::{Deal, DealScore, FactorCode, Outcome, SimilarDeal};

/// Amount window around the deal (±30 %).
pub const AMOUNT_BAND: f64 = 0.30;

#[derive(Debug, Clone)]
struct Won {
    deal_id: String,
    company: Option<String>,
    amount: f64,
    product_type: String,
    lead_source: String,
    region: String,
    cycle: Option<i64>,
}

/// Won deals per industry, sorted by amount so the ±30 % window is a binary search.
#[derive(Debug, Default)]
pub struct SimilarIndex {
    by_industry: HashMap<String, Vec<Won>>,
}

impl SimilarIndex {
    pub fn build(history: &[Deal]) -> SimilarIndex {
        let mut by_industry: HashMap<String, Vec<Won>> = HashMap::new();
        for d in history.iter().filter(|d| d.outcome == Some(Outcome::Won)) {
            by_industry
                .entry(d.industry.clone())
                .or_default()
                .push(Won {
                    deal_id: d.deal_id.clone(),
                    company: d.company.clone(),
                    amount: d.amount,
                    product_type: d.product_type.clone(),
                    lead_source: d.lead_source.clone(),
                    region: d.region.clone(),
                    cycle: cycle_days(d),
                });
        }
        for v in by_industry.values_mut() {
            v.sort_by(|a, b| a.amount.total_cmp(&b.amount));
        }
        SimilarIndex { by_industry }
    }

    /// Up to `limit` won deals like `deal`, most similar first. Similarity (0..=1) is half
    /// amount closeness (1 at the same amount, 0 at the ±30 % edge) and half the share of
    /// this deal's factors the won deal shared (same lead source, product or region; for
    /// deal age: it ran at least as long and still won; deal size always matches in the band).
    pub fn similar(
        &self,
        deal: &Deal,
        factors: &[FactorCode],
        age_days: i64,
        limit: usize,
    ) -> Vec<SimilarDeal> {
        let Some(pool) = self.by_industry.get(&deal.industry) else {
            return Vec::new();
        };
        if limit == 0 {
            return Vec::new();
        }
        let (lo, hi) = (
            deal.amount * (1.0 - AMOUNT_BAND),
            deal.amount * (1.0 + AMOUNT_BAND),
        );
        let start = pool.partition_point(|w| w.amount < lo);
        let band = &pool[start..start + pool[start..].partition_point(|w| w.amount <= hi)];
        let closeness = |w: &Won| {
            1.0 - ((w.amount - deal.amount).abs() / (deal.amount.abs() * AMOUNT_BAND).max(1e-9))
                .min(1.0)
        };
        // Most similar first; ties by deal id.
        let order = |a: &(f64, &Won), b: &(f64, &Won)| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.deal_id.cmp(&b.1.deal_id))
        };
        // Walk outwards from the deal's amount, nearest amount first, so closeness only falls.
        // No later deal can score above 0.5 × its closeness + 0.5 (all factors shared): once
        // that is below the `limit`-th best, the rest of the band cannot enter the list. The
        // result is exactly that of ranking the whole band, without scanning thousands of won
        // deals per API call on a big tenant.
        let (mut left, mut right) = {
            let mid = band.partition_point(|w| w.amount < deal.amount);
            (mid, mid)
        };
        let mut best: Vec<(f64, &Won)> = Vec::with_capacity(limit + 1);
        loop {
            let w = match (left.checked_sub(1).map(|i| &band[i]), band.get(right)) {
                (None, None) => break,
                (Some(l), Some(r))
                    if (deal.amount - l.amount).abs() <= (r.amount - deal.amount).abs() =>
                {
                    left -= 1;
                    l
                }
                (Some(l), None) => {
                    left -= 1;
                    l
                }
                (_, Some(r)) => {
                    right += 1;
                    r
                }
            };
            let c = closeness(w);
            if best.len() == limit && 0.5 * c + 0.5 < best[limit - 1].0 {
                break;
            }
            if w.deal_id == deal.deal_id {
                continue;
            }
            let shared = factors
                .iter()
                .filter(|f| shares(w, deal, **f, age_days))
                .count();
            if shared == 0 {
                continue;
            }
            let overlap = shared as f64 / factors.len().max(1) as f64;
            let hit = (0.5 * c + 0.5 * overlap, w);
            let at = best.partition_point(|x| order(x, &hit).is_lt());
            if at < limit {
                best.insert(at, hit);
                best.truncate(limit);
            }
        }
        best.into_iter().map(|(s, w)| shown(deal, w, s)).collect()
    }

    /// Fills `score.similar_deals` (up to 3) from the score's own factors.
    pub fn fill(&self, deal: &Deal, as_of: NaiveDate, score: &mut DealScore) {
        let codes: Vec<FactorCode> = score.risk_factors.iter().map(|f| f.code).collect();
        score.similar_deals = self.similar(deal, &codes, deal.age_on(as_of), 3);
    }
}

/// A won deal as shown next to `deal`, with its similarity.
fn shown(deal: &Deal, w: &Won, similarity: f64) -> SimilarDeal {
    SimilarDeal {
        deal_id: w.deal_id.clone(),
        company: w.company.clone(),
        industry: deal.industry.clone(),
        lead_source: w.lead_source.clone(),
        amount: w.amount,
        sales_cycle_days: w.cycle,
        similarity,
    }
}

fn shares(w: &Won, deal: &Deal, f: FactorCode, age_days: i64) -> bool {
    match f {
        FactorCode::Industry | FactorCode::DealSize => true,
        FactorCode::LeadSource => w.lead_source == deal.lead_source,
        FactorCode::ProductType => w.product_type == deal.product_type,
        FactorCode::Region => w.region == deal.region,
        FactorCode::DealAge => w.cycle.is_some_and(|c| c >= age_days),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testdata::closed_deal;

    #[test]
    fn similar_deals_are_won_same_industry_within_30_percent_and_ranked() {
        let mut history = vec![
            closed_deal("close", "SaaS", "Partner", 10_100.0, 30, true),
            closed_deal("far", "SaaS", "Partner", 12_900.0, 30, true),
            closed_deal("too_big", "SaaS", "Partner", 14_000.0, 30, true),
            closed_deal("lost", "SaaS", "Partner", 10_000.0, 30, false),
            closed_deal("other_industry", "FinTech", "Partner", 10_000.0, 30, true),
            closed_deal("no_overlap", "SaaS", "Inbound", 10_000.0, 30, true),
        ];
        history[5].region = "APAC".into();
        let index = SimilarIndex::build(&history);
        let deal = closed_deal("me", "SaaS", "Partner", 10_000.0, 0, false);
        let got = index.similar(&deal, &[FactorCode::LeadSource, FactorCode::Region], 10, 3);
        let ids: Vec<&str> = got.iter().map(|s| s.deal_id.as_str()).collect();
        assert_eq!(ids, vec!["close", "far"]);
        assert!(got[0].similarity > got[1].similarity);
        assert!(got.iter().all(|s| (0.0..=1.0).contains(&s.similarity)));
    }

    /// The early-stopping walk gives exactly what ranking the whole ±30 % band gives.
    #[test]
    fn the_nearest_first_walk_equals_ranking_the_whole_band() {
        let sources = ["Partner", "Inbound", "Referral"];
        let regions = ["APAC", "Europe", "North America"];
        let mut history = Vec::new();
        for i in 0..600u32 {
            // Repeated amounts make ties; a few hundred distinct values spread over the band.
            let amount = 5_000.0 + f64::from((i * 7919) % 300) * 50.0;
            let mut d = closed_deal(
                &format!("W{i:04}"),
                "SaaS",
                sources[(i % 3) as usize],
                amount,
                10 + (i % 90) as i64,
                i % 5 != 0,
            );
            d.region = regions[(i / 3 % 3) as usize].into();
            history.push(d);
        }
        let index = SimilarIndex::build(&history);
        let all = [
            FactorCode::LeadSource,
            FactorCode::Region,
            FactorCode::DealAge,
        ];
        for (k, amount) in [4_000.0, 9_000.0, 12_345.0, 17_000.0, 21_000.0]
            .iter()
            .enumerate()
        {
            let mut deal = closed_deal("me", "SaaS", sources[k % 3], *amount, 0, false);
            deal.region = regions[(k + 1) % 3].into();
            for factors in [&all[..], &all[..1], &all[1..]] {
                for limit in [1, 3, 10] {
                    let got = index.similar(&deal, factors, 40, limit);
                    let want = brute_force(&index, &deal, factors, 40, limit);
                    assert_eq!(got, want, "amount {amount}, {factors:?}, limit {limit}");
                }
            }
        }
    }

    /// Ranks every won deal in the band, as the index did before it stopped early.
    fn brute_force(
        index: &SimilarIndex,
        deal: &Deal,
        factors: &[FactorCode],
        age: i64,
        limit: usize,
    ) -> Vec<SimilarDeal> {
        let pool = &index.by_industry[&deal.industry];
        let (lo, hi) = (deal.amount * 0.7, deal.amount * 1.3);
        let mut hits: Vec<(f64, &Won)> = pool
            .iter()
            .filter(|w| w.amount >= lo && w.amount <= hi && w.deal_id != deal.deal_id)
            .filter_map(|w| {
                let shared = factors.iter().filter(|f| shares(w, deal, **f, age)).count();
                let closeness = 1.0
                    - ((w.amount - deal.amount).abs()
                        / (deal.amount.abs() * AMOUNT_BAND).max(1e-9))
                    .min(1.0);
                (shared > 0).then(|| {
                    (
                        0.5 * closeness + 0.5 * shared as f64 / factors.len() as f64,
                        w,
                    )
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.deal_id.cmp(&b.1.deal_id))
        });
        hits.into_iter()
            .take(limit)
            .map(|(s, w)| shown(deal, w, s))
            .collect()
    }
}
