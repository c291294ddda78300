//! The records around pulled Opportunities: their OpportunityHistory (stage, close-date and
//! amount signals) and their owners with up to three levels of managers.
use super::bulk;
use super::client::{FlatRecord, SfClient, SfError};
use super::context::SyncConfig;
use super::pull;
use chrono::NaiveDate;
use std::collections::HashSet;

/// Ids per `IN (…)` list (keeps SOQL well under its length limit).
pub(super) const IN_CHUNK: usize = 200;

/// OpportunityHistory of `ids`: one Bulk query for a large pull, else `IN (…)` chunks.
pub(super) async fn history(
    client: &SfClient,
    cfg: &SyncConfig,
    ids: &[String],
    bulk_history: bool,
    as_of: NaiveDate,
) -> anyhow::Result<Vec<FlatRecord>> {
    let hist_fields = pull::HISTORY_FIELDS.join(", ");
    if bulk_history {
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let soql = history_bulk_soql(&hist_fields, as_of, cfg.history_window);
        return Ok(bulk::query(client, &soql, false, cfg.bulk_poll)
            .await?
            .into_iter()
            .filter(|r| {
                r.get("OpportunityId")
                    .and_then(|v| v.as_deref())
                    .is_some_and(|id| wanted.contains(id))
            })
            .collect());
    }
    let mut rows = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        rows.extend(
            client
                .query(
                    &format!(
                        "SELECT {hist_fields} FROM OpportunityHistory WHERE OpportunityId IN ({})",
                        pull::soql_list(chunk)
                    ),
                    false,
                )
                .await?,
        );
    }
    Ok(rows)
}

/// The first load's one Bulk query for history: open Opportunities only (closed ones are not
/// scored) and snapshots within the window, never the whole org's history.
fn history_bulk_soql(fields: &str, as_of: NaiveDate, window: chrono::Duration) -> String {
    let since = (as_of - window)
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    format!(
        "SELECT {fields} FROM OpportunityHistory WHERE Opportunity.IsClosed = false AND CreatedDate >= {}",
        pull::soql_datetime(since)
    )
}

/// Owners of the pulled Opportunities and their managers (up to three levels up).
pub(super) async fn pull_users(
    client: &SfClient,
    live: &[FlatRecord],
) -> Result<Vec<crate::store::SfUser>, SfError> {
    let mut wanted: Vec<String> = live
        .iter()
        .filter_map(|r| r.get("OwnerId").cloned().flatten())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = Vec::new();
    for _level in 0..4 {
        wanted.retain(|id| seen.insert(id.clone()));
        if wanted.is_empty() {
            break;
        }
        wanted.sort();
        let mut next = Vec::new();
        for chunk in wanted.chunks(IN_CHUNK) {
            let got = client
                .query(
                    &format!(
                        "SELECT {} FROM User WHERE Id IN ({})",
                        pull::USER_FIELDS.join(", "),
                        pull::soql_list(chunk)
                    ),
                    false,
                )
                .await?;
            next.extend(
                got.iter()
                    .filter_map(|r| r.get("ManagerId").cloned().flatten()),
            );
            rows.extend(got);
        }
        wanted = next;
    }
    Ok(pull::to_users(&rows))
}
