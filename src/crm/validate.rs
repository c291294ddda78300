//! Data-quality rules for one incoming deal row: hard rules reject the row, soft rules
//! normalise or flag it. Shared by every CRM source.
use super::dates::parse_date;
use crate::domain::{Deal, Outcome};
use chrono::NaiveDate;

pub use crate::domain::deal::{MAX_AGE_YEARS, MAX_AMOUNT};
use crate::domain::deal::{plausible_amount, plausible_created};

/// The raw text cells of one row, by meaning; `None` when the column is absent.
#[derive(Debug, Default, Clone)]
pub struct RawDeal<'a> {
    pub deal_id: Option<&'a str>,
    pub created_date: Option<&'a str>,
    pub closed_date: Option<&'a str>,
    pub sales_rep_id: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub region: Option<&'a str>,
    pub product_type: Option<&'a str>,
    pub lead_source: Option<&'a str>,
    pub deal_stage: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub sales_cycle_days: Option<&'a str>,
    pub outcome: Option<&'a str>,
    pub company: Option<&'a str>,
    pub deal_name: Option<&'a str>,
    pub owner_email: Option<&'a str>,
    pub last_activity_date: Option<&'a str>,
}

/// Why a row was rejected: a stable rule code and a sentence for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub rule: &'static str,
    pub detail: String,
}

fn reject(rule: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection {
        rule,
        detail: detail.into(),
    }
}

/// Soft-rule notes about an accepted row.
pub type Notes = Vec<(&'static str, String)>;

fn cell(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// Apply the hard and soft rules to one row.
pub fn validate_row(raw: &RawDeal<'_>, as_of: NaiveDate) -> Result<(Deal, Notes), Rejection> {
    let mut notes = Notes::new();
    let deal_id =
        cell(raw.deal_id).ok_or_else(|| reject("missing_required", "deal_id is empty"))?;
    if deal_id.len() > 128 {
        return Err(reject(
            "bad_deal_id",
            "deal_id is longer than 128 characters",
        ));
    }
    let amount_raw =
        cell(raw.amount).ok_or_else(|| reject("missing_required", "amount is empty"))?;
    let created_raw = cell(raw.created_date)
        .ok_or_else(|| reject("missing_required", "created_date is empty"))?;
    let stage =
        cell(raw.deal_stage).ok_or_else(|| reject("missing_required", "deal_stage is empty"))?;

    let amount = parse_amount(amount_raw).ok_or_else(|| {
        reject(
            "bad_amount",
            format!("amount {amount_raw:?} is not a number"),
        )
    })?;
    if !plausible_amount(amount) {
        return Err(reject(
            "amount_out_of_range",
            format!("amount {amount} is not in (0, 10,000,000)"),
        ));
    }
    let created = parse_date(created_raw).ok_or_else(|| {
        reject(
            "bad_date",
            format!("created_date {created_raw:?} is not a date"),
        )
    })?;
    if !plausible_created(created, as_of) {
        return Err(reject(
            "created_date_out_of_range",
            format!(
                "created_date {created} is not within the {MAX_AGE_YEARS} years before {as_of}"
            ),
        ));
    }
    let closed = match cell(raw.closed_date) {
        None => None,
        Some(s) => Some(
            parse_date(s)
                .ok_or_else(|| reject("bad_date", format!("closed_date {s:?} is not a date")))?,
        ),
    };
    if let Some(c) = closed
        && c < created
    {
        return Err(reject(
            "closed_before_created",
            format!("closed_date {c} is before created_date {created}"),
        ));
    }
    let outcome = match cell(raw.outcome) {
        None => None,
        Some(s) => Some(parse_outcome(s).ok_or_else(|| {
            reject(
                "bad_outcome",
                format!("outcome {s:?} is not Won, Lost or empty (open)"),
            )
        })?),
    };
    let sales_cycle_days = match cell(raw.sales_cycle_days) {
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                reject(
                    "bad_cycle",
                    format!("sales_cycle_days {s:?} is not a whole number"),
                )
            })?;
            if n < 0 {
                return Err(reject(
                    "bad_cycle",
                    format!("sales_cycle_days {n} is negative"),
                ));
            }
            Some(n)
        }
        None => closed.map(|c| {
            notes.push((
                "cycle_derived",
                "sales_cycle_days derived from the dates".into(),
            ));
            (c - created).num_days()
        }),
    };
    if outcome.is_some() && closed.is_none() {
        notes.push((
            "closed_without_date",
            "closed deal has no closed_date".into(),
        ));
    }

    let industry_raw = cell(raw.industry).unwrap_or("Unknown");
    let industry = normalise_industry(industry_raw);
    if industry != industry_raw {
        notes.push((
            "industry_normalised",
            format!("industry {industry_raw:?} → {industry:?}"),
        ));
    }
    let product_type = match cell(raw.product_type) {
        Some(p) => canonical(p, &["Core", "Pro", "Enterprise"]),
        None => {
            notes.push((
                "product_defaulted",
                "missing product_type set to Core".into(),
            ));
            "Core".to_string()
        }
    };
    let mut text_or_unknown = |v: Option<&str>, col: &'static str| match cell(v) {
        Some(s) => collapse_ws(s),
        None => {
            notes.push((
                "missing_optional",
                format!("{col} is empty, stored as Unknown"),
            ));
            "Unknown".to_string()
        }
    };
    let sales_rep_id = text_or_unknown(raw.sales_rep_id, "sales_rep_id");
    let region = text_or_unknown(raw.region, "region");
    let lead_source = canonical(
        &text_or_unknown(raw.lead_source, "lead_source"),
        &["Inbound", "Outbound", "Referral", "Partner"],
    );
    let last_activity_date = cell(raw.last_activity_date).and_then(|s| {
        let d = parse_date(s);
        if d.is_none() {
            notes.push((
                "bad_activity_date",
                format!("last_activity_date {s:?} ignored"),
            ));
        }
        d
    });

    let deal = Deal {
        deal_id: deal_id.to_string(),
        created_date: created,
        closed_date: closed,
        sales_rep_id,
        industry,
        region,
        product_type,
        lead_source,
        deal_stage: collapse_ws(stage),
        amount,
        sales_cycle_days,
        outcome,
        company: cell(raw.company).map(collapse_ws),
        deal_name: cell(raw.deal_name).map(collapse_ws),
        owner_email: cell(raw.owner_email).map(|s| s.to_ascii_lowercase()),
        last_activity_date,
        stage_entered_date: None,
        close_date_pushes: None,
        amount_cut_pct: None,
    };
    Ok((deal, notes))
}

