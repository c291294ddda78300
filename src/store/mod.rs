//! Storage: the only module with SQL. SQLite (default) and PostgreSQL behind one `Store`.
//!
//! One implementation serves both backends through sqlx's `Any` driver: the SQL is written
//! once in the common dialect (`$n` placeholders, `ON CONFLICT`, `RETURNING`), and the few
//! differences (PRAGMAs, row-level security, `SKIP LOCKED`) are branches on [`Backend`].
//! The `Any` driver has no chrono types, so dates are ISO `YYYY-MM-DD` text and timestamps
//! RFC 3339 UTC text (see migrations/); both sort correctly as text.
mod access;
mod alerts;
mod audit;
pub mod audit_writer;
mod deals;
mod imports;
mod job_runs;
mod models;
pub mod outbox;
mod reports;
mod risk_settings;
mod salesforce;
mod salesforce_orgs;
mod scores;
mod sealed;
mod slack;
mod slack_links;
mod tenants;
mod unsubscribes;

pub use crate::domain::{AlertSettings, NewOutboxRow, UserContact};
pub use access::{
    DealScope, HighRiskPage, HighRiskQuery, HighRiskSort, IdempotencyRecord, NewUser,
    ScoredDealRow, UserRow,
};
pub use audit::{AuditEntry, AuditRow, PendingAudit};
pub use audit_writer::AuditWriter;
pub use deals::{DealUpsert, ImportCounts, row_hash};
pub use job_runs::JobRun;
pub use models::{KEEP_PRODUCTION_VERSIONS, ModelRow, NewModel};
pub use outbox::OutboxRow;
pub use reports::{
    ActionTask, CalibrationCheck, ClosedPrediction, DealFeedbackRow, ModelEvaluation, PurgeCounts,
    PurgeCutoffs,
};
pub use risk_settings::RiskSettingsRow;
pub use salesforce::{SfConnectionRow, SfUser, SyncStateRow, WritebackOutcome};
pub use salesforce_orgs::WritebackRejection;
pub use scores::StoredScore;
pub use sealed::SealedValue;
pub use slack::{SlackInstall, SnoozeRow, false_alarm_id};
pub use slack_links::{CodeCheck, ListedUser};
pub use tenants::Tenant;

use crate::domain::TenantId;
use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Transaction};
use std::str::FromStr;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The non-owner role the service runs as on PostgreSQL, so row-level security applies.
pub const PG_APP_ROLE: &str = "skygeni_app";

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

/// Handle to the database; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connect, apply pending migrations, and return a ready store.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = normalise_url(url, backend);
        migrate_url(&url, backend).await?;
        let opts = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {}", redact_url(&url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            // Fail fast while the database is away (restart, failover): a request gets a 503
            // with Retry-After after 5 s instead of hanging for sqlx's default 30 s.
            .acquire_timeout(std::time::Duration::from_secs(5))
            // The default ping before every checkout costs a PostgreSQL round trip per unit of
            // work (measured: a large share of an API request). A dead connection then shows up
            // as one failed query instead; the pool's idle/lifetime limits retire connections.
            .test_before_acquire(backend == Backend::Sqlite)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            sqlx::raw_sql(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .execute(&mut *conn)
                            .await?;
                        }
                        Backend::Postgres => become_app_role(conn).await?,
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .with_context(|| format!("failed to connect to {}", redact_url(&url)))?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Rows per multi-row INSERT: `pg_rows` on PostgreSQL, where round trips are what cost;
    /// 25 on SQLite, which has no round trips to save and whose binding cost grows with the
    /// number of `$n` parameters in one statement (sqlx looks every name up, and SQLite's
    /// lookup walks the list: 400 deal rows per statement imported 100k rows in 22 s, 25 in
    /// 3.2 s; 500-row audit batches took 18 % of an API server's CPU).
    pub(crate) fn rows_per_insert(&self, pg_rows: usize) -> usize {
        match self.backend {
            Backend::Sqlite => 25,
            Backend::Postgres => pg_rows,
        }
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

/// Apply migrations with a dedicated connection as the connecting (owner) role: the pool's
/// connections drop to the app role, which may not create tables. Returns how many ran.
pub async fn migrate_url(url: &str, backend: Backend) -> anyhow::Result<usize> {
    sqlx::any::install_default_drivers();
    let url = normalise_url(url, backend);
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .with_context(|| format!("failed to connect to {}", redact_url(&url)))?;
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &PG_MIGRATOR,
    };
    let before = applied_count(&mut conn).await;
    migrator
        .run(&mut conn)
        .await
        .context("failed to apply database migrations")?;
    let after = applied_count(&mut conn).await;
    conn.close().await.ok();
    Ok(after.saturating_sub(before))
}

async fn applied_count(conn: &mut sqlx::AnyConnection) -> usize {
    sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await
        .map(|r| r.0 as usize)
        .unwrap_or(0)
}

async fn become_app_role(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    // A deployment may already connect as a non-owner login role that is not a member of
    // skygeni_app; then there is nothing to switch to and the grants must be given directly.
    let member: (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'skygeni_app') \
         AND pg_has_role(current_user, (SELECT oid FROM pg_roles WHERE rolname = 'skygeni_app'), 'MEMBER')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if member.0 {
        sqlx::raw_sql("SET ROLE skygeni_app")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// SQLite: create the file when missing (`mode=rwc`), as a zero-setup default should.
fn normalise_url(url: &str, backend: Backend) -> String {
    if backend == Backend::Sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

/// Hide a password in a database URL before it reaches logs or error messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _pw)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
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

/// `($1, $2, …), ($k, …)` for a multi-row INSERT of `rows` rows of `cols` columns.
pub(crate) fn values_sql(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * cols + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Current time as stored: RFC 3339 UTC with microseconds, fixed width so text order is time order.
pub fn format_ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("sqlite://skygeni.db"), "sqlite://skygeni.db");
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
}
