//! The engine's commands as a user runs them: demo, backtest, train → score → metrics,
//! the model registry, and degraded scoring when the model is gone.
use crate::support::{TestDb, seed_csv};
use skygeni::crm::synthetic::generated_csv;
use std::process::{Command, Output};

pub(crate) fn skygeni_in(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .args(args)
        .env("SKYGENI_DATABASE_URL", &db.url)
        .env_remove("SKYGENI_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run skygeni");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "skygeni panicked: {err}");
    out
}

/// Writes `n` generated deals (every fifth open) to `dir` and imports them as of 2024-06-01.
pub(crate) fn import_generated(db: &TestDb, dir: &std::path::Path, n: usize, prefix: &str) {
    let csv = dir.join("deals.csv");
    std::fs::write(&csv, generated_csv(n, prefix)).unwrap();
    let csv = csv.display().to_string();
    let args = ["import", "--csv", &csv, "--as-of", "2024-06-01", "--json"];
    ok_json(&skygeni_in(db, dir, &args));
}

pub(crate) fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn the_demo_prints_the_seed_figures_and_writes_what_the_bot_would_send() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let out = skygeni_in(&db, dir.path(), &["demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "5000 deals",
        "Win rate 45.3%",
        "Partner vs Inbound: 2.1 pp lower",
        "Model card:",
        "RAPV",
        "REM",
        "The 10 deals needing attention",
        "Backtest as of 2024-03-01",
        "no worse than the baseline",
        // Measured, not assumed: the bundled data carries little signal, and the list says
        // where each deal stands in this pipeline.
        "Your history shows little signal beyond segment win rates; scores are segment averages",
        "the bundled dataset has little signal",
        "ranked by relative risk",
        "% of your open deals",
    ] {
        assert!(text.contains(want), "demo output lacks {want:?}:\n{text}");
    }
    let alert: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo-out/alert.json")).unwrap(),
    )
    .unwrap();
    let blocks = alert["attachments"][0]["blocks"].as_array().unwrap();
    let buttons: Vec<&str> = blocks.last().unwrap()["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        buttons,
        vec!["deal_view", "deal_snooze", "deal_false_alarm"]
    );
    let digest = std::fs::read_to_string(dir.path().join("demo-out/digest.txt")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("demo-out/digest.html")).unwrap();
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo-out/metrics.json")).unwrap(),
    )
    .unwrap();
    let rapv = skygeni::notify::email::money(metrics["rapv"].as_f64().unwrap());
    for part in [&digest, &html] {
        assert!(!part.contains("{{"), "unrendered template: {part}");
        assert!(
            part.contains("Potential Revenue Recovery") && part.contains("Assumes 20%"),
            "{part}"
        );
        assert!(
            part.contains(&rapv),
            "digest shows the same RAPV as metrics ({rapv})"
        );
    }
}

#[tokio::test]
async fn backtest_json_is_calibrated_and_no_worse_than_the_segment_baseline() {
    let db = TestDb::new().await;
    let seed = seed_csv().display().to_string();
    let v = ok_json(&skygeni_in(
        &db,
        &std::env::temp_dir(),
        &[
            "backtest",
            "--csv",
            &seed,
            "--as-of",
            "2024-03-01",
            "--json",
        ],
    ));
    let r = &v["report"];
    assert_eq!(r["scored_deals"], 702);
    let (model, base) = (&r["model"], &r["baseline"]);
    assert!(model["ece"].as_f64().unwrap() < 0.05, "{model}");
    assert!(
        model["brier"].as_f64().unwrap() <= base["brier"].as_f64().unwrap() + 0.002,
        "{model} vs {base}"
    );
    for key in ["roc_auc", "brier", "ece", "log_loss", "high_risk"] {
        assert!(
            !model[key].is_null() && !base[key].is_null(),
            "{key} missing"
        );
    }
}

