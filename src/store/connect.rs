//! Opening the database: the pool and its per-backend session settings, migrations, and the
//! probes readiness uses (migration status, a round trip).
use super::{Backend, Store, StoreResult};
use anyhow::Context;
use sqlx::Connection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use std::str::FromStr;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The non-owner role the service runs as on PostgreSQL, so row-level security applies.
pub const PG_APP_ROLE: &str = "skygeni_app";

impl Store {
    /// Connect, apply pending migrations, and return a ready store (on the system clock;
    /// see [`Store::with_clock`]).
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
        Ok(Store::new(pool, backend))
    }

    /// (applied, known to this binary): readiness wants every migration applied.
    pub async fn migration_status(&self) -> StoreResult<(usize, usize)> {
        let known = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATOR.iter().count(),
            Backend::Postgres => PG_MIGRATOR.iter().count(),
        };
        // _sqlx_migrations is owned by the migrating role and has no RLS; the app role may
        // not be granted it, in which case readiness reports the error.
        let (applied,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok((applied as usize, known))
    }

    /// A trivial round trip: is the database reachable?
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
}
