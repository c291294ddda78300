//! Recommendations: one table of rules mapping a deal's factors and category to actions.
//! To change what reps are told, edit `RULES` (order = display order within a priority).
use std::borrow::Cow;

use super::explain::FactorImpact;
use super::features::Observation;
use crate::domain::{Deal, FactorCode, Priority, Recommendation, RiskCategory};

/// What a rule may look at.
pub struct RuleInput<'a> {
    pub deal: &'a Deal,
    pub category: RiskCategory,
    pub factors: &'a [FactorImpact; 3],
    pub obs: &'a Observation,
    pub large_amount: f64,
}

impl RuleInput<'_> {
    /// Is `code` among this deal's three factors and raising risk (or a fired warning)?
    fn hurts(&self, code: FactorCode) -> bool {
        self.factors
            .iter()
            .any(|f| f.code == code && (f.impact > 0.0 || f.rule_based))
    }
    fn weakest_segment(&self) -> Option<FactorCode> {
        self.factors
            .iter()
            .filter(|f| f.impact > 0.0)
            .find(|f| {
                matches!(
                    f.code,
                    FactorCode::Industry | FactorCode::ProductType | FactorCode::Region
                )
            })
            .map(|f| f.code)
    }
}

pub struct Rule {
    pub id: &'static str,
    pub priority: Priority,
    pub when: fn(&RuleInput) -> bool,
    /// `{segment}` is replaced by the deal's weakest segment value.
    pub action: &'static str,
    pub rationale: &'static str,
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "executive_sponsor",
        priority: Priority::Immediate,
        when: |r| r.category == RiskCategory::Critical,
        action: "Bring in an executive sponsor within 24 hours",
        rationale: "Critical deals are rarely saved by the rep alone; senior attention changes the buyer's calculus",
    },
    Rule {
        id: "re_engage",
        priority: Priority::Immediate,
        when: |r| r.hurts(FactorCode::Inactivity),
        action: "Re-engage the buyer today: call the champion and book a concrete next step",
        rationale: "Silent deals go cold; each week without contact lowers the chance to close",
    },
    Rule {
        id: "mutual_close_plan",
        priority: Priority::Immediate,
        when: |r| r.obs.quarter_end && r.deal.amount > r.large_amount,
        action: "Agree a mutual close plan with the buyer (owners and dates for every remaining step)",
        rationale: "Large deals at quarter end slip when legal, procurement and signature steps are unplanned",
    },
    Rule {
        id: "timeline_milestones",
        priority: Priority::ThisWeek,
        when: |r| r.hurts(FactorCode::DealAge) || r.hurts(FactorCode::StageStall),
        action: "Set a timeline with milestones and a decision date with the buyer",
        rationale: "This deal has been open longer than similar deals take to close; a dated plan exposes stalls early",
    },
    Rule {
        id: "partner_joint_call",
        priority: Priority::ThisWeek,
        when: |r| {
            r.hurts(FactorCode::LeadSource) && r.deal.lead_source.eq_ignore_ascii_case("partner")
        },
        action: "Hold a joint call with the partner manager to align on the buyer's decision process",
        rationale: "Partner-sourced deals lose more often in your history when the partner and rep are not aligned",
    },
    Rule {
        id: "segment_case_studies",
        priority: Priority::ThisWeek,
        when: |r| r.weakest_segment().is_some(),
        action: "Share case studies from won deals in {segment}",
        rationale: "This segment wins less often; proof from similar customers answers the doubts that sink these deals",
    },
    Rule {
        id: "reconfirm_timeline",
        priority: Priority::ThisWeek,
        when: |r| r.hurts(FactorCode::CloseDatePushes),
        action: "Ask the buyer what changed and reconfirm the decision process and date",
        rationale: "Repeated close-date pushes usually mean a missing approver or a lost priority",
    },
    Rule {
        id: "revalidate_budget",
        priority: Priority::ThisWeek,
        when: |r| r.hurts(FactorCode::AmountCut),
        action: "Revalidate scope and budget with the economic buyer",
        rationale: "A cut amount often signals budget pressure that can end the deal",
    },
    Rule {
        id: "pipeline_review",
        priority: Priority::Ongoing,
        when: |r| r.category == RiskCategory::High,
        action: "Review this deal in the weekly pipeline meeting until its risk drops",
        rationale: "High-risk deals benefit from a second pair of eyes before they become critical",
    },
];

