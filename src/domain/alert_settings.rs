//! A user's alert preferences as stored, with the one set of rules the API
//! (`POST /v1/alerts/configure`), the Slack settings modal and the digest apply to them.
use chrono::NaiveTime;
use std::ops::RangeInclusive;

/// Alert preferences of one user.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertSettings {
    pub critical_enabled: bool,
    pub channels: Vec<String>,
    pub threshold: i64,
    pub digest_time: String,
    pub time_zone: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub max_deals: i64,
    /// Send the daily digest at all (migration 0011).
    pub digest_enabled: bool,
    /// Lowest risk score a deal needs to be listed in the digest.
    pub digest_min_risk_score: i64,
    /// Hold alerts during quiet hours at all.
    pub quiet_enabled: bool,
}

impl Default for AlertSettings {
    /// The column defaults of migrations 0001 and 0011.
    fn default() -> Self {
        AlertSettings {
            critical_enabled: true,
            channels: vec!["slack".into(), "email".into()],
            threshold: 75,
            digest_time: "08:00".into(),
            time_zone: "UTC".into(),
            quiet_start: "20:00".into(),
            quiet_end: "08:00".into(),
            max_deals: 10,
            digest_enabled: true,
            digest_min_risk_score: 51,
            quiet_enabled: true,
        }
    }
}

/// Deals one digest lists. The API published 1–50 (`openapi/v1.json`, `daily_digest.max_deals`;
/// the design gives 10 as the default and no upper bound), so the Slack modal takes the same.
pub const MAX_DEALS: RangeInclusive<i64> = 1..=50;
/// The critical threshold and the digest's lowest listed score are risk scores.
pub const RISK_SCORE: RangeInclusive<i64> = 0..=100;
/// The delivery channels a user can pick.
pub const CHANNELS: [&str; 2] = ["slack", "email"];

/// Which setting a refusal is about, so each edge points at its own field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSettingsField {
    Channels,
    Threshold,
    DigestTime,
    TimeZone,
    MaxDeals,
    DigestMinRiskScore,
    QuietStart,
    QuietEnd,
}

impl AlertSettingsField {
    /// The field's path in the API's body (`POST /v1/alerts/configure`).
    pub fn api_name(self) -> &'static str {
        match self {
            AlertSettingsField::Channels => "critical_deals.channels",
            AlertSettingsField::Threshold => "critical_deals.threshold",
            AlertSettingsField::DigestTime => "daily_digest.time",
            AlertSettingsField::TimeZone => "daily_digest.timezone",
            AlertSettingsField::MaxDeals => "daily_digest.max_deals",
            AlertSettingsField::DigestMinRiskScore => "daily_digest.min_risk_score",
            AlertSettingsField::QuietStart => "quiet_hours.start",
            AlertSettingsField::QuietEnd => "quiet_hours.end",
        }
    }
}

/// What is wrong with a value; each edge words it for its own reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertSettingsProblem {
    OutOfRange { lo: i64, hi: i64 },
    NotHhMm(String),
    UnknownTimeZone(String),
    UnknownChannel(String),
}

/// A refused alert setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAlertSetting {
    pub field: AlertSettingsField,
    pub problem: AlertSettingsProblem,
}

impl InvalidAlertSetting {
    /// The sentence the API answers with, naming the field by its path in the body.
    pub fn api_message(&self) -> String {
        let field = self.field.api_name();
        match &self.problem {
            AlertSettingsProblem::OutOfRange { lo, hi } => {
                format!("{field} must be between {lo} and {hi}")
            }
            AlertSettingsProblem::NotHhMm(v) => format!("{field} must be HH:MM (got {v:?})"),
            AlertSettingsProblem::UnknownTimeZone(tz) => {
                format!("{tz:?} is not an IANA time zone (e.g. Europe/Berlin)")
            }
            AlertSettingsProblem::UnknownChannel(ch) => {
                format!("unknown channel {ch:?}: use slack and/or email")
            }
        }
    }
}

type Checked<T> = Result<T, InvalidAlertSetting>;

fn in_range(field: AlertSettingsField, v: i64, range: &RangeInclusive<i64>) -> Checked<i64> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(InvalidAlertSetting {
            field,
            problem: AlertSettingsProblem::OutOfRange {
                lo: *range.start(),
                hi: *range.end(),
            },
        })
    }
}

/// The one set of rules every edge that saves alert settings applies (the API, the Slack
/// modal); each check takes one field's value and returns it as stored.
impl AlertSettings {
    pub fn check_max_deals(v: i64) -> Checked<i64> {
        in_range(AlertSettingsField::MaxDeals, v, &MAX_DEALS)
    }

