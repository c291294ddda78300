//! Storage: the only module with SQL. SQLite (default) and PostgreSQL behind one `Store`.
//!
//! One implementation serves both backends through sqlx's `Any` driver: the SQL is written
//! once in the common dialect (`$n` placeholders, `ON CONFLICT`, `RETURNING`), and the few
//! differences (PRAGMAs, row-level security, `SKIP LOCKED`) are branches on [`Backend`].
//! The `Any` driver has no chrono types, so dates are ISO `YYYY-MM-DD` text and timestamps
//! RFC 3339 UTC text (see migrations/); both sort correctly as text.
//!
//! One module per aggregate, by what it stores: `deals/` (deals, scores, listings, snoozes and
//! false alarms, action Tasks), `users/`, `alerts/` (settings, the alert log and the
//! crossing check), `integrations/` (Slack workspaces and links, Salesforce orgs and sync
//! state, sealed tokens), `models/`, `audit/`, `outbox`, `jobs` (job runs), `tenants/`,
//! `imports`, `idempotency`, `retention`. Rows are read into `#[derive(sqlx::FromRow)]`
//! structs (`sql.rs` has the shared column types); the methods are `impl Store` blocks, so
//! where one lives does not change its callers.
mod alerts;
mod audit;
mod connect;
mod deals;
mod idempotency;
mod imports;
mod integrations;
mod jobs;
mod models;
pub mod outbox;
mod retention;
mod sql;
mod tenants;
mod users;

/// The batched audit writer (its old path, kept for callers and docs).
pub use audit::writer as audit_writer;

pub use crate::domain::{AlertSettings, NewOutboxRow, UserContact};
pub use audit::writer::AuditWriter;
pub use audit::{AuditEntry, AuditRow, PendingAudit};
pub use connect::{PG_APP_ROLE, migrate_url, redact_url};
pub use deals::{
    ActionTask, DealFeedbackRow, DealScope, DealUpsert, HighRiskPage, HighRiskQuery, HighRiskSort,
    ImportCounts, ScoredDealRow, SnoozeRow, StoredScore, false_alarm_id, row_hash,
};
pub use idempotency::IdempotencyRecord;
pub use integrations::{
    CodeCheck, SealedValue, SfConnectionRow, SlackInstall, SyncStateRow, WritebackOutcome,
    WritebackRejection,
};
pub use jobs::JobRun;
pub use models::{
    CalibrationCheck, ClosedPrediction, KEEP_PRODUCTION_VERSIONS, ModelEvaluation, ModelRow,
    NewModel,
};
pub use outbox::OutboxRow;
pub use retention::{PurgeCounts, PurgeCutoffs};
pub use tenants::{RiskSettingsRow, Tenant};
pub use users::{ListedUser, NewUser, SfUser, UserRow};

use crate::domain::{Clock, SystemClock, TenantId};
use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Transaction};
use std::sync::Arc;