#[tokio::test]
async fn train_score_metrics_and_the_registry_work_end_to_end_and_survive_a_deleted_model() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    import_generated(&db, dir.path(), 3000, "E");
    let run = |args: &[&str]| skygeni_in(&db, dir.path(), args);

    let v = ok_json(&run(&["train", "--json"]));
    assert_eq!(v["trained"], true, "{v}");
    let first = v["version"].as_str().unwrap().to_string();
    let v = ok_json(&run(&["model", "list", "--json"]));
    assert_eq!(v[0]["version"], first.as_str());
    assert_eq!(
        v[0]["aliases"],
        serde_json::json!(["production", "staging"])
    );

    let v = ok_json(&run(&["score", "--as-of", "2024-06-01", "--json"]));
    assert_eq!(
        v["deals_scored"], 600,
        "every fifth of 3,000 generated deals is open"
    );
    assert_eq!(v["model_version"], first.as_str());
    assert_eq!(v["degraded"], false);

    let m = ok_json(&run(&["metrics", "--as-of", "2024-06-01", "--json"]));
    assert_eq!(m["open_deals"], 600);
    let buckets: u64 = m["risk_distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["deals"].as_u64().unwrap())
        .sum();
    assert_eq!(buckets, 600);
    assert!(m["rapv"].as_f64().unwrap() < m["pipeline_value"].as_f64().unwrap());
    assert!(
        m["recovery"]["assumption"]
            .as_str()
            .unwrap()
            .contains("20%")
    );

    // A second version, then promote/rollback between them.
    let second = ok_json(&run(&["train", "--json"]))["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let out = run(&["model", "rollback"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = ok_json(&run(&["model", "list", "--json"]));
    let prod: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["aliases"]
                .as_array()
                .unwrap()
                .contains(&"production".into())
        })
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(prod, vec![first.as_str()]);
    let out = run(&["model", "promote", "no-such-version"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model version"));
    assert!(run(&["model", "promote", &second]).status.success());

    // Delete the production model row: scoring must go on, degraded and saying so.
    let store = db.store().await;
    use sqlx::Connection;
    let mut owner = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("DELETE FROM models")
        .execute(&mut owner)
        .await
        .unwrap();
    let v = ok_json(&run(&["score", "--as-of", "2024-06-01", "--json"]));
    assert_eq!(v["deals_scored"], 600);
    assert_eq!(v["degraded"], true);
    assert_eq!(v["model_version"], "segment-rates");
    assert!(v["note"].as_str().unwrap().contains("degraded"), "{v}");
    let current = store
        .current_scores(&skygeni::domain::TenantId::default_tenant())
        .await
        .unwrap();
    assert_eq!(current.len(), 600);
    assert!(
        current
            .iter()
            .all(|s| s.degraded && s.risk_factors.len() == 3)
    );
}

#[tokio::test]
async fn every_score_carries_three_factors_an_action_and_similar_won_deals() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = skygeni::domain::TenantId::default_tenant();
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let deals = skygeni::crm::parse_csv_bytes(generated_csv(2000, "F").as_bytes(), as_of)
        .unwrap()
        .deals;
    store
        .upsert_deals(&tenant, &deals, &mut |_| {})
        .await
        .unwrap();
    let history = store.load_deals(&tenant).await.unwrap();
    let loaded = skygeni::service::models::load_scorer(&store, &tenant, &history)
        .await
        .unwrap();
    let open: Vec<_> = history.iter().filter(|d| d.is_open()).cloned().collect();
    let mut with_similar = 0;
    for d in &open {
        let mut s = loaded.scorer.score(d, as_of);
        loaded.similar.fill(d, as_of, &mut s);
        assert_eq!(s.risk_factors.len(), 3, "{}", d.deal_id);
        assert!(!s.recommendations.is_empty(), "{}", d.deal_id);
        assert!(s.similar_deals.len() <= 3);
        for sim in &s.similar_deals {
            assert!((0.0..=1.0).contains(&sim.similarity));
            assert!(
                (sim.amount - d.amount).abs() <= 0.3 * d.amount + 1e-9,
                "±30 % rule"
            );
        }
        with_similar += usize::from(!s.similar_deals.is_empty());
    }
    assert!(
        with_similar * 2 > open.len(),
        "most deals find similar won deals ({with_similar}/{})",
        open.len()
    );
}

#[tokio::test]
async fn a_crm_export_is_scored_to_a_csv_file_without_a_database() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.csv");
    std::fs::write(
        &input,
        generated_csv(500, "X") + "BAD1,2024-01-01,,rep_1,SaaS,Europe,Core,Inbound,Demo,abc,,\n",
    )
    .unwrap();
    let (input, seed) = (
        input.display().to_string(),
        seed_csv().display().to_string(),
    );
    let out_path = dir.path().join("scored.csv");
    let out = out_path.display().to_string();
    let v = ok_json(&skygeni_in(
        &db,
        dir.path(),
        &[
            "score",
            "--csv",
            &input,
            "--out",
            &out,
            "--train",
            &seed,
            "--as-of",
            "2024-03-01",
            "--json",
        ],
    ));
    assert_eq!(v["rejected"], 1);
    assert_eq!(v["degraded"], false);
    let text = std::fs::read_to_string(&out_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "deal_id,risk_score,risk_category,win_probability,factor_1,factor_2,factor_3"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len() as u64, v["scored"].as_u64().unwrap());
    assert!(!rows.is_empty());
    for r in &rows {
        let cols: Vec<&str> = r.split(',').collect();
        assert_eq!(cols.len(), 7, "{r}");
        let score: u8 = cols[1].parse().unwrap();
        assert_eq!(
            cols[2],
            skygeni::domain::RiskCategory::from_score(score).as_str()
        );
    }
    // The same via an exported model file, after training into the database.
    let csv_db = dir.path().join("hist.csv");
    std::fs::copy(seed_csv(), &csv_db).unwrap();
    ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["import", "--csv", &csv_db.display().to_string(), "--json"],
    ));
    ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["train", "--as-of", "2024-03-01", "--json"],
    ));
    let model = dir.path().join("model.json").display().to_string();
    assert!(
        skygeni_in(&db, dir.path(), &["model", "export", "--out", &model])
            .status
            .success()
    );
    let out2 = dir.path().join("scored2.csv").display().to_string();
    ok_json(&skygeni_in(
        &db,
        dir.path(),
        &[
            "score",
            "--csv",
            &input,
            "--out",
            &out2,
            "--model",
            &model,
            "--as-of",
            "2024-03-01",
            "--json",
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(&out2).unwrap(),
        text,
        "same model, same scores"
    );
}

#[tokio::test]
async fn the_audit_command_lists_what_was_done_newest_first_with_filters() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_csv().display().to_string();
    ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["import", "--csv", &seed, "--json"],
    ));
    ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["tenant", "add", "acme", "--json"],
    ));
    ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["train", "--as-of", "2024-03-01", "--json"],
    ));
    let v = ok_json(&skygeni_in(&db, dir.path(), &["audit", "--json"]));
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["model.train", "deals.import"],
        "newest first; acme's entry is in acme's log"
    );
    let v = ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["audit", "--action", "deals.", "--json"],
    ));
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["actor"], "cli");
    let v = ok_json(&skygeni_in(
        &db,
        dir.path(),
        &["--tenant", "acme", "audit", "--json"],
    ));
    assert_eq!(v[0]["action"], "tenant.add");
}
