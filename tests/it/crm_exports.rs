//! Real CRM exports in (issue 16): the Salesforce, HubSpot and Pipedrive presets detected from
//! the header, `--map`/`--mapping` and the mapping a tenant remembers, stage-derived outcomes,
//! owners as users, and history of any age through import, backtest and `score --csv`.
use crate::import_cli::{skygeni, text, write_file};
use crate::support::TestDb;
use skygeni::domain::{Outcome, TenantId};
use std::collections::HashMap;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/crm/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run_ok(db: &TestDb, args: &[&str]) -> String {
    let out = skygeni(db, args);
    let (so, se) = text(&out);
    assert!(out.status.success(), "{args:?}: {se}\n{so}");
    so
}

/// A deal id and the outcome the import must give it.
type Expect = (&'static str, Option<Outcome>);

#[tokio::test]
async fn each_crm_export_imports_with_no_flags_outcomes_from_stage_and_owners_as_users() {
    let db = TestDb::new().await;
    // (fixture, preset, deal id → outcome, the deal kept with amount 0)
    let cases: [(&str, &str, [Expect; 4]); 3] = [
        (
            "salesforce_opportunity_report.csv",
            "salesforce_opportunity_report",
            [
                ("0065g00000AbCdEAA1", Some(Outcome::Won)),
                ("0065g00000AbCdEAA2", Some(Outcome::Lost)),
                ("0065g00000AbCdEAA3", None),
                ("0065g00000AbCdEAA5", Some(Outcome::Lost)),
            ],
        ),
        (
            "hubspot_deals_export.csv",
            "hubspot_deals_export",
            [
                ("9100000001", Some(Outcome::Won)),
                ("9100000002", Some(Outcome::Lost)),
                ("9100000003", None),
                ("9100000005", Some(Outcome::Won)),
            ],
        ),
        (
            "pipedrive_deals_export.csv",
            "pipedrive_deals_export",
            [
                ("101", Some(Outcome::Won)),
                ("102", Some(Outcome::Lost)),
                ("103", None),
                ("105", Some(Outcome::Won)),
            ],
        ),
    ];
    for (i, (file, preset, outcomes)) in cases.iter().enumerate() {
        let tenant = format!("crm{i}");
        run_ok(&db, &["tenant", "add", &tenant]);
        let path = fixture(file);
        let so = run_ok(
            &db,
            &[
                "import",
                "--tenant",
                &tenant,
                "--csv",
                &path,
                "--as-of",
                "2024-06-01",
                "--json",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&so).expect("json");
        assert_eq!(v["preset"], *preset, "{file}");
        assert_eq!(v["report"]["rows_read"], 5, "{file}: {v}");
        assert_eq!(v["report"]["accepted"], 5, "{file}: every row kept: {v}");
        assert!(
            v["report"]["warnings"]["open_without_amount"]["count"].as_u64() == Some(1),
            "{file}: the unpriced open deal is flagged: {v}"
        );
        assert!(
            v["report"]["warnings"]["lost_without_amount"]["count"].as_u64() == Some(1),
            "{file}: the zero-amount lost deal is flagged: {v}"
        );
        let store = db.store().await;
        let t = TenantId::parse(&tenant).unwrap();
        let deals: HashMap<String, skygeni::domain::Deal> = store
            .load_deals(&t)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.deal_id.clone(), d))
            .collect();
        assert_eq!(deals.len(), 5, "{file}");
        for (id, want) in outcomes {
            assert_eq!(deals[*id].outcome, *want, "{file}: deal {id}");
        }
        assert!(
            deals.values().any(|d| d.amount == 0.0 && d.is_open()),
            "{file}: an open deal kept without an amount"
        );
        // Owners named in the export are users now, found by the deals' sales_rep_id.
        let users = store.user_contacts(&t).await.unwrap();
        for d in deals.values() {
            assert!(
                users.iter().any(|u| u.user_id == d.sales_rep_id),
                "{file}: no user for owner {:?} of {}",
                d.sales_rep_id,
                d.deal_id
            );
        }
        assert!(users.iter().all(|u| u.role == "rep"), "{file}: {users:?}");
        store.close().await;
    }
    // The bracketed address in the Salesforce owner cell became the user's email.
    let store = db.store().await;
    let users = store
        .user_contacts(&TenantId::parse("crm0").unwrap())
        .await
        .unwrap();
    let maria = users
        .iter()
        .find(|u| u.email.as_deref() == Some("maria.garcia@example.com"))
        .expect("Maria by email");
    assert_eq!(maria.name.as_deref(), Some("Maria Garcia"));
}

