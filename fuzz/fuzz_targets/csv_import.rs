//! Any bytes as a CRM export: the importer returns rows with a quality report or a structural
//! error — it never panics, its counts add up, and every cited line is inside the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
    if let Ok(parsed) = skygeni::crm::csv_import::parse_csv_bytes(data, as_of) {
        let r = &parsed.report;
        assert_eq!(r.rows_read, r.accepted + r.rejected);
        assert_eq!(parsed.deals.len() as u64, r.accepted);
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        for issue in r
            .rejections
            .values()
            .chain(r.warnings.values())
            .flat_map(|c| &c.examples)
        {
            assert!(
                issue.line >= 1 && issue.line <= lines,
                "line {} of {lines}",
                issue.line
            );
        }
    }
});
