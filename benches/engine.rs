//! Scoring throughput on one core: `Scorer::score` (factors + sentences + recommendations) and
//! the allocation-free `Scorer::score_core`, for the logistic and the tree model.
use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use skygeni::domain::{Deal, Outcome};
use skygeni::engine::trees::GbtParams;
use skygeni::engine::{Scorer, SegmentStats, TrainConfig, train};

fn seed_deals() -> Vec<Deal> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/skygeni_sales_data.csv"
    );
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    let mut rdr = csv::Reader::from_path(path).expect("seed csv");
    rdr.records()
        .map(|r| {
            let r = r.expect("row");
            let mut d = Deal::example(&r[0]);
            d.created_date = date(&r[1]);
            d.closed_date = Some(date(&r[2]));
            d.industry = r[4].into();
            d.region = r[5].into();
            d.product_type = r[6].into();
            d.lead_source = r[7].into();
            d.amount = r[9].parse().expect("amount");
            d.sales_cycle_days = Some(r[10].parse().expect("cycle"));
            d.outcome = Outcome::parse(&r[11]);
            d
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let deals = seed_deals();
    let stats = SegmentStats::from_closed(&deals, 10);
    let as_of = NaiveDate::from_ymd_opt(2024, 12, 31).expect("date");
    let open: Vec<Deal> = deals
        .iter()
        .take(10_000)
        .map(|d| Deal {
            outcome: None,
            ..d.clone()
        })
        .collect();
    let logistic = train(
        &deals,
        &TrainConfig {
            gbt: None,
            ..TrainConfig::default()
        },
    )
    .model;
    let trees = train(
        &deals,
        &TrainConfig {
            l2_candidates: vec![],
            gbt: Some(GbtParams::default()),
            ..TrainConfig::default()
        },
    )
    .model;
    let scorers = [
        ("logistic", Scorer::new(logistic, stats.clone())),
        ("trees", Scorer::new(trees, stats.clone())),
        ("degraded", Scorer::new(None, stats)),
    ];
    let mut g = c.benchmark_group("score_one_core");
    g.throughput(Throughput::Elements(open.len() as u64));
    g.sample_size(20);
    for (name, scorer) in &scorers {
        g.bench_function(format!("{name}/score"), |b| {
            b.iter(|| {
                for d in &open {
                    black_box(scorer.score(black_box(d), as_of));
                }
            })
        });
        g.bench_function(format!("{name}/score_core"), |b| {
            b.iter(|| {
                for d in &open {
                    black_box(scorer.score_core(black_box(d), as_of));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
