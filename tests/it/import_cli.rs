//! `skygeni import` as a new user runs it: real binary, real files, bad input of every kind.
use crate::support::{HEADER, TestDb, generated_rows, seed_csv};
use std::io::Write;
use std::process::{Command, Output};

/// Runs the real binary against `db` (shared with the users CLI tests).
pub fn skygeni(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skygeni"))
        .args(args)
        .env("SKYGENI_DATABASE_URL", &db.url)
        .env_remove("SKYGENI_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run skygeni")
}

pub(crate) fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path.display().to_string()
}

/// Import `bytes`; return (exit code, stdout, stderr). Never a panic, whatever the input.
async fn import_bytes(db: &TestDb, bytes: &[u8], extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "in.csv", bytes);
    let mut args = vec!["import", "--csv", &path, "--as-of", "2024-06-01"];
    args.extend_from_slice(extra);
    let out = skygeni(db, &args);
    let (so, se) = text(&out);
    assert!(!se.contains("panicked"), "skygeni panicked: {se}");
    (out.status.code().unwrap_or(-1), so, se)
}

#[tokio::test]
async fn the_seed_file_imports_5000_deals_and_a_second_run_reports_nothing_new() {
    let db = TestDb::new().await;
    let seed = seed_csv().display().to_string();
    let out = skygeni(&db, &["import", "--csv", &seed]);
    let (so, se) = text(&out);
    assert!(out.status.success(), "{se}");
    assert!(
        so.contains("5000 rows read, 5000 accepted, 0 rejected"),
        "{so}"
    );
    assert!(so.contains("5000 new, 0 changed"), "{so}");
    let out = skygeni(&db, &["import", "--csv", &seed, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["counts"]["new"], 0);
    assert_eq!(v["counts"]["changed"], 0);
    assert_eq!(v["counts"]["unchanged"], 5000);
    assert_eq!(v["report"]["accepted"], 5000);
}

#[tokio::test]
async fn structural_problems_stop_the_import_with_a_clear_message() {
    let db = TestDb::new().await;
    let mut binary = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    binary.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let missing_col = "deal_id,created_date,deal_stage\nD1,2024-01-01,Demo\n".to_string();
    let mut latin1 = format!("{HEADER}\n").into_bytes();
    latin1.extend_from_slice(b"D1,2024-01-01,,rep_1,Caf\xe9,Europe,Core,Inbound,Demo,100,,\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", vec![], "the file is empty"),
        (
            "header only",
            format!("{HEADER}\n").into_bytes(),
            "no data rows",
        ),
        ("binary file", binary, "binary file"),
        (
            "missing column",
            missing_col.into_bytes(),
            "missing required column(s): deal_amount",
        ),
        (
            "latin-1 bytes",
            latin1,
            "not valid UTF-8 (first bad byte at offset",
        ),
    ];
    for (name, bytes, want) in cases {
        let (code, so, se) = import_bytes(&db, &bytes, &[]).await;
        assert_eq!(code, 2, "{name}: exit code; stdout {so} stderr {se}");
        assert!(se.contains(want), "{name}: expected {want:?} in {se:?}");
    }
    let store = db.store().await;
    assert_eq!(
        store
            .count_deals(&skygeni::domain::TenantId::default_tenant())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn bad_rows_are_rejected_with_line_numbers_and_the_rest_load() {
    let db = TestDb::new().await;
    let rows = format!(
        "{HEADER}\nD1,2024-01-05,,rep_1,SaaS,Europe,Core,Inbound,Demo,12000,,\n\
         D2,2024-01-05,,rep_1,SaaS,Europe,Core,Inbound,Demo,abc,,\n\
         D1,2024-01-06,,rep_2,SaaS,Europe,Core,Inbound,Demo,13000,,\n\
         D3,2024-01-05,,rep_1,software,Europe,,Partner,Demo,\"$15,000\",,\n"
    );
    let (code, so, se) = import_bytes(&db, rows.as_bytes(), &["--json"]).await;
    assert_eq!(code, 0, "{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    let report = &v["report"];
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["rejected"], 2);
    assert_eq!(report["rejections"]["bad_amount"]["examples"][0]["line"], 3);
    assert!(
        report["rejections"]["bad_amount"]["examples"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"abc\"")
    );
    assert_eq!(
        report["rejections"]["duplicate_deal_id"]["examples"][0]["line"],
        4
    );
    assert_eq!(
        report["rejections"]["duplicate_deal_id"]["examples"][0]["detail"],
        "deal_id already on line 2"
    );
    assert_eq!(report["warnings"]["industry_normalised"]["count"], 1);
    assert_eq!(v["counts"]["new"], 2);
    let deals = db
        .store()
        .await
        .load_deals(&skygeni::domain::TenantId::default_tenant())
        .await
        .unwrap();
    let d3 = deals.iter().find(|d| d.deal_id == "D3").unwrap();
    assert_eq!(
        (d3.industry.as_str(), d3.product_type.as_str(), d3.amount),
        ("SaaS", "Core", 15_000.0)
    );
}

#[tokio::test]
async fn a_12_mb_file_of_valid_rows_imports_completely() {
    let db = TestDb::new().await;
    let body = generated_rows(140_000, "M");
    let bytes = format!("{HEADER}\n{body}").into_bytes();
    assert!(bytes.len() >= 12_000_000, "file is {} bytes", bytes.len());
    let (code, so, se) = import_bytes(&db, &bytes, &["--json"]).await;
    assert_eq!(code, 0, "{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    assert_eq!(v["report"]["accepted"], 140_000);
    assert_eq!(v["counts"]["new"], 140_000);
}

#[tokio::test]
async fn unknown_tenants_and_missing_files_get_a_clear_error() {
    let db = TestDb::new().await;
    let seed = seed_csv().display().to_string();
    let out = skygeni(&db, &["--tenant", "ghost", "import", "--csv", &seed]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("skygeni tenant add ghost"),
        "{}",
        text(&out).1
    );
    let out = skygeni(&db, &["import", "--csv", "/nonexistent/deals.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("no such file: /nonexistent/deals.csv"),
        "{}",
        text(&out).1
    );
    let out = skygeni(&db, &["--tenant", "Bad Name", "import", "--csv", &seed]);
    assert!(
        text(&out).1.contains("invalid tenant id"),
        "{}",
        text(&out).1
    );
}

#[tokio::test]
async fn tenant_add_and_list_work_from_the_command_line() {
    let db = TestDb::new().await;
    let out = skygeni(
        &db,
        &[
            "tenant",
            "add",
            "acme",
            "--name",
            "Acme Corp",
            "--time-zone",
            "Asia/Kolkata",
        ],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let out = skygeni(&db, &["tenant", "add", "acme"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("already exists"));
    let out = skygeni(
        &db,
        &["tenant", "add", "zed", "--time-zone", "Mars/Olympus"],
    );
    assert!(
        text(&out).1.contains("unknown time zone"),
        "{}",
        text(&out).1
    );
    let out = skygeni(&db, &["tenant", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme", "default"]);
    let _ = seed_csv;
}

#[tokio::test]
async fn line_numbers_count_blank_lines_as_an_editor_shows_them() {
    let db = TestDb::new().await;
    let rows = format!(
        "{HEADER}\nD1,2024-01-05,,rep_1,SaaS,Europe,Core,Inbound,Demo,12000,,\n\n\nD2,2024-01-05,,rep_1,SaaS,Europe,Core,Inbound,Demo,abc,,\n"
    );
    let (code, so, se) = import_bytes(&db, rows.as_bytes(), &["--json"]).await;
    assert_eq!(code, 0, "{se}");
    let v: serde_json::Value = serde_json::from_str(&so).unwrap();
    assert_eq!(
        v["report"]["rejections"]["bad_amount"]["examples"][0]["line"],
        5
    );
}