/// Which database the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!(
                "unsupported database URL {:?}: use sqlite://FILE or postgres://USER@HOST/DB",
                redact_url(url)
            )
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Storage errors the edges care to tell apart; everything else is `Other`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now (restart, failover, pool exhausted): worth a
    /// retry, unlike `Other`.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            // Detected by kind: SQLite does not report constraint names reliably.
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            // PostgreSQL's class 08 (connection exception) and 57P0x (shutdown, cannot
            // connect now, database dropped): the server is going away or not back yet.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")) =>
            {
                StoreError::Unavailable(db.message().to_string())
            }
            _ => StoreError::Other(e.into()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the database; cheap to clone (the pool and the clock are shared).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Where the store's own timestamps (`created_at`, `updated_at`, …) come from.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("pool", &self.pool)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    fn new(pool: AnyPool, backend: Backend) -> Store {
        Store {
            pool,
            backend,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same store stamping its rows with `clock` (tests pin "now" with a `FixedClock`).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Store {
        Store { clock, ..self }
    }

    /// The clock the store stamps rows with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// "Now" by the store's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// An audit entry stamped with the store's clock, for the batched writer.
    pub fn pending_audit(&self, tenant: &TenantId, entry: AuditEntry<'_>) -> PendingAudit {
        PendingAudit::at(tenant, entry, self.now())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Rows per multi-row INSERT: `pg_rows` on PostgreSQL, where round trips are what cost;
    /// 25 on SQLite, which has no round trips to save and whose binding cost grows with the
    /// number of `$n` parameters in one statement (sqlx looks every name up, and SQLite's
    /// lookup walks the list: 400 deal rows per statement imported 100k rows in 22 s, 25 in
    /// 3.2 s; 500-row audit batches took 18 % of an API server's CPU).
    fn rows_per_insert(&self, pg_rows: usize) -> usize {
        match self.backend {
            Backend::Sqlite => 25,
            Backend::Postgres => pg_rows,
        }
    }

    /// `rows` as the statements of a multi-row INSERT: whole chunks of
    /// [`Self::rows_per_insert`], then power-of-two tails ([`sql::insert_chunks`]), so every
    /// bulk writer uses a handful of statement texts the connection's cache keeps prepared.
    pub(crate) fn insert_batches<'a, T>(&self, rows: &'a [T], pg_rows: usize) -> Vec<&'a [T]> {
        sql::insert_chunks(rows, self.rows_per_insert(pg_rows))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begin a unit of work for one tenant. On PostgreSQL the tenant is set transaction-locally
    /// (`set_config(.., true)`; plain `SET` would leak to the next borrower of the connection),
    /// so row-level security scopes every statement in it.
    pub async fn begin_tenant(
        &self,
        tenant: &TenantId,
    ) -> StoreResult<Transaction<'static, sqlx::Any>> {
        self.begin_scope(tenant.as_str()).await
    }

    async fn begin_scope(&self, scope: &str) -> StoreResult<Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT set_config('app.current_tenant', $1, true)")
                .bind(scope.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Runs `sql` (a plain SELECT returning one text column) inside a tenant-scoped
    /// transaction *without* any WHERE clause added. Exists only so tests can prove that
    /// row-level security, not the application's own filters, keeps tenants apart.
    #[doc(hidden)]
    pub async fn unscoped_texts_for_tests(
        &self,
        tenant: &TenantId,
        sql: &'static str,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Like [`Store::unscoped_texts_for_tests`] for a statement that writes.
    #[doc(hidden)]
    pub async fn unscoped_execute_for_tests(
        &self,
        tenant: &TenantId,
        sql: &'static str,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(sql).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Text as both backends can store it: PostgreSQL refuses NUL bytes in `text` (the whole
/// statement fails), so free text from outside (API bodies, Slack input, CRM fields) has each
/// NUL replaced by U+FFFD before it is bound.
pub fn storable_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

/// Current time as stored: RFC 3339 UTC with microseconds, fixed width so text order is time order.
pub fn format_ts(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    // chrono's formatter parses the pattern on every call (2 % of the API server's CPU: each
    // scored request stamps its answer and its audit row); the common case is written out.
    // Years outside 0000-9999 and leap seconds keep chrono's own rendering.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    }
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for d in b[at..at + width].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, nanos / 1000);
    String::from_utf8(b.to_vec()).expect("ASCII digits and separators")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FixedClock;

    #[test]
    fn stored_timestamps_read_as_chronos_rendering() {
        let chrono_form = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        // A spread of instants from 1970 to 2200, sub-second parts included, and the edges.
        let mut secs: i64 = 0;
        for i in 0..20_000i64 {
            secs = (secs + 7_919 * 3_600 + i * 104_729) % 7_258_118_400;
            let t = DateTime::from_timestamp(secs, ((i * 7_654_321) % 1_000_000_000) as u32)
                .expect("in range");
            assert_eq!(format_ts(t), chrono_form(t));
        }
        for t in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::from_timestamp(0, 0).unwrap(),
            DateTime::from_timestamp(253_402_300_799, 999_999_999).unwrap(), // 9999-12-31
            DateTime::from_timestamp(-62_167_219_200, 0).unwrap(),           // 0000-01-01
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap(), // a leap second
        ] {
            assert_eq!(format_ts(t), chrono_form(t));
        }
    }

    #[test]
    fn backend_is_chosen_by_url_scheme() {
        assert_eq!(Backend::from_url("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported") && !err.contains("pw"), "{err}");
    }

    #[tokio::test]
    async fn the_store_stamps_with_the_clock_it_is_given() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .connect_lazy("sqlite::memory:")
            .unwrap();
        let at = DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
            .unwrap()
            .to_utc();
        let store = Store::new(pool, Backend::Sqlite).with_clock(Arc::new(FixedClock::new(at)));
        assert_eq!(store.now(), at);
        let tenant = TenantId::default_tenant();
        let audit = store.pending_audit(
            &tenant,
            AuditEntry {
                actor: "a",
                action: "b",
                target: None,
                request_id: None,
                detail: None,
            },
        );
        assert_eq!(audit.at, format_ts(at));
    }
}
