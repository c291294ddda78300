//! Writing back: only changed scores, failed records retried and permanent refusals reported once,
//! Tasks created once (counted by what the API created) and a closed one never reopened.
use crate::support::{TestDb, connect, now, org, sync_context};
use serde_json::json;
use skygeni::crm::salesforce::sync_tenant;
use skygeni::domain::TenantId;

#[tokio::test]
async fn only_changed_scores_are_written_back_and_failed_records_are_retried() {
    let o = org(20).await;
    let ids = o.open_ids();
    // Lock contention on one record (also on the in-run retry), another deleted meanwhile.
    for _ in 0..2 {
        o.fake.fail_next_write(&ids[0], "UNABLE_TO_LOCK_ROW");
    }
    o.fake.fail_next_write(&ids[1], "ENTITY_IS_DELETED");
    let first = o.sync().await;
    assert_eq!(
        (first.writeback_failed, first.writeback_skipped),
        (1, 1),
        "{first:?}"
    );
    assert_eq!(first.written_back as usize, ids.len() - 2);
    assert_eq!(
        o.fake
            .record("Opportunity", &ids[0])
            .unwrap()
            .get("Risk_Score__c"),
        None
    );
    let second = o.sync().await;
    assert_eq!(
        second.written_back, 1,
        "the locked record is retried, the deleted one is not"
    );
    assert!(o.fake.record("Opportunity", &ids[0]).unwrap()["Risk_Score__c"].is_number());
    o.fake.clear_calls();
    let third = o.sync().await;
    assert_eq!(third.written_back, 0);
    assert_eq!(third.writeback_unchanged as usize, ids.len());
    assert_eq!(
        o.fake.count("PATCH", "/composite/sobjects"),
        0,
        "unchanged scores are not sent"
    );
}

#[tokio::test]
async fn permanent_write_back_errors_are_reported_once_not_retried_and_locks_are_retried() {
    let o = org(12).await;
    let ids = o.open_ids();
    let rule = "Close Date must not be in the past for an open deal";
    o.fake
        .refuse_writes(&ids[0], "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule);
    o.fake.refuse_writes(
        &ids[1],
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "insufficient access rights on object id",
    );
    o.fake.fail_next_write(&ids[2], "ENTITY_IS_LOCKED");
    let first = o.sync().await;
    assert_eq!(
        (first.writeback_rejected, first.writeback_failed),
        (2, 0),
        "{first:?}"
    );
    assert_eq!(
        first.written_back as usize,
        ids.len() - 2,
        "the locked one landed on the in-run retry"
    );
    let v = serde_json::to_value(&first).unwrap();
    let errors = v["record_errors"].as_array().unwrap();
    let refused = errors
        .iter()
        .find(|e| e["record_id"] == json!(ids[0]))
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(
        (
            refused["status_code"].as_str(),
            refused["message"].as_str(),
            refused["permanent"].as_bool()
        ),
        (
            Some("FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            Some(rule),
            Some(true)
        )
    );
    // The locked record was tried twice in the run and landed; no error left to report.
    assert_eq!(o.fake.write_attempts(&ids[2]), 2);
    assert!(o.fake.record("Opportunity", &ids[2]).unwrap()["Risk_Score__c"].is_number());
    assert!(
        errors.iter().all(|e| e["record_id"] != json!(ids[2])),
        "{errors:?}"
    );
    let dq = &first.quality.warnings["salesforce_writeback_refused"];
    assert_eq!(dq.count, 2, "{dq:?}");
    assert!(
        dq.examples
            .iter()
            .any(|e| e.deal_id.as_deref() == Some(ids[0].as_str()) && e.detail.contains(rule))
    );
    let metrics = crate::support::metrics_text(&o.client, &o.base).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("skygeni_salesforce_record_errors_total")
                && l.contains("status_code=\"FIELD_CUSTOM_VALIDATION_EXCEPTION\"")
                && l.contains("kind=\"permanent\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("skygeni_salesforce_writeback_refused{tenant=\"default\"} 2"),
        "{metrics}"
    );
    // The next sync: the refused values are not sent again, and still reported.
    let attempts = o.fake.write_attempts(&ids[0]);
    let second = o.sync_at(now() + chrono::Duration::hours(1)).await;
    assert_eq!(
        o.fake.write_attempts(&ids[0]),
        attempts,
        "not retried every night"
    );
    assert_eq!(second.writeback_rejected, 0);
    assert_eq!(second.writeback_refused.len(), 2, "{second:?}");
    assert!(
        second
            .writeback_refused
            .iter()
            .all(|r| !r.status_code.is_empty() && !r.message.is_empty())
    );
    // Fixed in Salesforce and the values change: written again.
    o.fake.allow_writes(&ids[0]);
    o.fake.edit(
        "Opportunity",
        &ids[0],
        json!({"Amount": 7_777_777.0, "StageName": "Prospecting"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let third = o.sync_at(now() + chrono::Duration::hours(2)).await;
    assert!(
        third
            .writeback_refused
            .iter()
            .all(|r| r.record_id != ids[0]),
        "{third:?}"
    );
    assert!(o.fake.record("Opportunity", &ids[0]).unwrap()["Risk_Score__c"].is_number());
}

#[tokio::test]
async fn tasks_are_created_once_and_a_closed_task_is_never_reopened() {
    let o = org(30).await;
    let first = o.sync().await;
    assert!(first.tasks_created > 0, "{first:?}");
    let tasks = o.fake.records("Task");
    assert_eq!(tasks.len() as u64, first.tasks_created);
    let t = &tasks[0];
    assert!(
        t["SkyGeni_Key__c"]
            .as_str()
            .unwrap()
            .starts_with(t["WhatId"].as_str().unwrap())
    );
    assert!(t["OwnerId"].as_str().unwrap().starts_with("005"));
    assert_eq!(t["Priority"], "High");
    assert_eq!(t["ActivityDate"], "2026-11-29");
    let closed_id = t["Id"].as_str().unwrap().to_string();
    o.fake.complete_task(&closed_id);
    let again = o.sync().await;
    assert_eq!(again.tasks_created, 0);
    assert_eq!(again.tasks_skipped, first.tasks_created);
    assert_eq!(
        o.fake.records("Task").len() as u64,
        first.tasks_created,
        "no duplicates"
    );
    assert_eq!(
        o.fake.record("Task", &closed_id).unwrap()["IsClosed"],
        true,
        "still closed"
    );
}

#[tokio::test]
async fn tasks_created_counts_what_the_api_created_not_what_was_sent() {
    let o = org(30).await;
    let first = o.sync().await;
    assert!(first.tasks_created > 0, "{first:?}");
    let in_org = o.fake.records("Task").len() as u64;
    assert_eq!(first.tasks_created, in_org);
    // A second SkyGeni database on the same org (its Task memory lost): every upsert matches
    // a Task the org already has, and the API says created: false.
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    connect(&store, &tenant, &o.fake, &o.salesforce().url()).await;
    let ctx = sync_context(store, o.settings());
    let r = sync_tenant(&ctx, &tenant, now(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(
        (r.tasks_created, r.tasks_matched),
        (0, first.tasks_created),
        "{r:?}"
    );
    assert_eq!(o.fake.records("Task").len() as u64, in_org, "no duplicates");
}