/// "$45,000.50", "45000", "USD 45000" → 45000.5; anything else → None.
pub fn parse_amount(s: &str) -> Option<f64> {
    // Fast path for plain numbers (most cells): a string Rust parses as f64 has no spaces,
    // commas, underscores, `$` or `USD`, so the cleaning below would leave it unchanged.
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let cleaned: String = s
        .trim()
        .trim_start_matches("USD")
        .trim_start_matches('$')
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '_'))
        .collect();
    let v: f64 = cleaned.parse().ok()?;
    v.is_finite().then_some(v)
}

fn parse_outcome(s: &str) -> Option<Outcome> {
    match s.to_ascii_lowercase().replace(['-', '_'], " ").trim() {
        "won" | "win" | "closed won" => Some(Outcome::Won),
        "lost" | "loss" | "closed lost" => Some(Outcome::Lost),
        _ => None,
    }
}

fn collapse_ws(s: &str) -> String {
    // Fast path (one allocation instead of a Vec and a join): ASCII with only single inner
    // spaces is already collapsed. ASCII whitespace is exactly 0x09..=0x0D and ' '.
    let b = s.as_bytes();
    if s.is_ascii()
        && !b.iter().any(|c| (0x09..=0x0D).contains(c))
        && !b.windows(2).any(|w| w == b"  ")
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
    {
        return s.to_string();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Match a known value case-insensitively and return its canonical spelling.
fn canonical(s: &str, known: &[&str]) -> String {
    let s = collapse_ws(s);
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(&s))
        .map(|k| k.to_string())
        .unwrap_or(s)
}

/// Industry names as the seed data spells them; common CRM synonyms mapped onto them.
pub fn normalise_industry(raw: &str) -> String {
    // Canonical names map to themselves; skip building the lookup key for them.
    const CANON: [&str; 5] = ["SaaS", "FinTech", "HealthTech", "EdTech", "Ecommerce"];
    if let Some(c) = CANON.iter().find(|c| **c == raw) {
        return c.to_string();
    }
    let key: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let canon = match key.as_str() {
        "saas" | "software" | "softwareasaservice" | "computersoftware" => "SaaS",
        "fintech" | "financialservices" | "finance" | "banking" => "FinTech",
        "healthtech" | "healthcare" | "health" | "medtech" => "HealthTech",
        "edtech" | "education" => "EdTech",
        "ecommerce" | "ecom" | "retail" | "onlineretail" => "Ecommerce",
        _ => return collapse_ws(raw),
    };
    canon.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn good<'a>() -> RawDeal<'a> {
        RawDeal {
            deal_id: Some("D1"),
            created_date: Some("2024-01-05"),
            deal_stage: Some("Proposal"),
            amount: Some("12000"),
            industry: Some("SaaS"),
            ..Default::default()
        }
    }

    #[test]
    fn each_hard_rule_rejects_with_its_own_code() {
        let cases: Vec<(&str, RawDeal, &str)> = vec![
            (
                "empty id",
                RawDeal {
                    deal_id: Some(" "),
                    ..good()
                },
                "missing_required",
            ),
            (
                "no amount",
                RawDeal {
                    amount: None,
                    ..good()
                },
                "missing_required",
            ),
            (
                "no stage",
                RawDeal {
                    deal_stage: Some(""),
                    ..good()
                },
                "missing_required",
            ),
            (
                "text amount",
                RawDeal {
                    amount: Some("abc"),
                    ..good()
                },
                "bad_amount",
            ),
            (
                "zero amount",
                RawDeal {
                    amount: Some("0"),
                    ..good()
                },
                "amount_out_of_range",
            ),
            (
                "huge amount",
                RawDeal {
                    amount: Some("10000000"),
                    ..good()
                },
                "amount_out_of_range",
            ),
            (
                "bad date",
                RawDeal {
                    created_date: Some("yesterday"),
                    ..good()
                },
                "bad_date",
            ),
            (
                "too old",
                RawDeal {
                    created_date: Some("2021-11-26"),
                    ..good()
                },
                "created_date_out_of_range",
            ),
            (
                "future",
                RawDeal {
                    created_date: Some("2026-12-01"),
                    ..good()
                },
                "created_date_out_of_range",
            ),
            (
                "close<create",
                RawDeal {
                    closed_date: Some("2023-01-01"),
                    ..good()
                },
                "closed_before_created",
            ),
            (
                "outcome",
                RawDeal {
                    outcome: Some("maybe"),
                    ..good()
                },
                "bad_outcome",
            ),
            (
                "cycle",
                RawDeal {
                    sales_cycle_days: Some("-3"),
                    ..good()
                },
                "bad_cycle",
            ),
        ];
        for (name, raw, rule) in cases {
            let err = validate_row(&raw, as_of()).expect_err(name);
            assert_eq!(err.rule, rule, "{name}: {}", err.detail);
        }
    }

    #[test]
    fn soft_rules_normalise_and_keep_the_row() {
        let raw = RawDeal {
            industry: Some("  software "),
            amount: Some("$12,500.50"),
            closed_date: Some("2024-02-04"),
            outcome: Some("Closed Won"),
            lead_source: Some("partner"),
            ..good()
        };
        let (deal, notes) = validate_row(&raw, as_of()).unwrap();
        assert_eq!(deal.industry, "SaaS");
        assert_eq!(deal.amount, 12_500.5);
        assert_eq!(deal.sales_cycle_days, Some(30));
        assert_eq!(deal.outcome, Some(Outcome::Won));
        assert_eq!(deal.product_type, "Core");
        assert_eq!(deal.lead_source, "Partner");
        let rules: Vec<_> = notes.iter().map(|n| n.0).collect();
        for r in ["industry_normalised", "cycle_derived", "product_defaulted"] {
            assert!(rules.contains(&r), "missing note {r} in {rules:?}");
        }
    }

    #[test]
    fn plain_and_formatted_amounts_and_whitespace_take_the_same_rules() {
        for (raw, want) in [
            ("12000", Some(12_000.0)),
            ("1e3", Some(1_000.0)),
            ("USD 45,000", Some(45_000.0)),
            ("$1_000.5", Some(1_000.5)),
            ("inf", None),
            ("NaN", None),
            ("", None),
        ] {
            assert_eq!(parse_amount(raw), want, "{raw:?}");
        }
        for (raw, want) in [
            ("North America", "North America"),
            ("a\tb  c", "a b c"),
            ("é  x", "é x"),
        ] {
            assert_eq!(collapse_ws(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn industry_synonyms_and_case_map_to_seed_names() {
        for (raw, want) in [
            ("saas", "SaaS"),
            ("Software", "SaaS"),
            ("FINTECH", "FinTech"),
            ("E-commerce", "Ecommerce"),
            ("Space  Mining", "Space Mining"),
        ] {
            assert_eq!(normalise_industry(raw), want, "{raw}");
        }
    }
}