/// Used when no rule fires, so every score carries at least one action.
pub static FALLBACK: Rule = Rule {
    id: "confirm_next_step",
    priority: Priority::Ongoing,
    when: |_| true,
    action: "Confirm the next step and its date with the buyer",
    rationale: "Every open deal should have a dated next step agreed with the buyer",
};

pub fn recommend(input: &RuleInput) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = RULES
        .iter()
        .filter(|r| (r.when)(input))
        .map(|r| to_recommendation(r, input))
        .collect();
    if out.is_empty() {
        out.push(to_recommendation(&FALLBACK, input));
    }
    out.sort_by_key(|r| r.priority);
    out
}

fn to_recommendation(rule: &Rule, input: &RuleInput) -> Recommendation {
    let action = if rule.action.contains("{segment}") {
        let value = match input.weakest_segment() {
            Some(FactorCode::ProductType) => &input.deal.product_type,
            Some(FactorCode::Region) => &input.deal.region,
            _ => &input.deal.industry,
        };
        Cow::Owned(rule.action.replace("{segment}", value))
    } else {
        Cow::Borrowed(rule.action)
    };
    Recommendation {
        rule: Cow::Borrowed(rule.id),
        priority: rule.priority,
        action,
        rationale: Cow::Borrowed(rule.rationale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::features::observe;
    use crate::engine::segments::SegmentStats;
    use crate::engine::testdata::{closed_deal, date};

    fn factor(code: FactorCode, impact: f64) -> FactorImpact {
        FactorImpact {
            code,
            impact,
            impact_pp: -impact * 20.0,
            rule_based: false,
        }
    }

    #[test]
    fn rules_map_factors_and_category_to_prioritised_actions() {
        let history: Vec<Deal> = (0..20)
            .map(|i| {
                closed_deal(
                    &format!("H{i}"),
                    "SaaS",
                    "Partner",
                    10_000.0,
                    30,
                    i % 3 == 0,
                )
            })
            .collect();
        let stats = SegmentStats::from_closed(&history, 10);
        let mut deal = Deal::example("D");
        deal.lead_source = "Partner".into();
        deal.amount = 500_000.0;
        let obs = observe(&deal, date("2024-03-29"), &stats, None);
        let factors = [
            factor(FactorCode::LeadSource, 0.4),
            factor(FactorCode::DealAge, 0.2),
            factor(FactorCode::Industry, 0.1),
        ];
        let input = RuleInput {
            deal: &deal,
            category: RiskCategory::Critical,
            factors: &factors,
            obs: &obs,
            large_amount: stats.amount_p75,
        };
        let recs = recommend(&input);
        let rules: Vec<&str> = recs.iter().map(|r| r.rule.as_ref()).collect();
        for want in [
            "executive_sponsor",
            "mutual_close_plan",
            "timeline_milestones",
            "partner_joint_call",
            "segment_case_studies",
        ] {
            assert!(rules.contains(&want), "{want} missing from {rules:?}");
        }
        assert_eq!(
            recs[0].priority,
            Priority::Immediate,
            "immediate actions first"
        );
        let case = recs
            .iter()
            .find(|r| r.rule == "segment_case_studies")
            .unwrap();
        assert_eq!(case.action, "Share case studies from won deals in SaaS");

        let calm = [
            factor(FactorCode::Timing, -0.1),
            factor(FactorCode::Region, -0.2),
            factor(FactorCode::DealSize, -0.3),
        ];
        let small = Deal {
            amount: 5_000.0,
            ..deal.clone()
        };
        let quiet = RuleInput {
            deal: &small,
            category: RiskCategory::Low,
            factors: &calm,
            ..input
        };
        let recs = recommend(&quiet);
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0].rule, FALLBACK.id);
    }
}
