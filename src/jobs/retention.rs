//! Nightly retention purge per tenant: closed deals after 2 years, score history and audit
//! entries after 1 year, idempotency keys after 24 hours, finished job runs and sent outbox
//! rows after 30 days. `now` is an input so tests (and catch-up runs) control the cut-offs.
use crate::domain::TenantId;
use crate::store::{PurgeCounts, PurgeCutoffs, Store};
use anyhow::Context;
use chrono::{DateTime, Duration, Months, Utc};

/// Closed deals are kept this long after they close (win-rate history, similar deals).
pub const CLOSED_DEAL_RETENTION_MONTHS: u32 = 24;
/// Score history and audit entries.
pub const SCORE_AND_AUDIT_RETENTION_MONTHS: u32 = 12;
/// A client retrying with the same Idempotency-Key after this gets a fresh request
/// (the common 24-hour convention of payment APIs).
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::hours(24);
/// Finished job runs and sent outbox rows are kept for operators to look at, then dropped.
pub const DONE_WORK_RETENTION: Duration = Duration::days(30);

/// What one purge removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurgeReport {
    pub tenant: String,
    pub now: DateTime<Utc>,
    pub cutoffs: PurgeCutoffs,
    pub deleted: PurgeCounts,
}

/// The cut-offs the policy gives at `now`.
pub fn cutoffs(now: DateTime<Utc>) -> PurgeCutoffs {
    let months_back = |m: u32| {
        now.checked_sub_months(Months::new(m))
            .expect("a date a few years back is representable")
    };
    PurgeCutoffs {
        closed_deals_before: months_back(CLOSED_DEAL_RETENTION_MONTHS).date_naive(),
        scores_before: months_back(SCORE_AND_AUDIT_RETENTION_MONTHS),
        audit_before: months_back(SCORE_AND_AUDIT_RETENTION_MONTHS),
        idempotency_keys_before: now - IDEMPOTENCY_KEY_TTL,
        done_work_before: now - DONE_WORK_RETENTION,
    }
}

/// Purge one tenant's expired rows (one transaction: all or nothing).
pub async fn purge(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<PurgeReport> {
    let cutoffs = cutoffs(now);
    let deleted = store
        .purge_old_rows(tenant, &cutoffs)
        .await
        .with_context(|| format!("failed to purge expired rows of tenant {}", tenant.as_str()))?;
    tracing::info!(
        tenant = tenant.as_str(),
        total = deleted.total(),
        ?deleted,
        "retention purge"
    );
    Ok(PurgeReport {
        tenant: tenant.as_str().to_string(),
        now,
        cutoffs,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_follow_the_retention_policy() {
        let now: DateTime<Utc> = "2026-03-31T02:00:00Z".parse().unwrap();
        let c = cutoffs(now);
        assert_eq!(c.closed_deals_before.to_string(), "2024-03-31");
        assert_eq!(c.scores_before.to_rfc3339(), "2025-03-31T02:00:00+00:00");
        assert_eq!(c.audit_before, c.scores_before);
        assert_eq!(
            c.idempotency_keys_before.to_rfc3339(),
            "2026-03-30T02:00:00+00:00"
        );
        assert_eq!(c.done_work_before.to_rfc3339(), "2026-03-01T02:00:00+00:00");
    }
}
