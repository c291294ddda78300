//! Scoring a file: equality with `Scorer::score`, rejections, structural errors, order.
use std::sync::OnceLock;

use super::*;
use crate::crm::parse_csv_bytes;
use crate::crm::synthetic::{SEED_HEADER, generated_csv, generated_open_csv};
use crate::engine::explain::FactorImpact;
use crate::engine::testdata::{date, seed_deals};

/// Every generated created_date is ≤ 2024-02-24, so all rows pass the date rules.
fn as_of() -> NaiveDate {
    date("2024-06-01")
}

fn scorer() -> &'static Scorer {
    static S: OnceLock<Scorer> = OnceLock::new();
    S.get_or_init(|| {
        let cfg = TrainConfig {
            gbt: None,
            ..TrainConfig::default()
        };
        let model = train(&seed_deals(), &cfg).model.expect("seed trains");
        let stats = model.segments.clone();
        Scorer::new(Some(model), stats)
    })
}

/// Generated rows with closed_date, sales_cycle_days and outcome blanked: every deal open.
fn open_csv(n: usize, prefix: &str) -> String {
    generated_open_csv(n, prefix)
}

fn run(input: &str) -> (ScoreFileSummary, Vec<csv::StringRecord>) {
    let mut out = Vec::new();
    let summary = score_csv_bytes(input.as_bytes(), &mut out, scorer(), as_of()).expect("scores");
    let mut rdr = csv::Reader::from_reader(out.as_slice());
    assert_eq!(
        rdr.headers()
            .expect("header")
            .iter()
            .collect::<Vec<_>>()
            .join(",")
            + "\n",
        OUTPUT_HEADER
    );
    let rows = rdr.records().map(|r| r.expect("output row")).collect();
    (summary, rows)
}

fn factor_text(f: &crate::domain::RiskFactor) -> String {
    let mut v = Vec::new();
    write_factor(
        &mut v,
        &FactorImpact {
            code: f.code,
            impact: f.impact,
            impact_pp: f.impact_pp,
            rule_based: f.rule_based,
        },
    );
    String::from_utf8(v).expect("ascii")
}

#[test]
fn every_open_row_gets_one_line_whose_score_equals_scorer_score() {
    let input = open_csv(3_000, "E");
    let (summary, rows) = run(&input);
    let deals = parse_csv_bytes(input.as_bytes(), as_of())
        .expect("imports")
        .deals;
    assert_eq!(summary.rows_read, 3_000);
    assert_eq!(summary.scored, 3_000);
    assert_eq!(rows.len(), deals.len(), "one output line per valid row");
    for (row, deal) in rows.iter().zip(&deals) {
        assert_eq!(row.len(), 7, "seven columns on {}", &row[0]);
        let want = scorer().score(deal, as_of());
        assert_eq!(&row[0], want.deal_id);
        assert_eq!(row[1], want.risk_score.to_string(), "{}", want.deal_id);
        assert_eq!(&row[2], want.risk_category.as_str(), "{}", want.deal_id);
        let p: f64 = row[3].parse().expect("win probability");
        assert!(
            (p - want.win_probability).abs() <= 0.00005,
            "{}",
            want.deal_id
        );
        assert_eq!(want.risk_factors.len(), 3);
        for (i, f) in want.risk_factors.iter().enumerate() {
            assert_eq!(
                row[4 + i],
                factor_text(f),
                "{} factor {}",
                want.deal_id,
                i + 1
            );
        }
    }
}

#[test]
fn each_rows_three_factors_are_the_top_three_codes_of_score() {
    let input = open_csv(500, "F");
    let (_, rows) = run(&input);
    let deals = parse_csv_bytes(input.as_bytes(), as_of())
        .expect("imports")
        .deals;
    for (row, deal) in rows.iter().zip(&deals) {
        let codes: Vec<&str> = (4..7)
            .map(|i| row[i].split(':').next().expect("code"))
            .collect();
        let want: Vec<&str> = scorer()
            .score(deal, as_of())
            .risk_factors
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(codes, want, "{}", deal.deal_id);
        assert!(
            row[4].ends_with("pp") && row[4].contains(':'),
            "{}",
            &row[4]
        );
    }
}

