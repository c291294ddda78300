//! A B2B deal (Salesforce: Opportunity) as the engine sees it, whatever CRM it came from.
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// How a closed deal ended. An open deal has no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Won,
    Lost,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "Won",
            Outcome::Lost => "Lost",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "Won" => Some(Outcome::Won),
            "Lost" => Some(Outcome::Lost),
            _ => None,
        }
    }
}

/// One deal. Fields follow the seed CSV schema; the optional tail holds what richer CRMs add
/// (names, owner, activity signals). `None` always means "the source did not say".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub deal_id: String,
    pub created_date: NaiveDate,
    /// Close date of a closed deal (for an open deal: expected close date when the CRM has one).
    pub closed_date: Option<NaiveDate>,
    pub sales_rep_id: String,
    pub industry: String,
    pub region: String,
    /// Missing products are stored as "Core" (the design's default).
    pub product_type: String,
    pub lead_source: String,
    pub deal_stage: String,
    pub amount: f64,
    /// Days from creation to close for closed deals; derived from the dates when missing.
    pub sales_cycle_days: Option<i64>,
    /// `None` while the deal is open.
    pub outcome: Option<Outcome>,
    pub company: Option<String>,
    pub deal_name: Option<String>,
    pub owner_email: Option<String>,
    pub last_activity_date: Option<NaiveDate>,
    /// Date the deal entered its current stage (Salesforce stage history).
    pub stage_entered_date: Option<NaiveDate>,
    /// How many times the expected close date was pushed later.
    pub close_date_pushes: Option<u32>,
    /// Largest amount reduction so far as a fraction of the original amount (0.25 = cut by 25 %).
    pub amount_cut_pct: Option<f64>,
}

/// A deal owner named in a CRM export, to be known as a user of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealOwner {
    /// The deal's `sales_rep_id` (alerts find a deal's owner by it).
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Amounts must be positive and below this (the design's sanity bound). The CSV/CRM importer
/// and the API share it, so a deal the API accepts could also have been imported.
pub const MAX_AMOUNT: f64 = 10_000_000.0;
/// Created dates older than this many years before the as-of date are implausible.
pub const MAX_AGE_YEARS: i32 = 5;

/// Is `amount` in (0, MAX_AMOUNT)?
pub fn plausible_amount(amount: f64) -> bool {
    amount > 0.0 && amount < MAX_AMOUNT
}

/// Is `created` on or before `as_of` and at most MAX_AGE_YEARS before it?
pub fn plausible_created(created: NaiveDate, as_of: NaiveDate) -> bool {
    let oldest = as_of
        .checked_sub_months(chrono::Months::new(12 * MAX_AGE_YEARS as u32))
        .unwrap_or(NaiveDate::MIN);
    created >= oldest && created <= as_of
}

impl Deal {
    pub fn is_open(&self) -> bool {
        self.outcome.is_none()
    }

    /// Was this deal open on `date` (created on or before, and not yet closed)?
    /// Used by backtests to see history as it looked then.
    pub fn was_open_on(&self, date: NaiveDate) -> bool {
        self.created_date <= date
            && match (self.outcome, self.closed_date) {
                (None, _) => true,
                (Some(_), Some(closed)) => closed > date,
                (Some(_), None) => false,
            }
    }

    /// Days open as of `date`; never negative.
    pub fn age_on(&self, date: NaiveDate) -> i64 {
        (date - self.created_date).num_days().max(0)
    }

    /// The deal as the CRM showed it on `date`: `None` if not yet created; an outcome that
    /// came later is hidden (open then). Backtests and the demo replay history with this.
    pub fn as_seen_on(&self, date: NaiveDate) -> Option<Deal> {
        if self.created_date > date {
            return None;
        }
        if self.was_open_on(date) && self.outcome.is_some() {
            return Some(Deal {
                outcome: None,
                closed_date: None,
                sales_cycle_days: None,
                ..self.clone()
            });
        }
        Some(self.clone())
    }

    /// A convenient minimal deal for tests and examples.
    pub fn example(deal_id: &str) -> Deal {
        Deal {
            deal_id: deal_id.to_string(),
            created_date: NaiveDate::from_ymd_opt(2024, 1, 2).expect("valid date"),
            closed_date: None,
            sales_rep_id: "rep_1".into(),
            industry: "SaaS".into(),
            region: "Europe".into(),
            product_type: "Core".into(),
            lead_source: "Inbound".into(),
            deal_stage: "Proposal".into(),
            amount: 25_000.0,
            sales_cycle_days: None,
            outcome: None,
            company: None,
            deal_name: None,
            owner_email: None,
            last_activity_date: None,
            stage_entered_date: None,
            close_date_pushes: None,
            amount_cut_pct: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_closed_deal_was_open_only_between_creation_and_close() {
        let mut deal = Deal::example("D1");
        deal.created_date = d("2024-01-10");
        deal.closed_date = Some(d("2024-02-10"));
        deal.outcome = Some(Outcome::Won);
        assert!(!deal.was_open_on(d("2024-01-09")));
        assert!(deal.was_open_on(d("2024-01-10")));
        assert!(deal.was_open_on(d("2024-02-09")));
        assert!(
            !deal.was_open_on(d("2024-02-10")),
            "closed on its close date"
        );
        assert_eq!(deal.age_on(d("2024-01-20")), 10);
        assert_eq!(deal.age_on(d("2023-12-01")), 0, "age never negative");
        assert_eq!(deal.as_seen_on(d("2024-01-09")), None, "not created yet");
        let then = deal.as_seen_on(d("2024-01-20")).unwrap();
        assert!(
            then.is_open() && then.closed_date.is_none(),
            "the later outcome is hidden"
        );
        assert_eq!(
            deal.as_seen_on(d("2024-03-01")),
            Some(deal.clone()),
            "closed by then"
        );
    }
}
