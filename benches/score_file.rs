//! `cargo bench --bench score_file`: file-to-file scoring of 100,000 generated deals (read,
//! parse, check, score with 3 factors, write) — the target is ≥ 1,000,000 deals/s on
//! 2 cores. Five timed runs per case; best and median reported. A naive single-threaded path
//! (importer + `score_core` + `write!`) is timed once for comparison.
use std::io::Write;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use skygeni::cli::score_file::score_csv_file;
use skygeni::crm::synthetic::{generated_csv, generated_open_csv};
use skygeni::crm::{parse_csv_bytes, read_csv_file};
use skygeni::engine::{Scorer, TrainConfig, train};

const ROWS: usize = 100_000;
const RUNS: usize = 5;

/// Generated rows with closed_date, sales_cycle_days and outcome blanked: every deal is
/// open, so every row is scored (the mixed file skips the ~80 % already closed).
fn open_csv(n: usize) -> String {
    generated_open_csv(n, "S")
}

fn scorer(cfg: TrainConfig, as_of: NaiveDate) -> Scorer {
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/skygeni_sales_data.csv"
    );
    let deals = read_csv_file(seed.as_ref(), as_of)
        .expect("seed file")
        .deals;
    let model = train(&deals, &cfg).model.expect("seed data trains a model");
    let stats = model.segments.clone();
    Scorer::new(Some(model), stats)
}

fn main() -> anyhow::Result<()> {
    let as_of = NaiveDate::from_ymd_opt(2024, 6, 1).expect("date");
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("scored.csv");
    let open = dir.path().join("open.csv");
    let mixed = dir.path().join("mixed.csv");
    std::fs::write(&open, open_csv(ROWS))?;
    std::fs::write(&mixed, generated_csv(ROWS, "S"))?;
    let logistic = TrainConfig {
        gbt: None,
        ..TrainConfig::default()
    };
    let trees = TrainConfig {
        l2_candidates: vec![],
        ..TrainConfig::default()
    };
    let scorers = [
        ("default (CV-chosen)", scorer(TrainConfig::default(), as_of)),
        ("logistic", scorer(logistic, as_of)),
        ("trees", scorer(trees, as_of)),
    ];
    let rayon_threads = rayon::current_num_threads();
    println!("score_file: {ROWS} rows, {RUNS} runs each, rayon threads {rayon_threads}");
    for (name, s) in &scorers {
        let kind = s.model().map_or("none", |m| m.kind.as_str());
        for (file, path) in [("all open", &open), ("mixed 20% open", &mixed)] {
            let mut times: Vec<Duration> = Vec::new();
            let mut last = None;
            for _ in 0..RUNS {
                let summary = score_csv_file(path, &out, s, as_of)?;
                times.push(summary.elapsed);
                last = Some(summary);
            }
            times.sort();
            let summary = last.expect("runs");
            let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
            println!(
                "  {name} [{kind}] / {file}: scored {} of {}; best {:.1} ms = {:.0} deals/s, \
                 median {:.1} ms = {:.0} deals/s",
                summary.scored,
                summary.rows_read,
                times[0].as_secs_f64() * 1e3,
                rate(times[0]),
                times[RUNS / 2].as_secs_f64() * 1e3,
                rate(times[RUNS / 2]),
            );
        }
    }

    // Naive baseline: importer (sequential, allocating) + score_core + write! per row.
    let s = &scorers[0].1;
    let t0 = Instant::now();
    let bytes = std::fs::read(&open)?;
    let deals = parse_csv_bytes(&bytes, as_of)?.deals;
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for d in &deals {
        let c = s.score_core(d, as_of);
        write!(
            w,
            "{},{},{},{:.4}",
            d.deal_id,
            c.risk_score,
            c.category.as_str(),
            1.0 - c.p_lost
        )?;
        for f in &c.factors {
            write!(w, ",{}:{:+.1}pp", f.code.as_str(), f.impact_pp)?;
        }
        writeln!(w)?;
    }
    w.flush()?;
    let naive = t0.elapsed();
    println!(
        "  naive single-threaded (importer + score_core + write!) / all open: {:.1} ms = {:.0} deals/s",
        naive.as_secs_f64() * 1e3,
        ROWS as f64 / naive.as_secs_f64()
    );
    Ok(())
}
