//! Unit-test fixtures: a scored 200-deal pipeline for the Block Kit tests, built with the real
//! importer and engine (segment-rate scoring, no trained model) so builders see realistic
//! scores.
use crate::crm::csv_import::parse_csv_bytes;
use crate::crm::synthetic::generated_csv;
use crate::domain::{Deal, DealScore};
use crate::engine::{
    DEFAULT_SAVE_RATE, PipelineMetrics, Scorer, SegmentStats, SimilarIndex, pipeline_metrics,
};
use chrono::NaiveDate;

pub struct Book {
    pub open: Vec<Deal>,
    pub scores: Vec<DealScore>,
    pub metrics: PipelineMetrics,
}

impl Book {
    /// (deal, score) riskiest first, the order every list view gets from its caller.
    pub fn ranked(&self) -> Vec<(&Deal, &DealScore)> {
        let mut rows: Vec<_> = self.open.iter().zip(&self.scores).collect();
        rows.sort_by(|a, b| {
            b.1.risk_score
                .cmp(&a.1.risk_score)
                .then(a.0.deal_id.cmp(&b.0.deal_id))
        });
        rows
    }
}

pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date")
}

/// 1000 generated rows hold 200 open deals. Some get very long Unicode company names so the
/// tests exercise truncation.
pub fn book() -> Book {
    let csv = generated_csv(1000, "D");
    let parsed = parse_csv_bytes(csv.as_bytes(), as_of()).expect("generated CSV parses");
    let stats = SegmentStats::from_closed(&parsed.deals, 10);
    let similar = SimilarIndex::build(&parsed.deals);
    let scorer = Scorer::new(None, stats.clone());
    let mut open: Vec<Deal> = parsed.deals.into_iter().filter(Deal::is_open).collect();
    for (i, d) in open.iter_mut().enumerate() {
        d.company = Some(if i % 17 == 0 {
            format!("Überlange Gesellschaft {i} {}", "ß€😀".repeat(400))
        } else {
            format!("Company {i}")
        });
        d.deal_name = Some(format!("Renewal {i}"));
    }
    let scores: Vec<DealScore> = open
        .iter()
        .map(|d| {
            let mut s = scorer.score(d, as_of());
            similar.fill(d, as_of(), &mut s);
            s
        })
        .collect();
    let metrics = pipeline_metrics(&open, &scores, &stats, as_of(), None, DEFAULT_SAVE_RATE);
    Book {
        open,
        scores,
        metrics,
    }
}

#[test]
fn the_fixture_has_200_open_scored_deals() {
    let b = book();
    assert_eq!(b.open.len(), 200);
    assert_eq!(b.scores.len(), 200);
    assert_eq!(b.metrics.open_deals, 200);
}
