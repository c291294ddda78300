//! Pulling from the fake org: the first load by Bulk API (history filtered to the window),
//! incremental loads page by page, deletions, schema halts, and picklist values on model segments.
use crate::support::{now, org};
use serde_json::json;

#[tokio::test]
async fn a_first_load_pulls_everything_with_bulk_and_writes_scores_back() {
    let o = org(40).await;
    let r = o.sync().await;
    assert_eq!(r.status, "ok", "{r:?}");
    assert!(
        r.full_load && r.used_bulk_query,
        "first loads use Bulk API 2.0"
    );
    assert_eq!(r.pulled, 40);
    assert_eq!(r.rejected, 0, "{:?}", r.quality);
    assert_eq!(o.store.count_deals(&o.tenant).await.unwrap(), 40);
    assert_eq!(r.users, 4, "three owners and their manager");
    let manager = o
        .store
        .get_user(&o.tenant, "005MGR000000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(manager.role, "manager");
    let rep = o
        .store
        .get_user(&o.tenant, "005REP000000000000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            rep.role.as_str(),
            rep.manager_id.as_deref(),
            rep.time_zone.as_str()
        ),
        ("rep", Some("005MGR000000000001"), "America/New_York")
    );
    let open = o.open_ids();
    assert_eq!(r.scored as usize, open.len());
    assert_eq!(r.written_back as usize, open.len());
    let deals = o.store.load_open_deals(&o.tenant).await.unwrap();
    assert!(
        deals
            .iter()
            .all(|d| d.stage_entered_date.is_some() && d.close_date_pushes.is_some()),
        "history feeds the activity signals"
    );
    assert!(deals.iter().any(|d| d.close_date_pushes == Some(1)));
    assert!(deals.iter().all(|d| {
        d.owner_email
            .as_deref()
            .is_some_and(|e| e.ends_with("@example.com"))
    }));
    let rec = o.fake.record("Opportunity", &open[0]).unwrap();
    let score = rec["Risk_Score__c"].as_f64().expect("score written");
    assert!((0.0..=100.0).contains(&score));
    // Relative risk ends the factors text (issue 16).
    let factors = rec["Risk_Factors__c"].as_str().expect("factors written");
    assert!(
        factors.contains("\nRelative risk: riskier than ") && factors.ends_with("usual loss rate"),
        "{factors}"
    );
    assert!(
        ["low", "medium", "high", "critical"].contains(&rec["Risk_Category__c"].as_str().unwrap())
    );
    assert!(
        rec["Risk_Scored_At__c"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-28T06:00:00")
    );
    assert_eq!(
        o.fake.count("POST", "/jobs/query"),
        2,
        "Opportunities and their history by Bulk query"
    );
    assert!(r.high_water_mark.is_some());
    let state = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!((state.status.as_str(), state.last_count), ("ok", Some(40)));
    assert!(r.api_calls > 0 && r.api_calls < 40, "{} calls", r.api_calls);
}

#[tokio::test]
async fn an_incremental_sync_pulls_only_what_changed_page_by_page() {
    let o = org(12).await;
    o.sync().await;
    // Our own write-back moved SystemModstamp; the next sync absorbs that and writes nothing.
    let settle = o.sync().await;
    assert!(!settle.full_load && !settle.used_bulk_query);
    assert_eq!(settle.written_back, 0);
    o.fake.advance(chrono::Duration::hours(1));
    let ids = o.open_ids();
    o.fake.edit(
        "Opportunity",
        &ids[0],
        json!({"Amount": 66_666.0}).as_object().unwrap().clone(),
    );
    o.sync().await;
    o.fake.advance(chrono::Duration::hours(1));
    o.fake.set_page_size(1);
    o.fake.edit(
        "Opportunity",
        &ids[1],
        json!({"Amount": 77_777.0}).as_object().unwrap().clone(),
    );
    o.fake.edit(
        "Opportunity",
        &ids[2],
        json!({"StageName": "Negotiation"})
            .as_object()
            .unwrap()
            .clone(),
    );
    o.fake.clear_calls();
    let r = o.sync().await;
    assert_eq!(r.status, "ok");
    // ids[0] changed within the overlap window before the high-water mark, so it is re-read
    // (and found unchanged); everything older is not.
    assert_eq!((r.pulled, r.upserted, r.unchanged), (3, 2, 1), "{r:?}");
    assert!(
        o.fake.count("GET", "/query/") >= 1,
        "followed nextRecordsUrl"
    );
    assert!(
        o.fake
            .calls()
            .iter()
            .any(|c| c.path.contains("queryAll") && c.path.contains("SystemModstamp"))
    );
    let deal = o.stored_deal(&ids[1]).await.unwrap();
    assert_eq!(deal.amount, 77_777.0);
}

#[tokio::test]
async fn a_deleted_opportunity_is_removed_and_a_big_drop_is_flagged() {
    let o = org(10).await;
    o.sync().await;
    o.sync().await;
    o.fake.advance(chrono::Duration::hours(1));
    let ids = o.open_ids();
    for id in &ids[..3] {
        o.fake.delete("Opportunity", id);
    }
    let r = o.sync().await;
    assert_eq!(r.deleted, 3, "{r:?}");
    assert!(r.volume_drop, "10 → 7 is a drop of more than 20 %");
    assert_eq!(r.status, "ok_volume_drop");
    let left = o.store.load_deals(&o.tenant).await.unwrap();
    assert_eq!(left.len(), 7);
    assert!(!left.iter().any(|d| d.deal_id == ids[0]));
}

#[tokio::test]
async fn a_schema_change_halts_the_tenant_with_a_clear_reason() {
    let o = org(5).await;
    o.fake.remove_field("Opportunity", "StageName");
    o.fake
        .set_field_type("Opportunity", "Risk_Score__c", "string");
    let r = o.sync().await;
    assert_eq!(r.status, "halted");
    let why = r.schema_halt.unwrap();
    assert!(why.contains("Opportunity.StageName is missing"), "{why}");
    assert!(
        why.contains("Risk_Score__c changed type to string"),
        "{why}"
    );
    assert_eq!(
        o.store.count_deals(&o.tenant).await.unwrap(),
        0,
        "nothing pulled"
    );
    let state = o.store.sync_state(&o.tenant, "salesforce").await.unwrap();
    assert_eq!(state.status, "halted");
    assert!(state.detail.unwrap().contains("StageName"));
    assert_eq!(state.high_water_mark, None);
}

#[tokio::test]
async fn the_first_load_reads_history_of_open_opportunities_in_the_window_only() {
    let o = org(40).await;
    let open: std::collections::HashSet<String> = o.open_ids().into_iter().collect();
    // An open deal's snapshot from four years ago is outside the window.
    let old_deal = o.open_ids()[0].clone();
    let mut h = serde_json::Map::new();
    for (k, v) in [
        ("Id", json!("008OLDSNAPSHOT0001")),
        ("OpportunityId", json!(old_deal)),
        ("StageName", json!("Prospecting")),
        ("Amount", json!(1000.0)),
        ("CloseDate", json!("2022-06-01")),
        ("CreatedDate", json!("2022-01-05T09:00:00.000+0000")),
    ] {
        h.insert(k.into(), v);
    }
    o.fake.put("OpportunityHistory", h);
    let r = o.sync().await;
    assert!(r.full_load && r.used_bulk_query);
    let history: Vec<(String, usize)> = o
        .fake
        .bulk_queries()
        .into_iter()
        .filter(|(q, _)| q.contains("FROM OpportunityHistory"))
        .collect();
    assert_eq!(history.len(), 1, "{history:?}");
    let (soql, rows) = &history[0];
    assert!(
        soql.contains("Opportunity.IsClosed = false") && soql.contains("CreatedDate >="),
        "{soql}"
    );
    let cutoff = (now() - chrono::Duration::days(730)).to_rfc3339();
    let wanted = o
        .fake
        .records("OpportunityHistory")
        .iter()
        .filter(|h| open.contains(h["OpportunityId"].as_str().unwrap()))
        .filter(|h| h["CreatedDate"].as_str().unwrap() >= &cutoff[..10])
        .count();
    let all = o.fake.records("OpportunityHistory").len();
    assert_eq!(
        *rows, wanted,
        "only open deals' recent history ({all} rows in the org)"
    );
    assert!(*rows < all);
}

#[tokio::test]
async fn standard_picklist_values_score_on_model_segments_and_unmapped_ones_are_reported() {
    let o = org(30).await;
    let r = o.sync().await;
    let deals = o.store.load_deals(&o.tenant).await.unwrap();
    let sources: std::collections::BTreeSet<&str> =
        deals.iter().map(|d| d.lead_source.as_str()).collect();
    assert!(
        sources
            .iter()
            .all(|s| ["Inbound", "Outbound", "Referral", "Partner"].contains(s)),
        "Web, Partner Referral, Purchased List, Employee Referral map onto the model: {sources:?}"
    );
    let industries: std::collections::BTreeSet<&str> =
        deals.iter().map(|d| d.industry.as_str()).collect();
    assert!(
        industries.contains("SaaS"),
        "Technology → SaaS: {industries:?}"
    );
    // Manufacturing has no model segment: said so in the report, not silently unseen.
    let unmapped = &r.quality.warnings["segment_value_unmapped"];
    assert!(
        unmapped
            .examples
            .iter()
            .all(|e| e.detail.contains("\"Manufacturing\"")),
        "{unmapped:?}"
    );
    assert_eq!(
        unmapped.count as usize,
        deals
            .iter()
            .filter(|d| d.industry == "Manufacturing")
            .count()
    );
    // The tenant maps it through the field mapping: no warning, deals land on the segment.
    o.store
        .set_sf_field_mapping(
            &o.tenant,
            r#"{"values": {"industry": {"Manufacturing": "SaaS"}}}"#,
        )
        .await
        .unwrap();
    for d in &deals {
        o.fake.edit(
            "Opportunity",
            &d.deal_id,
            json!({"Type": "Existing Business"})
                .as_object()
                .unwrap()
                .clone(),
        );
    }
    let again = o.sync_at(now() + chrono::Duration::hours(1)).await;
    assert!(
        !again
            .quality
            .warnings
            .contains_key("segment_value_unmapped"),
        "{:?}",
        again.quality
    );
    assert!(
        o.store
            .load_deals(&o.tenant)
            .await
            .unwrap()
            .iter()
            .all(|d| d.industry != "Manufacturing")
    );
}
