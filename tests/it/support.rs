//! Test harness: a fresh database per test on the backend `scripts/test` selects.
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

/// Path of the bundled seed dataset.
pub fn seed_csv() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/skygeni_sales_data.csv")
}

/// The seed file's header line.
pub const HEADER: &str = "deal_id,created_date,closed_date,sales_rep_id,industry,region,product_type,lead_source,deal_stage,deal_amount,sales_cycle_days,outcome";

/// `n` valid rows in the seed schema; ids `G0000001…`, a deterministic spread of values.
pub fn generated_rows(n: usize, prefix: &str) -> String {
    let industries = ["SaaS", "FinTech", "HealthTech", "EdTech", "Ecommerce"];
    let regions = ["India", "APAC", "Europe", "North America"];
    let products = ["Core", "Pro", "Enterprise"];
    let sources = ["Inbound", "Outbound", "Referral", "Partner"];
    let stages = ["Qualified", "Demo", "Proposal", "Negotiation", "Closed"];
    let mut out = String::with_capacity(n * 110);
    let base = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    for i in 0..n {
        let created = base + chrono::Days::new((i % 420) as u64);
        let cycle = 7 + (i * 37) % 114;
        let closed = created + chrono::Days::new(cycle as u64);
        let outcome = if (i * 7919) % 100 < 45 { "Won" } else { "Lost" };
        let (closed_s, cycle_s, outcome_s) = if i % 5 == 0 {
            (String::new(), String::new(), "") // every fifth deal is still open
        } else {
            (closed.to_string(), cycle.to_string(), outcome)
        };
        out.push_str(&format!(
            "{prefix}{i:07},{created},{closed_s},rep_{},{},{},{},{},{},{},{cycle_s},{outcome_s}\n",
            i % 25,
            industries[i % 5],
            regions[(i / 5) % 4],
            products[(i / 3) % 3],
            sources[(i / 7) % 4],
            stages[i % 5],
            2_000 + (i * 7_877) % 98_000,
        ));
    }
    out
}