const CUSTOM: &str = "Opp #,Engage Date,Phase,Value,Result,Rep Mail\n\
    A-1,2024-01-10,Demo,12000,,ann@example.com\n\
    A-2,2024-01-12,Won,30000,Won,bob@example.com\n\
    A-3,2024-02-01,Proposal,8000,,ann@example.com\n";

#[tokio::test]
async fn an_unknown_export_is_mapped_once_and_the_tenant_remembers_it() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "export.csv", CUSTOM.as_bytes());
    // No mapping: the error lists the file's headers and suggests the closest one.
    let out = skygeni(&db, &["import", "--csv", &path, "--as-of", "2024-06-01"]);
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("missing required column(s): deal_id"), "{se}");
    assert!(
        se.contains("Opp #, Engage Date, Phase, Value, Result, Rep Mail"),
        "{se}"
    );
    assert!(se.contains("--map"), "{se}");

    let so = run_ok(
        &db,
        &[
            "import",
            "--csv",
            &path,
            "--as-of",
            "2024-06-01",
            "--map",
            "deal_id=Opp #",
            "--map",
            "created_date=Engage Date",
            "--map",
            "deal_stage=Phase",
            "--map",
            "deal_amount=Value",
            "--map",
            "outcome=Result",
            "--map",
            "owner_email=Rep Mail",
        ],
    );
    assert!(so.contains("Column mapping saved"), "{so}");
    assert!(so.contains("3 new"), "{so}");

    // The same export again, re-ordered and re-cased, needs no flags.
    let again = "value,phase,opp #,engage date,result,rep mail\n45000,Won,A-4,2024-03-01,Won,ann@example.com\n";
    let path2 = write_file(&dir, "export2.csv", again.as_bytes());
    let so = run_ok(&db, &["import", "--csv", &path2, "--as-of", "2024-06-01"]);
    assert!(so.contains("Using the column mapping saved"), "{so}");
    assert!(so.contains("1 new"), "{so}");
    let store = db.store().await;
    let t = TenantId::default_tenant();
    let deals = store.load_deals(&t).await.unwrap();
    let a4 = deals.iter().find(|d| d.deal_id == "A-4").expect("A-4");
    assert_eq!(a4.amount, 45_000.0);
    assert_eq!(a4.outcome, Some(Outcome::Won));
    assert_eq!(a4.owner_email.as_deref(), Some("ann@example.com"));
    let users = store.user_contacts(&t).await.unwrap();
    assert!(
        users
            .iter()
            .any(|u| u.email.as_deref() == Some("bob@example.com"))
    );
    store.close().await;

    // Another tenant does not see this tenant's mapping.
    run_ok(&db, &["tenant", "add", "other"]);
    let out = skygeni(
        &db,
        &[
            "import",
            "--tenant",
            "other",
            "--csv",
            &path2,
            "--as-of",
            "2024-06-01",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
}

#[tokio::test]
async fn a_mapping_file_and_a_mapped_header_that_does_not_exist() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "export.csv", CUSTOM.as_bytes());
    let toml = "[columns]\ndeal_id = \"Opp #\"\ncreated_date = \"Engage Date\"\n\
                deal_stage = \"Phase\"\ndeal_amount = \"Value\"\noutcome = \"Result\"\n";
    let mapping = write_file(&dir, "mapping.toml", toml.as_bytes());
    let so = run_ok(
        &db,
        &[
            "import",
            "--csv",
            &path,
            "--as-of",
            "2024-06-01",
            "--mapping",
            &mapping,
            "--dry-run",
        ],
    );
    assert!(so.contains("3 rows read, 3 accepted"), "{so}");
    let out = skygeni(
        &db,
        &[
            "import",
            "--csv",
            &path,
            "--mapping",
            &mapping,
            "--map",
            "deal_id=Opp No",
            "--dry-run",
        ],
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains("\"Opp No\"") && se.contains("closest: \"Opp #\""),
        "{se}"
    );
    let out = skygeni(&db, &["import", "--csv", &path, "--map", "dealid=Opp #"]);
    let (_, se) = text(&out);
    assert!(se.contains("\"dealid\" is not a SkyGeni column"), "{se}");
}

/// A Salesforce opportunity report of 2016–2017 with a planted Partner effect.
fn old_report(n: usize) -> String {
    let mut out = String::from(
        "\"Opportunity ID\",\"Opportunity Name\",\"Stage\",\"Amount\",\"Created Date\",\"Close Date\",\"Lead Source\",\"Industry\",\"Opportunity Owner\"\n",
    );
    let start = chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap();
    let mut state = 99u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..n {
        let created = start + chrono::Days::new((next() * 700.0) as u64);
        let closed = created + chrono::Days::new(10 + (next() * 90.0) as u64);
        let source = ["Partner", "Web", "Cold Call", "Referral"][(next() * 4.0) as usize % 4];
        let p_win = if source == "Partner" { 0.2 } else { 0.6 };
        let stage = if next() < p_win {
            "Closed Won"
        } else {
            "Closed Lost"
        };
        out.push_str(&format!(
            "006OLD{i:05},Deal {i},{stage},{},{},{},{source},Software,Rep {}\n",
            5000 + (next() * 40000.0) as u64,
            created.format("%m/%d/%Y"),
            closed.format("%m/%d/%Y"),
            i % 7
        ));
    }
    out
}