#[test]
fn rejected_rows_write_no_line_and_are_reported_with_their_line_numbers() {
    let input = format!(
        "{SEED_HEADER}\n\
         G1,2024-01-05,,rep_1,SaaS,India,Core,Inbound,Demo,12000,,\n\
         G2,2024-01-05,,rep_1,SaaS,India,Core,Inbound,Demo,lots,,\n\
         \n\
         G3,2024-01-05,,rep_1,SaaS,India,Core,Inbound,Demo,12000\n\
         G4,2030-01-05,,rep_1,SaaS,India,Core,Inbound,Demo,12000,,\n\
         G5,2024-01-05,,rep_1,SaaS,India,Core,Inbound,Demo,9000,,\n"
    );
    let (summary, rows) = run(&input);
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, ["G1", "G5"]);
    assert_eq!(
        (summary.rows_read, summary.scored, summary.rejected),
        (5, 2, 3)
    );
    let line_of = |rule: &str| summary.rejections.rejections[rule].examples[0].line;
    assert_eq!(line_of("bad_amount"), 3);
    assert_eq!(
        line_of("wrong_field_count"),
        5,
        "the blank line 4 still counts"
    );
    assert_eq!(line_of("created_date_out_of_range"), 6);
    let importer = parse_csv_bytes(input.as_bytes(), as_of())
        .expect("imports")
        .report;
    let counts = |r: &QualityReport| -> Vec<(&str, u64)> {
        r.rejections.iter().map(|(k, v)| (*k, v.count)).collect()
    };
    assert_eq!(
        counts(&summary.rejections),
        counts(&importer),
        "same rules as import"
    );
}

#[test]
fn line_numbers_stay_right_across_parallel_chunks() {
    let mut input = open_csv(40_000, "L");
    let mut want = Vec::new();
    for i in [1_000usize, 9_000, 17_000, 25_000, 33_000, 39_999] {
        let id = format!("L{i:07},");
        input = input.replacen(&format!("{id}2"), &format!("{id}oops"), 1);
        want.push(i as u64 + 2); // header is line 1
    }
    assert!(
        split_records(input.as_bytes()).len() > 4,
        "input spans several chunks"
    );
    let (summary, rows) = run(&input);
    assert_eq!(rows.len(), 40_000 - want.len());
    let bad = &summary.rejections.rejections["bad_date"];
    assert_eq!(bad.count, want.len() as u64);
    let lines: Vec<u64> = bad.examples.iter().map(|e| e.line).collect();
    assert_eq!(lines, want[..5], "first five examples, in file order");
}

#[test]
fn output_order_equals_input_order_with_parallel_chunks() {
    let input = open_csv(30_000, "O");
    assert!(
        split_records(input.as_bytes()).len() > 4,
        "input spans several chunks"
    );
    let (_, rows) = run(&input);
    let ids: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    let want: Vec<String> = (0..30_000).map(|i| format!("O{i:07}")).collect();
    assert_eq!(ids, want);
}

#[test]
fn quoted_fields_with_newlines_are_split_at_record_boundaries() {
    let header = format!("{SEED_HEADER},deal_name");
    let mut input = format!("{header}\n");
    for (i, line) in open_csv(6_000, "Q").lines().skip(1).enumerate() {
        let name = if i % 7 == 0 {
            "\"Big, \"\"urgent\"\"\nrenewal\""
        } else {
            "Plain"
        };
        let line = if i == 5_000 {
            line.replacen(",2", ",x2", 1)
        } else {
            line.to_string()
        };
        input.push_str(&format!("{line},{name}\n"));
    }
    assert!(split_records(input.as_bytes()).len() > 1);
    let (summary, rows) = run(&input);
    assert_eq!(rows.len(), 5_999);
    assert_eq!(&rows[5_998][0], "Q0005999");
    let importer = parse_csv_bytes(input.as_bytes(), as_of())
        .expect("imports")
        .report;
    assert_eq!(
        summary.rejections.rejections, importer.rejections,
        "same line numbers"
    );
}

#[test]
fn deals_closed_by_as_of_are_skipped_and_later_closes_are_scored_as_then() {
    let input = format!(
        "{SEED_HEADER}\n\
         C1,2024-01-05,2024-02-01,rep_1,SaaS,India,Core,Inbound,Closed,12000,27,Won\n\
         C2,2024-05-01,2024-07-01,rep_1,SaaS,India,Core,Inbound,Closed,12000,61,Lost\n\
         C3,2024-05-01,,rep_1,SaaS,India,Core,Inbound,Demo,12000,,\n"
    );
    let (summary, rows) = run(&input);
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        ["C2", "C3"],
        "C1 closed before as_of; C2 was still open then"
    );
    assert_eq!((summary.skipped_closed, summary.rejected), (1, 0));
}

