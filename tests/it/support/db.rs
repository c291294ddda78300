//! A fresh database per test on the backend `scripts/test` selects.
//!
//! `SKYGENI_TEST_BACKEND=sqlite` (default): a new SQLite file in a temp dir.
//! `SKYGENI_TEST_BACKEND=postgres`: a new database `skygeni_test_<uuid>` created through the
//! admin URL in `SKYGENI_TEST_DATABASE_URL` (scripts/test drops leftovers).
use skygeni::store::{Backend, Store};
use sqlx::Connection;

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    // Keeps the SQLite directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("SKYGENI_TEST_BACKEND").as_deref() {
            Ok("postgres") => {
                let admin = std::env::var("SKYGENI_TEST_DATABASE_URL")
                    .expect("SKYGENI_TEST_BACKEND=postgres needs SKYGENI_TEST_DATABASE_URL (use scripts/test)");
                let name = format!("skygeni_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .expect("connect to test PostgreSQL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let url = match admin.rsplit_once('/') {
                    Some((base, _db)) => format!("{base}/{name}"),
                    None => panic!("SKYGENI_TEST_DATABASE_URL must end in /DBNAME: {admin}"),
                };
                TestDb {
                    url,
                    backend: Backend::Postgres,
                    _dir: None,
                }
            }
            Ok("sqlite") | Err(_) => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    backend: Backend::Sqlite,
                    _dir: Some(dir),
                }
            }
            Ok(other) => panic!("unknown SKYGENI_TEST_BACKEND {other:?}: use sqlite or postgres"),
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect store")
    }
}