#[tokio::test]
async fn a_2016_2017_export_backtests_and_scores_as_of_its_own_dates() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "old.csv", old_report(1_500).as_bytes());
    let so = run_ok(
        &db,
        &[
            "backtest",
            "--csv",
            &path,
            "--as-of",
            "2017-06-30",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&so).expect("json");
    assert_eq!(v["data_quality"]["rejected"], 0, "{v}");
    assert_eq!(v["data_quality"]["accepted"], 1_500, "{v}");
    assert!(v["report"]["trained"].as_bool().unwrap(), "{v}");
    assert!(v["report"]["scored_deals"].as_u64().unwrap() > 20, "{v}");
    let auc = v["report"]["model"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.6, "the planted Partner effect is found: {v}");

    // Import checks the age rule against --as-of too: today it is too old, then it is not.
    let out = skygeni(&db, &["import", "--csv", &path, "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["report"]["accepted"], 0, "{v}");
    let hint = v["report"]["rejections"]["created_date_out_of_range"]["examples"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hint.contains("--as-of"), "{hint}");

    // score --csv takes the same --map, for the scored file and the --train history alike.
    let report = old_report(1_500);
    let custom = report.replacen(
        report.lines().next().unwrap(),
        "ID,Name,Step,Money,Made,Shut,Src,Sector,Owner",
        1,
    );
    let history = write_file(&dir, "history.csv", custom.as_bytes());
    let open = "ID,Name,Step,Money,Made,Shut,Src,Sector,Owner\n\
                NEW1,New deal,Demo,20000,05/01/2017,,Partner,Software,Rep 1\n";
    let open_path = write_file(&dir, "open.csv", open.as_bytes());
    let out_path = dir.path().join("scored.csv").display().to_string();
    run_ok(
        &db,
        &[
            "score",
            "--csv",
            &open_path,
            "--out",
            &out_path,
            "--train",
            &history,
            "--as-of",
            "2017-06-30",
            "--map",
            "created_date=Made",
            "--map",
            "closed_date=Shut",
            "--map",
            "deal_stage=Step",
            "--map",
            "deal_amount=Money",
            "--map",
            "lead_source=Src",
            "--map",
            "industry=Sector",
        ],
    );
    let scored = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        scored.lines().nth(1).unwrap().starts_with("NEW1,"),
        "{scored}"
    );
}

#[tokio::test]
async fn saved_mappings_and_risk_settings_stay_with_their_tenant_even_without_a_where_clause() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (a, b) = (
        TenantId::parse("map-a").unwrap(),
        TenantId::parse("map-b").unwrap(),
    );
    store.add_tenant(&a, "A", "UTC").await.unwrap();
    store.add_tenant(&b, "B", "UTC").await.unwrap();
    store
        .save_import_mapping(&a, "k1", r#"{"deal_id":["Opp #"]}"#)
        .await
        .unwrap();
    store
        .save_import_mapping(&a, "k1", r#"{"deal_id":["Opp No"]}"#)
        .await
        .unwrap();
    assert_eq!(
        store.import_mapping(&a, "k1").await.unwrap().as_deref(),
        Some(r#"{"deal_id":["Opp No"]}"#),
        "a newer mapping for the same export replaces the old"
    );
    assert_eq!(store.import_mapping(&b, "k1").await.unwrap(), None);
    let row = skygeni::store::RiskSettingsRow {
        low_max: 30,
        medium_max: 60,
        high_max: 80,
        alerts_per_day: 3,
    };
    store.set_risk_settings(&a, row).await.unwrap();
    assert_eq!(store.risk_settings(&a).await.unwrap(), Some(row));
    assert_eq!(store.risk_settings(&b).await.unwrap(), None);
    if db.backend == skygeni::store::Backend::Postgres {
        let seen = store
            .unscoped_texts_for_tests(&b, "SELECT header_key FROM import_mappings")
            .await
            .unwrap();
        assert!(
            seen.is_empty(),
            "row-level security hides A's mappings: {seen:?}"
        );
        let seen = store
            .unscoped_texts_for_tests(&b, "SELECT tenant_id FROM risk_settings")
            .await
            .unwrap();
        assert!(seen.is_empty(), "{seen:?}");
    }
}
