//! Hostile input end to end on both backends: SQL metacharacters, Unicode (multi-byte,
//! right-to-left, combining marks, emoji) and control characters in CSV cells survive the
//! import and the store byte for byte, and a NUL byte (which PostgreSQL text cannot hold)
//! stops the import as a binary file, with its offset, before anything is written.
use crate::support::{HEADER, TestDb};
use skygeni::crm::csv_import::parse_csv_bytes;
use skygeni::domain::TenantId;

const NAMES: &[&str] = &[
    "D-1'; DROP TABLE deals;--",
    "D-2\" OR 1=1 --",
    "D-3 $1 $$ ::text %s \\N",
    "D-4 Ünïcødé 株式会社 🚀",
    "D-5 שלום עולם",
    "D-6 e\u{301}\u{302}\u{303} zalgo",
    "D-7 tab\tand\rcarriage",
];

fn csv(ids: &[&str]) -> String {
    let mut s = format!("{HEADER}\n");
    for (i, id) in ids.iter().enumerate() {
        let quoted = format!("\"{}\"", id.replace('"', "\"\""));
        let industry = if i % 2 == 0 {
            "\"Fin'Tech; --\"".to_string()
        } else {
            "Ω-Industrie".to_string()
        };
        s.push_str(&format!(
            "{quoted},2024-01-0{},,rep_{i},{industry},Europe,Pro,Inbound,Proposal,12000,,\n",
            i % 9 + 1
        ));
    }
    s
}

#[tokio::test]
async fn sql_metacharacters_and_unicode_in_cells_round_trip_through_the_store() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let parsed = parse_csv_bytes(csv(NAMES).as_bytes(), as_of).expect("parses");
    assert_eq!(parsed.report.rejected, 0, "{:?}", parsed.report.rejections);
    store
        .upsert_deals(&tenant, &parsed.deals, &mut |_| {})
        .await
        .expect("stored");
    let mut back: Vec<_> = store
        .load_deals(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.deal_id, d.industry))
        .collect();
    back.sort();
    let mut want: Vec<_> = parsed
        .deals
        .iter()
        .map(|d| (d.deal_id.clone(), d.industry.clone()))
        .collect();
    want.sort();
    assert_eq!(back, want);
    assert!(back.iter().any(|(id, _)| id == "D-1'; DROP TABLE deals;--"));
    assert!(back.iter().any(|(_, ind)| ind == "Ω-Industrie"), "{back:?}");
}

#[test]
fn a_nul_byte_marks_the_file_as_binary_with_its_offset_before_anything_is_stored() {
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let text = csv(&["D-ok-1", "D-bad\u{0}nul", "D-ok-2"]);
    let err = parse_csv_bytes(text.as_bytes(), as_of).expect_err("binary");
    let offset = text.find('\0').unwrap();
    assert!(err.to_string().contains(&offset.to_string()), "{err}");
}
