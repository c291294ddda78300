//! Test fixtures: hand-made deals, the seed CSV, and generated histories with planted effects.
use chrono::NaiveDate;

use crate::domain::{Deal, Outcome};

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

/// A closed deal created 2023-06-01 with the given cycle and outcome.
pub fn closed_deal(
    id: &str,
    industry: &str,
    source: &str,
    amount: f64,
    cycle: i64,
    won: bool,
) -> Deal {
    let mut d = Deal::example(id);
    d.created_date = date("2023-06-01");
    d.closed_date = Some(d.created_date + chrono::Days::new(cycle as u64));
    d.sales_cycle_days = Some(cycle);
    d.industry = industry.into();
    d.lead_source = source.into();
    d.amount = amount;
    d.outcome = Some(if won { Outcome::Won } else { Outcome::Lost });
    d
}

/// The seed dataset, read directly (the real importer lives in `crm/`).
pub fn seed_deals() -> Vec<Deal> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/skygeni_sales_data.csv"
    );
    let mut rdr = csv::Reader::from_path(path).expect("seed csv");
    rdr.records()
        .map(|r| {
            let r = r.expect("csv row");
            let mut d = Deal::example(&r[0]);
            d.created_date = date(&r[1]);
            d.closed_date = Some(date(&r[2]));
            d.sales_rep_id = r[3].into();
            d.industry = r[4].into();
            d.region = r[5].into();
            d.product_type = r[6].into();
            d.lead_source = r[7].into();
            d.deal_stage = r[8].into();
            d.amount = r[9].parse().expect("amount");
            d.sales_cycle_days = Some(r[10].parse().expect("cycle"));
            d.outcome = Outcome::parse(&r[11]);
            d
        })
        .collect()
}

/// Tiny deterministic PRNG (splitmix64) so fixtures need no seed plumbing.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next_u64() % xs.len() as u64) as usize]
    }
}

/// `n` deals created across 2023–2024 in which Partner leads win 15 % and all others 60 %;
/// nothing else matters. Deals are closed or still open depending on the dates.
pub fn planted_partner_effect(n: usize, seed: u64) -> Vec<Deal> {
    let mut rng = Rng::new(seed);
    let start = date("2023-01-01");
    (0..n)
        .map(|i| {
            let created = start + chrono::Days::new(rng.next_u64() % 540);
            let industries = ["SaaS", "FinTech", "HealthTech", "Retail"];
            generated_deal(
                &mut rng,
                format!("P{i:05}"),
                created,
                &industries,
                (10, 110),
                |d| {
                    if d.lead_source == "Partner" {
                        0.15
                    } else {
                        0.60
                    }
                },
            )
        })
        .collect()
}

/// `n` deals created across 2022-01 … 2024-06 whose win rate drifts from 65 % to 45 % (20 pp)
/// with the creation date, on top of a modest real effect (Partner leads −15 pp) — the data
/// on which a model that trusts all history equally is worse than plain segment rates.
/// Returns the deals and each deal's true P(lost).
pub fn drifting_history(n: usize, seed: u64) -> (Vec<Deal>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let start = date("2022-01-01");
    let span = 900.0;
    (0..n)
        .map(|i| {
            let day = rng.next_u64() % span as u64;
            let created = start + chrono::Days::new(day);
            let trend = 0.65 - 0.20 * day as f64 / span;
            let p_win = |d: &Deal| {
                trend
                    - if d.lead_source == "Partner" {
                        0.15
                    } else {
                        0.0
                    }
            };
            let industries = ["SaaS", "FinTech", "HealthTech"];
            let d = generated_deal(
                &mut rng,
                format!("W{i:05}"),
                created,
                &industries,
                (15, 100),
                p_win,
            );
            let p = p_win(&d);
            (d, 1.0 - p)
        })
        .unzip()
}

/// One generated closed deal: attributes drawn in a fixed order (so fixtures stay stable), a
/// cycle of `cycle.0 + (0..cycle.1)` days, and the outcome drawn with `p_win(&deal)`.
fn generated_deal(
    rng: &mut Rng,
    id: String,
    created: NaiveDate,
    industries: &[&str],
    cycle: (i64, u64),
    p_win: impl Fn(&Deal) -> f64,
) -> Deal {
    let mut d = Deal::example(&id);
    d.created_date = created;
    d.industry = rng.pick(industries).into();
    d.region = rng.pick(&["Europe", "APAC", "North America"]).into();
    d.product_type = rng.pick(&["Core", "Pro", "Enterprise"]).into();
    d.lead_source = rng
        .pick(&["Partner", "Inbound", "Outbound", "Referral"])
        .into();
    d.amount = (5_000.0 + 40_000.0 * rng.unit()).round();
    let days = cycle.0 + (rng.next_u64() % cycle.1) as i64;
    d.sales_cycle_days = Some(days);
    d.closed_date = Some(d.created_date + chrono::Days::new(days as u64));
    d.outcome = Some(if rng.unit() < p_win(&d) {
        Outcome::Won
    } else {
        Outcome::Lost
    });
    d
}
