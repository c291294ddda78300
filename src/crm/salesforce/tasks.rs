//! Follow-up Tasks from recommendations: one Task per (deal, action, risk level) for the
//! deal's owner, upserted on the `SkyGeni_Key__c` external id so a rerun never duplicates it.
//! Keys already created are remembered and never sent again, so a Task the rep closed is
//! neither reopened nor recreated for the same action and score level.
use super::client::SfClient;
use super::fields::TASK_KEY_FIELD;
use crate::crm::source::{RecordError, TaskCounts};
use crate::domain::{Deal, DealScore, Priority, TenantId};
use crate::store::Store;
use chrono::NaiveDate;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// `deal:rule:level`, hashed when it would not fit the 100-character external id.
pub fn task_key(deal_id: &str, rule: &str, level: &str) -> String {
    let key = format!("{deal_id}:{rule}:{level}");
    if key.len() <= 100 {
        return key;
    }
    format!(
        "{}:{}",
        &deal_id[..deal_id.len().min(40)],
        hex::encode(&Sha256::digest(key.as_bytes())[..16])
    )
}

/// Due date and Task priority for a recommendation priority.
fn due(priority: Priority, as_of: NaiveDate) -> (NaiveDate, &'static str) {
    match priority {
        Priority::Immediate => (as_of + chrono::Duration::days(1), "High"),
        Priority::ThisWeek => (as_of + chrono::Duration::days(5), "Normal"),
        Priority::Ongoing => (as_of + chrono::Duration::days(14), "Low"),
    }
}

/// Create the Tasks the scores ask for. `this_week`: also for "this_week" recommendations.
pub async fn create_tasks(
    client: &SfClient,
    store: &Store,
    tenant: &TenantId,
    deals: &[Deal],
    scores: &[DealScore],
    as_of: NaiveDate,
    this_week: bool,
) -> anyhow::Result<TaskCounts> {
    let known = store.sf_task_keys(tenant).await?;
    let by_id: HashMap<&str, &Deal> = deals.iter().map(|d| (d.deal_id.as_str(), d)).collect();
    let mut counts = TaskCounts::default();
    let mut wanted: Vec<(String, String, Value)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in scores {
        let Some(deal) = by_id.get(s.deal_id.as_str()) else {
            continue;
        };
        for r in &s.recommendations {
            if !(r.priority == Priority::Immediate
                || (this_week && r.priority == Priority::ThisWeek))
            {
                continue;
            }
            let key = task_key(&s.deal_id, &r.rule, s.risk_category.as_str());
            if known.contains(&key) || !seen.insert(key.clone()) {
                counts.skipped += 1;
                continue;
            }
            let (date, prio) = due(r.priority, as_of);
            let description = format!(
                "{}\n\nRisk score {} ({}), win probability {:.0} %. Created by SkyGeni; close this Task when done.",
                r.rationale,
                s.risk_score,
                s.risk_category.as_str(),
                s.win_probability * 100.0
            );
            let mut rec = json!({
                "attributes": {"type": "Task"},
                (TASK_KEY_FIELD.api_name): key,
                "WhatId": s.deal_id,
                "Subject": r.action.chars().take(255).collect::<String>(),
                "Description": description,
                "ActivityDate": date.to_string(),
                "Priority": prio,
                "Status": "Not Started",
            });
            // Only Salesforce user ids can own a Task (CSV-imported deals have other rep ids).
            if deal.sales_rep_id.starts_with("005") {
                rec["OwnerId"] = json!(deal.sales_rep_id);
            }
            wanted.push((key, s.deal_id.clone(), rec));
        }
    }
    let path = client.data_path(&format!(
        "composite/sobjects/Task/{}",
        TASK_KEY_FIELD.api_name
    ));
    for chunk in wanted.chunks(super::writeback::COLLECTION_CHUNK) {
        let records: Vec<Value> = chunk.iter().map(|(_, _, r)| r.clone()).collect();
        let res = client
            .send_json(
                Method::PATCH,
                &path,
                json!({"allOrNone": false, "records": records}),
            )
            .await?;
        let mut done = Vec::new();
        for ((key, deal, _), r) in chunk.iter().zip(res.as_array().into_iter().flatten()) {
            if r["success"].as_bool().unwrap_or(false) {
                if r["created"].as_bool() == Some(true) {
                    counts.created += 1;
                } else {
                    counts.matched += 1;
                }
                done.push((
                    key.clone(),
                    deal.clone(),
                    r["id"].as_str().map(str::to_string),
                ));
            } else {
                counts.failed += 1;
                let err = &r["errors"][0];
                let code = err["statusCode"].as_str().unwrap_or("UNKNOWN").to_string();
                let permanent = !super::writeback::is_transient(&code);
                super::writeback::count_error("Task", &code, permanent);
                tracing::warn!(tenant = %tenant, %key, errors = %r["errors"], permanent, "Salesforce Task upsert failed");
                counts.errors.push(RecordError {
                    object: "Task",
                    record_id: deal.clone(),
                    message: format!(
                        "{} (Task {key})",
                        err["message"].as_str().unwrap_or_default()
                    ),
                    status_code: code,
                    permanent,
                });
                // The same Task would be refused again tomorrow: remember the key (no Task id).
                if permanent {
                    done.push((key.clone(), deal.clone(), None));
                }
            }
        }
        store.record_sf_tasks(tenant, &done).await?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_keys_fit_the_external_id_field_and_name_action_and_level() {
        assert_eq!(
            super::task_key("006A", "stalled", "high"),
            "006A:stalled:high"
        );
        let long = super::task_key(&"0".repeat(90), "a_long_rule_name", "critical");
        assert!(long.len() <= 100, "{long}");
        assert_ne!(
            long,
            super::task_key(&"0".repeat(90), "a_long_rule_name", "high")
        );
    }
}
