//! Data-quality rules for one incoming deal row: hard rules reject the row, soft rules
//! normalise or flag it. Shared by every CRM source.
use super::dates::parse_date;
use super::owners::split_owner;
use crate::domain::{Deal, Outcome};
use chrono::NaiveDate;

use crate::domain::deal::plausible_amount;
pub use crate::domain::deal::{MAX_AGE_YEARS, MAX_AMOUNT};

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
    /// The owner as the CRM names them: "Jane Doe", "jane@x.com" or "Jane Doe <jane@x.com>".
    pub owner_name: Option<&'a str>,
    /// Salesforce report flags (`Won`, `Closed`: 1/0, true/false).
    pub won_flag: Option<&'a str>,
    pub closed_flag: Option<&'a str>,
}

/// The window a row's `created_date` must fall in: at most [`MAX_AGE_YEARS`] before `as_of`
/// and not after `newest`. For import and scoring `newest` is `as_of`; a backtest replays an
/// earlier date from a file that also holds the later history, so its `newest` is today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRules {
    pub as_of: NaiveDate,
    pub newest: NaiveDate,
}

impl From<NaiveDate> for DateRules {
    fn from(as_of: NaiveDate) -> Self {
        DateRules {
            as_of,
            newest: as_of,
        }
    }
}

impl DateRules {
    /// Rules for replaying `as_of` from a file written up to `today`.
    pub fn replay(as_of: NaiveDate, today: NaiveDate) -> Self {
        DateRules {
            as_of,
            newest: today.max(as_of),
        }
    }

