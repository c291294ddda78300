//! Deterministic synthetic deals in the seed CSV schema, for benchmarks, load tests and tests
//! that need more rows than the seed file has.

/// The seed file's header line.
pub const SEED_HEADER: &str = "deal_id,created_date,closed_date,sales_rep_id,industry,region,product_type,lead_source,deal_stage,deal_amount,sales_cycle_days,outcome";

/// `n` valid CSV rows (no header), ids `{prefix}0000000…`; one deal in five is open
/// (ids 0–4, 25–29, …).
/// Created dates run from 2023-01-01 over 420 days, so they pass the 5-year rule for
/// any as-of date up to 2027-12-31.
pub fn generated_rows(n: usize, prefix: &str) -> String {
    rows(n, prefix, false)
}

/// Like [`generated_rows`] with every deal open (no close date, cycle or outcome): a
/// pipeline to score, for benchmarks of the scoring paths.
pub fn generated_open_rows(n: usize, prefix: &str) -> String {
    rows(n, prefix, true)
}

fn rows(n: usize, prefix: &str, all_open: bool) -> String {
    use std::fmt::Write;
    const INDUSTRIES: [&str; 5] = ["SaaS", "FinTech", "HealthTech", "EdTech", "Ecommerce"];
    const REGIONS: [&str; 4] = ["India", "APAC", "Europe", "North America"];
    const PRODUCTS: [&str; 3] = ["Core", "Pro", "Enterprise"];
    const SOURCES: [&str; 4] = ["Inbound", "Outbound", "Referral", "Partner"];
    const STAGES: [&str; 5] = ["Qualified", "Demo", "Proposal", "Negotiation", "Closed"];
    let mut out = String::with_capacity(n * 110);
    let base = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date");
    for i in 0..n {
        let created = base + chrono::Days::new((i % 420) as u64);
        let cycle = 7 + (i * 37) % 114;
        // Open deals come in runs of five, so every industry, region etc. has open and closed ones.
        let (closed, cycle_s, outcome) = if all_open || (i / 5) % 5 == 0 {
            (String::new(), String::new(), "")
        } else {
            let won = (i * 7919) % 100 < 45;
            (
                (created + chrono::Days::new(cycle as u64)).to_string(),
                cycle.to_string(),
                if won { "Won" } else { "Lost" },
            )
        };
        let _ = writeln!(
            out,
            "{prefix}{i:07},{created},{closed},rep_{},{},{},{},{},{},{},{cycle_s},{outcome}",
            i % 25,
            INDUSTRIES[i % 5],
            REGIONS[(i / 5) % 4],
            PRODUCTS[(i / 3) % 3],
            SOURCES[(i / 7) % 4],
            STAGES[i % 5],
            2_000 + (i * 7_877) % 98_000,
        );
    }
    out
}

/// A whole CSV file: header plus `n` generated rows.
pub fn generated_csv(n: usize, prefix: &str) -> String {
    format!("{SEED_HEADER}\n{}", generated_rows(n, prefix))
}

/// A whole CSV file of `n` open deals.
pub fn generated_open_csv(n: usize, prefix: &str) -> String {
    format!("{SEED_HEADER}\n{}", generated_open_rows(n, prefix))
}