    pub fn check_threshold(v: i64) -> Checked<i64> {
        in_range(AlertSettingsField::Threshold, v, &RISK_SCORE)
    }

    pub fn check_digest_min_risk_score(v: i64) -> Checked<i64> {
        in_range(AlertSettingsField::DigestMinRiskScore, v, &RISK_SCORE)
    }

    /// `HH:MM`, exactly five characters (the stored form).
    pub fn check_time(field: AlertSettingsField, v: String) -> Checked<String> {
        if v.len() == 5 && NaiveTime::parse_from_str(&v, "%H:%M").is_ok() {
            Ok(v)
        } else {
            Err(InvalidAlertSetting {
                field,
                problem: AlertSettingsProblem::NotHhMm(v),
            })
        }
    }

    /// An IANA zone name.
    pub fn check_time_zone(v: String) -> Checked<String> {
        if v.parse::<chrono_tz::Tz>().is_ok() {
            Ok(v)
        } else {
            Err(InvalidAlertSetting {
                field: AlertSettingsField::TimeZone,
                problem: AlertSettingsProblem::UnknownTimeZone(v),
            })
        }
    }

    /// Known channels, each once, in the order given; an empty list sends alerts nowhere.
    pub fn check_channels(channels: Vec<String>) -> Checked<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for ch in channels {
            if !CHANNELS.contains(&ch.as_str()) {
                return Err(InvalidAlertSetting {
                    field: AlertSettingsField::Channels,
                    problem: AlertSettingsProblem::UnknownChannel(ch),
                });
            }
            if !out.contains(&ch) {
                out.push(ch);
            }
        }
        Ok(out)
    }

    /// Every field by the rules above (the first refusal wins).
    pub fn validate(&self) -> Checked<()> {
        use AlertSettingsField::{DigestTime, QuietEnd, QuietStart};
        Self::check_channels(self.channels.clone())?;
        Self::check_threshold(self.threshold)?;
        Self::check_time(DigestTime, self.digest_time.clone())?;
        Self::check_time_zone(self.time_zone.clone())?;
        Self::check_max_deals(self.max_deals)?;
        Self::check_digest_min_risk_score(self.digest_min_risk_score)?;
        Self::check_time(QuietStart, self.quiet_start.clone())?;
        Self::check_time(QuietEnd, self.quiet_end.clone())?;
        Ok(())
    }

    /// Deals a digest lists: the saved number within [`MAX_DEALS`] (a row saved before the
    /// rules existed is brought inside them rather than refused at send time).
    pub fn digest_max_deals(&self) -> usize {
        self.max_deals.clamp(*MAX_DEALS.start(), *MAX_DEALS.end()) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_the_rules_and_each_rule_names_its_field() {
        assert_eq!(AlertSettings::default().validate(), Ok(()));
        let cases: Vec<(&str, AlertSettings, AlertSettingsField)> = vec![
            (
                "max_deals 0",
                AlertSettings {
                    max_deals: 0,
                    ..Default::default()
                },
                AlertSettingsField::MaxDeals,
            ),
            (
                "max_deals 51",
                AlertSettings {
                    max_deals: 51,
                    ..Default::default()
                },
                AlertSettingsField::MaxDeals,
            ),
            (
                "threshold 101",
                AlertSettings {
                    threshold: 101,
                    ..Default::default()
                },
                AlertSettingsField::Threshold,
            ),
            (
                "digest 8:00",
                AlertSettings {
                    digest_time: "8:00".into(),
                    ..Default::default()
                },
                AlertSettingsField::DigestTime,
            ),
            (
                "zone",
                AlertSettings {
                    time_zone: "Mars/Olympus".into(),
                    ..Default::default()
                },
                AlertSettingsField::TimeZone,
            ),
            (
                "sms",
                AlertSettings {
                    channels: vec!["sms".into()],
                    ..Default::default()
                },
                AlertSettingsField::Channels,
            ),
            (
                "min -1",
                AlertSettings {
                    digest_min_risk_score: -1,
                    ..Default::default()
                },
                AlertSettingsField::DigestMinRiskScore,
            ),
            (
                "quiet end",
                AlertSettings {
                    quiet_end: "24:30".into(),
                    ..Default::default()
                },
                AlertSettingsField::QuietEnd,
            ),
        ];
        for (name, s, field) in cases {
            assert_eq!(s.validate().map_err(|e| e.field), Err(field), "{name}");
        }
        assert_eq!(AlertSettings::check_max_deals(50), Ok(50));
        assert_eq!(
            AlertSettings {
                max_deals: 70,
                ..Default::default()
            }
            .digest_max_deals(),
            50
        );
    }
}
