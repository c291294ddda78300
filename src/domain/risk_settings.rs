//! A tenant's risk settings as an admin sets them — `skygeni risk-settings`,
//! `PUT /v1/settings/risk` and the Slack settings modal — with the one set of rules all three
//! check: band edges that rise and leave room for critical, and a daily alert budget.
use super::RiskBands;
use serde::{Deserialize, Serialize};

/// Critical alerts per recipient per day when the tenant set no budget.
pub const DEFAULT_ALERTS_PER_DAY: u32 = 5;
/// The largest budget accepted: beyond it the budget would no longer limit anything.
pub const MAX_ALERTS_PER_DAY: u32 = 1000;

/// Band edges and the critical-alert budget per recipient per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskSettings {
    pub bands: RiskBands,
    pub alerts_per_day: u32,
}

impl Default for RiskSettings {
    /// The design's bands and five alerts a day.
    fn default() -> Self {
        RiskSettings {
            bands: RiskBands::default(),
            alerts_per_day: DEFAULT_ALERTS_PER_DAY,
        }
    }
}

/// Which setting a refusal is about, so each edge can point at its own field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskSettingsField {
    Bands,
    AlertsPerDay,
}

impl RiskSettings {
    /// Checks every value as given (integers from JSON or a form); `Err` names the field.
    pub fn new(
        low_max: i64,
        medium_max: i64,
        high_max: i64,
        alerts_per_day: i64,
    ) -> Result<RiskSettings, (RiskSettingsField, String)> {
        let bands = RiskBands::from_edges(low_max, medium_max, high_max)
            .map_err(|e| (RiskSettingsField::Bands, e))?;
        let alerts_per_day = check_alerts_per_day(alerts_per_day)
            .map_err(|e| (RiskSettingsField::AlertsPerDay, e))?;
        Ok(RiskSettings {
            bands,
            alerts_per_day,
        })
    }
}

/// A budget of 1..=[`MAX_ALERTS_PER_DAY`] alerts per recipient per day.
pub fn check_alerts_per_day(n: i64) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_ALERTS_PER_DAY).contains(n))
        .ok_or_else(|| {
            format!("alerts per day must be a whole number from 1 to {MAX_ALERTS_PER_DAY}; got {n}")
        })
}

/// [`check_alerts_per_day`] on text ("5"), as the CLI flag and the Slack form give it.
pub fn parse_alerts_per_day(s: &str) -> Result<u32, String> {
    let n: i64 = s.trim().parse().map_err(|_| {
        format!("{s:?} is not a whole number of alerts per day (1 to {MAX_ALERTS_PER_DAY})")
    })?;
    check_alerts_per_day(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_refused_with_the_field_they_are_about() {
        let cases = [
            ((25, 50, 75, 5), None),
            ((0, 1, 99, 1), None),
            ((10, 20, 30, 1000), None),
            ((50, 40, 90, 5), Some(RiskSettingsField::Bands)),
            ((25, 50, 100, 5), Some(RiskSettingsField::Bands)),
            ((-1, 50, 75, 5), Some(RiskSettingsField::Bands)),
            ((25, 25, 75, 5), Some(RiskSettingsField::Bands)),
            ((25, 50, 300, 5), Some(RiskSettingsField::Bands)),
            ((25, 50, 75, 0), Some(RiskSettingsField::AlertsPerDay)),
            ((25, 50, 75, 1001), Some(RiskSettingsField::AlertsPerDay)),
            ((25, 50, 75, -5), Some(RiskSettingsField::AlertsPerDay)),
        ];
        for ((l, m, h, a), want) in cases {
            let got = RiskSettings::new(l, m, h, a);
            assert_eq!(
                got.as_ref().err().map(|e| e.0),
                want,
                "{l},{m},{h},{a}: {got:?}"
            );
            if let Err((_, msg)) = got {
                assert!(!msg.is_empty());
            }
        }
        let ok = RiskSettings::new(40, 70, 90, 3).unwrap();
        assert_eq!(ok.bands, RiskBands::parse("40,70,90").unwrap());
        assert_eq!(ok.alerts_per_day, 3);
    }

    #[test]
    fn the_budget_parses_from_text_as_the_cli_and_slack_give_it() {
        assert_eq!(parse_alerts_per_day(" 12 "), Ok(12));
        for bad in ["0", "1001", "five", "", "2.5", "-3"] {
            assert!(parse_alerts_per_day(bad).is_err(), "{bad:?}");
        }
        assert_eq!(RiskSettings::default().alerts_per_day, 5);
    }
}
