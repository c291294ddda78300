//! Shared by the database benchmarks: where to run (SQLite always, PostgreSQL on request).

/// `("sqlite", url)` in `dir` (unless SKYGENI_BENCH_SKIP_SQLITE=1), plus `("postgres", url)` of a freshly created database `db_name`
/// when `SKYGENI_BENCH_DATABASE_URL` names an admin URL (e.g. postgres://postgres@127.0.0.1/postgres).
pub async fn bench_targets(
    dir: &std::path::Path,
    db_name: &str,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    use sqlx::Connection;
    let mut targets = Vec::new();
    if std::env::var("SKYGENI_BENCH_SKIP_SQLITE").as_deref() != Ok("1") {
        targets.push((
            "sqlite",
            format!("sqlite://{}", dir.join("bench.db").display()),
        ));
    }
    if let Ok(admin) = std::env::var("SKYGENI_BENCH_DATABASE_URL") {
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&admin).await?;
        for sql in [
            format!("DROP DATABASE IF EXISTS {db_name}"),
            format!("CREATE DATABASE {db_name}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await?;
        }
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        targets.push(("postgres", format!("{base}/{db_name}")));
    }
    Ok(targets)
}