    pub fn oldest(&self) -> NaiveDate {
        self.as_of
            .checked_sub_months(chrono::Months::new(12 * MAX_AGE_YEARS as u32))
            .unwrap_or(NaiveDate::MIN)
    }
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

pub(crate) fn cell(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// Apply the hard and soft rules to one row, dated by `rules` (or a plain as-of date).
pub fn validate_row(
    raw: &RawDeal<'_>,
    rules: impl Into<DateRules>,
) -> Result<(Deal, Notes), Rejection> {
    let rules = rules.into();
    let mut notes = Notes::new();
    let deal_id =
        cell(raw.deal_id).ok_or_else(|| reject("missing_required", "deal_id is empty"))?;
    if deal_id.len() > 128 {
        return Err(reject(
            "bad_deal_id",
            "deal_id is longer than 128 characters",
        ));
    }
    let created_raw = cell(raw.created_date)
        .ok_or_else(|| reject("missing_required", "created_date is empty"))?;
    let stage =
        cell(raw.deal_stage).ok_or_else(|| reject("missing_required", "deal_stage is empty"))?;
    let amount_raw = cell(raw.amount);
    let amount = match amount_raw {
        None => None,
        Some(a) => Some(
            parse_amount(a)
                .ok_or_else(|| reject("bad_amount", format!("amount {a:?} is not a number")))?,
        ),
    };
    let created = parse_date(created_raw).ok_or_else(|| {
        reject(
            "bad_date",
            format!("created_date {created_raw:?} is not a date"),
        )
    })?;
    if created < rules.oldest() {
        return Err(reject(
            "created_date_out_of_range",
            format!(
                "created_date {created} is more than {MAX_AGE_YEARS} years before {as_of} \
                 (for older history pass --as-of a date near it)",
                as_of = rules.as_of
            ),
        ));
    }
    if created > rules.newest {
        return Err(reject(
            "created_date_out_of_range",
            format!("created_date {created} is after {}", rules.newest),
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
    let outcome = match (cell(raw.outcome), cell(raw.closed_flag)) {
        (Some(s), _) => parse_outcome(s).ok_or_else(|| {
            reject(
                "bad_outcome",
                format!("outcome {s:?} is not Won, Lost, Open or empty (open)"),
            )
        })?,
        (None, Some(c)) => match (parse_flag(c), cell(raw.won_flag).and_then(parse_flag)) {
            (Some(true), Some(true)) => Some(Outcome::Won),
            (Some(true), _) => Some(Outcome::Lost),
            (Some(false), _) => None,
            (None, _) => {
                return Err(reject(
                    "bad_outcome",
                    format!("closed flag {c:?} is not true/false or 1/0"),
                ));
            }
        },
        (None, None) => outcome_from_stage(stage),
    };
    let amount = match (amount, outcome) {
        (Some(a), _) if plausible_amount(a) => a,
        (Some(a), _) if a != 0.0 => {
            return Err(reject(
                "amount_out_of_range",
                format!("amount {a} is not in (0, 10,000,000)"),
            ));
        }
        // A lost deal's amount is often cleared in the CRM, and an open one may not be priced
        // yet: both are kept (value figures count them as 0) and flagged. A won deal without
        // an amount is a data error.
        (_, Some(Outcome::Lost)) => {
            notes.push((
                "lost_without_amount",
                "lost deal has no amount; kept as 0".into(),
            ));
            0.0
        }
        (_, None) => {
            notes.push((
                "open_without_amount",
                "open deal has no amount yet; scored, counted as 0 in value figures".into(),
            ));
            0.0
        }
        (None, Some(Outcome::Won)) => {
            return Err(reject("missing_required", "amount is empty on a won deal"));
        }
        (Some(a), Some(Outcome::Won)) => {
            return Err(reject(
                "amount_out_of_range",
                format!("amount {a} is not in (0, 10,000,000)"),
            ));
        }
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
    let (owner_name, owner_address) = cell(raw.owner_name).map_or((None, None), split_owner);
    let owner_email = cell(raw.owner_email)
        .map(|s| s.to_ascii_lowercase())
        .or(owner_address);
    let sales_rep_id = match (cell(raw.sales_rep_id), &owner_email, &owner_name) {
        (None, Some(id), _) | (None, None, Some(id)) => id.clone(),
        (rep, ..) => text_or_unknown(rep, "sales_rep_id"),
    };
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
        owner_email,
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

/// An outcome cell: won/lost spellings, or "open" (Pipedrive's status) for an open deal;
/// `None` when it is none of these.
fn parse_outcome(s: &str) -> Option<Option<Outcome>> {
    match s.to_ascii_lowercase().replace(['-', '_'], " ").trim() {
        "won" | "win" | "closed won" | "closedwon" => Some(Some(Outcome::Won)),
        "lost" | "loss" | "closed lost" | "closedlost" => Some(Some(Outcome::Lost)),
        "open" => Some(None),
        _ => None,
    }
}

/// The outcome a stage name implies when the file has no outcome column: Salesforce's
/// "Closed Won"/"Closed Lost" (and variants such as "Closed Lost - No Decision"), HubSpot's
/// `closedwon`/`closedlost` stage ids, plain "Won"/"Lost"; any other stage is open.
pub fn outcome_from_stage(stage: &str) -> Option<Outcome> {
    let key: String = stage
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    if key.starts_with("closedwon") || matches!(key.as_str(), "won" | "win" | "dealwon") {
        Some(Outcome::Won)
    } else if key.starts_with("closedlost") || matches!(key.as_str(), "lost" | "loss" | "deallost")
    {
        Some(Outcome::Lost)
    } else {
        None
    }
}

/// Report flags: 1/0, true/false, yes/no.
fn parse_flag(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" => Some(true),
        "0" | "false" | "no" | "n" => Some(false),
        _ => None,
    }
}

pub(crate) fn collapse_ws(s: &str) -> String {
    if is_collapsed(s) {
        return s.to_string();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True when `s` is ASCII with only single inner spaces (already what [`collapse_ws`] makes):
/// one pass over the bytes, the common case for CRM cells. ASCII whitespace is exactly
/// 0x09..=0x0D and ' '; any non-ASCII byte takes the general path.
fn is_collapsed(s: &str) -> bool {
    let b = s.as_bytes();
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let mut prev_space = false;
    for &c in b {
        if c >= 0x80 || (0x09..=0x0D).contains(&c) || (c == b' ' && prev_space) {
            return false;
        }
        prev_space = c == b' ';
    }
    true
}

/// Match a known value case-insensitively and return its canonical spelling.
fn canonical(s: &str, known: &[&str]) -> String {
    // Most cells are already spelled canonically: no collapsing, no case-folding compare.
    if let Some(k) = known.iter().find(|k| **k == s) {
        return k.to_string();
    }
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
#[path = "validate_tests.rs"]
mod tests;
