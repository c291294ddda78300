//! The daily alert budget per recipient (issue 16): past it, critical deals roll into the
//! digest, the riskiest deals get the alerts, and the last alert's payload says so. Bands and
//! budget are per tenant.
use crate::support::{AlertHarness, score, utc};
use skygeni::domain::{Deal, RiskBands, RiskCategory};
use skygeni::notify::planner::AlertPolicy;
use skygeni::store::RiskSettingsRow;
use std::collections::HashMap;

/// Stores `n` open deals B0.. owned by rep1.
async fn rep_deals(h: &AlertHarness, n: usize) {
    let deals: Vec<Deal> = (0..n)
        .map(|i| {
            let mut d = Deal::example(&format!("B{i}"));
            d.sales_rep_id = "rep1".into();
            d
        })
        .collect();
    h.store
        .upsert_deals(&h.tenant, &deals, &mut |_| {})
        .await
        .unwrap();
}

async fn critical_burst(h: &AlertHarness, n: usize, at: &str) -> HashMap<String, usize> {
    rep_deals(h, n).await;
    // Riskier deals later in the list: the budget must still go to them first.
    let scores: Vec<_> = (0..n)
        .map(|i| score(&format!("B{i}"), 76 + i as u8))
        .collect();
    h.store
        .record_scores(
            &h.tenant,
            utc(at),
            &scores,
            &AlertPolicy::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    let mut per_user = HashMap::new();
    for u in h
        .store
        .unscoped_texts_for_tests(&h.tenant, "SELECT user_id FROM alerts")
        .await
        .unwrap()
    {
        *per_user.entry(u).or_default() += 1;
    }
    per_user
}

#[tokio::test]
async fn past_five_critical_alerts_a_day_the_rest_roll_into_the_digest() {
    let h = AlertHarness::new("UTC", "UTC").await;
    let per_user = critical_burst(&h, 8, "2024-06-03T10:00:00Z").await;
    assert_eq!(per_user.get("rep1"), Some(&5), "{per_user:?}");
    assert_eq!(per_user.get("mgr"), Some(&5), "{per_user:?}");
    let alerted = h
        .store
        .unscoped_texts_for_tests(
            &h.tenant,
            "SELECT deal_id FROM alerts WHERE user_id = 'rep1'",
        )
        .await
        .unwrap();
    for riskiest in ["B7", "B6", "B5", "B4", "B3"] {
        assert!(
            alerted.iter().any(|d| d == riskiest),
            "{riskiest} not in {alerted:?}"
        );
    }
    let payloads = h
        .store
        .unscoped_texts_for_tests(&h.tenant, "SELECT payload FROM outbox")
        .await
        .unwrap();
    let last = payloads.iter().filter(|p| p.contains("\"sent\":5")).count();
    assert!(
        last >= 2,
        "the fifth alert of each recipient carries its budget: {last}"
    );
}

#[tokio::test]
async fn a_tenant_sets_its_own_budget_and_bands() {
    let h = AlertHarness::new("UTC", "UTC").await;
    h.store
        .set_risk_settings(
            &h.tenant,
            RiskSettingsRow {
                low_max: 40,
                medium_max: 70,
                high_max: 90,
                alerts_per_day: 2,
            },
        )
        .await
        .unwrap();
    let per_user = critical_burst(&h, 4, "2024-06-03T10:00:00Z").await;
    assert_eq!(per_user.get("rep1"), Some(&2), "{per_user:?}");
    let bands = h.store.risk_bands(&h.tenant).await.unwrap().expect("set");
    assert_eq!(bands, RiskBands::new(40, 70, 90).unwrap());
    assert_eq!(bands.category(85), RiskCategory::High);
    // Edges out of order never reach the table.
    let bad = h
        .store
        .set_risk_settings(
            &h.tenant,
            RiskSettingsRow {
                low_max: 70,
                medium_max: 40,
                high_max: 90,
                alerts_per_day: 2,
            },
        )
        .await;
    assert!(bad.is_err(), "the CHECK refuses edges out of order");
}

#[tokio::test]
async fn the_alert_dm_says_where_the_deal_stands_the_low_skill_line_and_the_spent_budget() {
    use skygeni::engine::{LOW_SKILL_LINE, PipelineRanks};
    use skygeni::notify::outbox::AlertContext;
    let h = AlertHarness::new("UTC", "UTC").await;
    rep_deals(&h, 5).await;
    let scores: Vec<_> = (0..5)
        .map(|i| score(&format!("B{i}"), 76 + i as u8))
        .collect();
    let ranks = PipelineRanks::from_scores(&scores, 0.2);
    let context = AlertContext {
        relative: scores
            .iter()
            .map(|s| (s.deal_id.clone(), ranks.of(s)))
            .collect(),
        skill_line: Some(LOW_SKILL_LINE.to_string()),
    };
    let at = utc("2024-06-03T10:00:00Z");
    h.store
        .record_scores(
            &h.tenant,
            at,
            &scores,
            &AlertPolicy::new(context),
            &mut |_| {},
        )
        .await
        .unwrap();
    h.dispatch(at).await;
    let dms: Vec<String> = h
        .slack
        .calls_to("chat.postMessage")
        .iter()
        .filter(|c| c.body["channel"] == "UREP")
        .map(|c| c.body.to_string())
        .collect();
    assert_eq!(dms.len(), 5, "{dms:?}");
    let riskiest = ranks.of(&scores[4]).sentence();
    assert!(
        dms.iter().any(|d| d.contains(&riskiest)),
        "{riskiest} in {dms:?}"
    );
    assert!(dms.iter().all(|d| d.contains("riskier than")), "{dms:?}");
    assert!(dms.iter().all(|d| d.contains(LOW_SKILL_LINE)), "{dms:?}");
    let noted: Vec<_> = dms
        .iter()
        .filter(|d| d.contains("further critical deals roll into your digest"))
        .collect();
    assert_eq!(
        noted.len(),
        1,
        "only the fifth DM carries the budget note: {dms:?}"
    );
    assert!(noted[0].contains("alert 5 of 5"), "{noted:?}");
}