#[test]
fn structural_errors_are_clear_and_write_nothing() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"  \n".to_vec(), "empty"),
        ("binary", b"deal_id\0,x\n".to_vec(), "binary"),
        ("utf16", vec![0xFF, 0xFE, b'd', 0], "UTF-16"),
        (
            "latin1",
            b"deal_id,amount\nD1,caf\xe9\n".to_vec(),
            "not valid UTF-8",
        ),
        (
            "columns",
            b"deal_id,amount\nD1,5\n".to_vec(),
            "missing required column",
        ),
        (
            "no rows",
            format!("{SEED_HEADER}\n").into_bytes(),
            "no data rows",
        ),
    ];
    for (name, bytes, want) in cases {
        let mut out = Vec::new();
        let err = score_csv_bytes(&bytes, &mut out, scorer(), as_of()).expect_err(name);
        assert!(matches!(err, ScoreFileError::Structural(_)), "{name}");
        assert!(err.to_string().contains(want), "{name}: {err}");
        assert!(out.is_empty(), "{name}: nothing written");
    }
}

#[test]
fn a_file_run_writes_the_output_atomically_and_reports_the_input_on_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, output) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
    std::fs::write(&input, generated_csv(1_000, "W")).expect("write input");
    let summary = score_csv_file(&input, &output, scorer(), as_of()).expect("scores");
    let text = std::fs::read_to_string(&output).expect("output");
    assert_eq!(text.lines().count() as u64, summary.scored + 1);
    assert_eq!(summary.scored + summary.skipped_closed, 1_000);
    assert!(summary.deals_per_sec > 0.0 && !summary.degraded);
    let json = serde_json::to_value(&summary).expect("serialises");
    assert!(json["elapsed"].is_f64(), "elapsed in seconds: {json}");

    std::fs::write(&input, "deal_id,amount\nD1,5\n").expect("write input");
    let bad_out = dir.path().join("bad.csv");
    let err = score_csv_file(&input, &bad_out, scorer(), as_of()).expect_err("missing columns");
    assert!(format!("{err:#}").contains("in.csv"), "{err:#}");
    assert!(!bad_out.exists(), "no output for a structural error");
    let missing = score_csv_file(&dir.path().join("nope.csv"), &bad_out, scorer(), as_of());
    assert!(format!("{:#}", missing.expect_err("missing")).contains("nope.csv"));
}

#[test]
fn scorer_for_loads_a_model_and_explains_missing_or_corrupt_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.json");
    let json = scorer().model().expect("model").to_json().expect("json");
    std::fs::write(&path, json).expect("write model");
    let loaded = scorer_for(Some(&path), None, as_of()).expect("loads");
    assert_eq!(loaded.version(), scorer().version());

    std::fs::write(&path, "{ not json").expect("write");
    let err = format!(
        "{:#}",
        scorer_for(Some(&path), None, as_of())
            .err()
            .expect("corrupt")
    );
    assert!(
        err.contains("not a usable SkyGeni model") && err.contains("model.json"),
        "{err}"
    );
    let gone = dir.path().join("gone.json");
    let err = format!(
        "{:#}",
        scorer_for(Some(&gone), None, as_of())
            .err()
            .expect("missing")
    );
    assert!(
        err.contains("failed to read the model file") && err.contains("gone.json"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        scorer_for(None, None, as_of()).err().expect("neither")
    );
    assert!(err.contains("--model") && err.contains("--train"), "{err}");
}

#[test]
fn thin_history_falls_back_to_degraded_segment_rates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.csv");
    std::fs::write(&path, generated_csv(60, "H")).expect("write");
    let s = scorer_for(None, Some(&path), as_of()).expect("falls back");
    assert!(s.model().is_none(), "60 deals are too few for a model");
    let mut out = Vec::new();
    let summary = score_csv_bytes(open_csv(10, "X").as_bytes(), &mut out, &s, as_of()).expect("ok");
    assert!(summary.degraded && summary.scored == 10);
    assert_eq!(
        summary.model_version,
        crate::engine::scorer::FALLBACK_VERSION
    );

    std::fs::write(&path, open_csv(60, "H")).expect("write");
    let err = format!(
        "{:#}",
        scorer_for(None, Some(&path), as_of())
            .err()
            .expect("no closed")
    );
    assert!(err.contains("no deals closed"), "{err}");
}

#[test]
fn numbers_round_half_away_from_zero_and_factors_carry_a_sign() {
    let cases = [
        (0.03125, 4, false, "0.0313"),
        (1.0, 4, false, "1.0000"),
        (-2.25, 1, true, "-2.3"),
        (2.04, 1, true, "+2.0"),
        (-0.04, 1, true, "+0.0"),
        (12.0, 0, false, "12"),
    ];
    for (v, d, signed, want) in cases {
        let mut out = Vec::new();
        push_fixed(&mut out, v, d, signed);
        assert_eq!(String::from_utf8(out).expect("ascii"), want, "{v}");
    }
    let mut out = Vec::new();
    write_field(&mut out, "Acme, \"Inc\"");
    assert_eq!(out, b"\"Acme, \"\"Inc\"\"\"");
}
