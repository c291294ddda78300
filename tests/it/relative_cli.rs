//! Relative risk, the skill line and tenant bands as a user sees them in `top`, `score` and
//! `risk-settings` (issue 16).
use crate::engine_cli::{import_generated, ok_json, skygeni_in};
use crate::support::TestDb;

#[tokio::test]
async fn top_ranks_by_relative_risk_and_tenant_bands_move_the_categories() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    import_generated(&db, dir.path(), 3000, "R");
    let run = |args: &[&str]| skygeni_in(&db, dir.path(), args);
    let v = ok_json(&run(&["train", "--json"]));
    assert_eq!(v["trained"], true, "{v}");

    let v = ok_json(&run(&["score", "--as-of", "2024-06-01", "--json"]));
    let top = v["top"].as_array().expect("top deals");
    assert_eq!(top.len(), 5, "{v}");
    let pct = |d: &serde_json::Value| d["relative_risk"]["percentile"].as_f64().unwrap();
    assert!(pct(&top[0]) >= pct(&top[4]), "{v}");
    assert!(v.get("skill_line").is_some(), "{v}");

    let v = ok_json(&run(&[
        "top",
        "--as-of",
        "2024-06-01",
        "--limit",
        "20",
        "--json",
    ]));
    let deals = v["deals"].as_array().unwrap();
    assert_eq!(deals.len(), 20);
    assert_eq!(v["open_deals"], 600);
    for w in deals.windows(2) {
        assert!(pct(&w[0]) >= pct(&w[1]), "ranked by relative risk: {v}");
    }
    let first = deals[0]["relative_risk_text"].as_str().unwrap();
    assert!(
        first.starts_with("riskier than ") && first.contains("% of your open deals; "),
        "{first}"
    );
    assert!(pct(&deals[0]) > 90.0, "{v}");

    // Tenant bands: with edges 10/20/30 nearly everything is critical on the next scoring.
    let v = ok_json(&run(&[
        "risk-settings",
        "--bands",
        "10,20,30",
        "--alerts-per-day",
        "3",
        "--json",
    ]));
    assert_eq!(v["bands"]["high_max"], 30);
    assert_eq!(v["alerts_per_day"], 3);
    ok_json(&run(&["score", "--as-of", "2024-06-01", "--json"]));
    let m = ok_json(&run(&["metrics", "--as-of", "2024-06-01", "--json"]));
    let critical = m["risk_distribution"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["category"] == "critical")
        .map(|b| b["deals"].as_u64().unwrap())
        .unwrap_or(0);
    assert!(
        critical > 500,
        "bands 10/20/30 make most deals critical: {m}"
    );
    let out = run(&["risk-settings", "--bands", "50,40,90"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must rise"));
}
