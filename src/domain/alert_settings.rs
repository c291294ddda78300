//! A user's alert preferences, typed so that a value is valid by construction (times are
//! `NaiveTime`, the zone a `chrono_tz::Tz`, channels a [`Channel`]), and the one parser every
//! edge turns text into them with: the API (`POST /v1/alerts/configure`), the Slack settings
//! modal and the store's mapping of the `alert_settings` row. The text forms stay what they
//! were: "HH:MM", IANA zone names, `["slack","email"]`.
use chrono::NaiveTime;
use chrono_tz::Tz;
use std::ops::RangeInclusive;

/// Where alerts and digests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Slack,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Slack, Channel::Email];

    /// The name in the API's JSON, the stored column and the Slack modal's option values.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Alert preferences of one user. The numbers are kept as saved: a row from before the rules
/// may lie outside [`MAX_DEALS`] or [`RISK_SCORE`] (the Slack modal shows it as it is, the
/// digest brings it inside with [`AlertSettings::digest_max_deals`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertSettings {
    pub critical_enabled: bool,
    /// Each channel once, in the order chosen; empty sends alerts nowhere.
    pub channels: Vec<Channel>,
    pub threshold: i64,
    /// Local time (in `time_zone`) of the daily digest; minutes precision ("HH:MM").
    #[serde(with = "hhmm")]
    pub digest_time: NaiveTime,
    /// The zone of the digest time and of quiet hours.
    #[serde(with = "zone")]
    pub time_zone: Tz,
    #[serde(with = "hhmm")]
    pub quiet_start: NaiveTime,
    #[serde(with = "hhmm")]
    pub quiet_end: NaiveTime,
    pub max_deals: i64,
    /// Send the daily digest at all (migration 0011).
    pub digest_enabled: bool,
    /// Lowest risk score a deal needs to be listed in the digest.
    pub digest_min_risk_score: i64,
    /// Hold alerts during quiet hours at all.
    pub quiet_enabled: bool,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

impl Default for AlertSettings {
    /// The column defaults of migrations 0001 and 0011.
    fn default() -> Self {
        AlertSettings {
            critical_enabled: true,
            channels: vec![Channel::Slack, Channel::Email],
            threshold: 75,
            digest_time: hm(8, 0),
            time_zone: Tz::UTC,
            quiet_start: hm(20, 0),
            quiet_end: hm(8, 0),
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
/// The delivery channels a user can pick, by name.
pub const CHANNELS: [&str; 2] = [Channel::Slack.as_str(), Channel::Email.as_str()];

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

impl std::fmt::Display for InvalidAlertSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.api_message())
    }
}

impl std::error::Error for InvalidAlertSetting {}

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

/// A time as every text form writes it: "HH:MM".
pub fn format_hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// The one set of rules every edge that reads alert settings from text applies (the API, the
/// Slack modal, the stored row); each takes one field's value and returns it typed.
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

    /// `HH:MM`, exactly five characters.
    pub fn parse_time(field: AlertSettingsField, v: &str) -> Checked<NaiveTime> {
        match NaiveTime::parse_from_str(v, "%H:%M") {
            Ok(t) if v.len() == 5 => Ok(t),
            _ => Err(InvalidAlertSetting {
                field,
                problem: AlertSettingsProblem::NotHhMm(v.to_string()),
            }),
        }
    }

    /// An IANA zone name.
    pub fn parse_time_zone(v: &str) -> Checked<Tz> {
        v.parse::<Tz>().map_err(|_| InvalidAlertSetting {
            field: AlertSettingsField::TimeZone,
            problem: AlertSettingsProblem::UnknownTimeZone(v.to_string()),
        })
    }

    /// Known channels, each once, in the order given; an empty list sends alerts nowhere.
    pub fn parse_channels<S: AsRef<str>>(
        channels: impl IntoIterator<Item = S>,
    ) -> Checked<Vec<Channel>> {
        let mut out: Vec<Channel> = Vec::new();
        for name in channels {
            let name = name.as_ref();
            let ch = Channel::parse(name).ok_or_else(|| InvalidAlertSetting {
                field: AlertSettingsField::Channels,
                problem: AlertSettingsProblem::UnknownChannel(name.to_string()),
            })?;
            if !out.contains(&ch) {
                out.push(ch);
            }
        }
        Ok(out)
    }

    /// The numbers by the rules above (the typed fields cannot be wrong); the first refusal
    /// wins, in the API body's order.
    pub fn validate(&self) -> Checked<()> {
        Self::check_threshold(self.threshold)?;
        Self::check_max_deals(self.max_deals)?;
        Self::check_digest_min_risk_score(self.digest_min_risk_score)?;
        Ok(())
    }

    /// Deals a digest lists: the saved number within [`MAX_DEALS`] (a row saved before the
    /// rules existed is brought inside them rather than refused at send time).
    pub fn digest_max_deals(&self) -> usize {
        self.max_deals.clamp(*MAX_DEALS.start(), *MAX_DEALS.end()) as usize
    }

    /// The channel names, as the API's JSON and the stored column list them.
    pub fn channel_names(&self) -> Vec<&'static str> {
        self.channels.iter().map(|c| c.as_str()).collect()
    }
}

/// serde for a time as "HH:MM" (the wire and stored form), parsed by the one rule.
mod hhmm {
    use super::{AlertSettings, AlertSettingsField, format_hhmm};
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_hhmm(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        // The field is not known here; the message names the problem, not the path.
        AlertSettings::parse_time(AlertSettingsField::DigestTime, &text)
            .map_err(|_| serde::de::Error::custom(format!("expected HH:MM, got {text:?}")))
    }
}

/// serde for a zone as its IANA name.
mod zone {
    use super::AlertSettings;
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let text = String::deserialize(d)?;
        AlertSettings::parse_time_zone(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertSettingsField as F;

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(AlertSettings::default().validate(), Ok(()));
        let field = |r: Checked<()>| r.map_err(|e| e.field);
        let cases: Vec<(&str, Result<(), F>, F)> = vec![
            (
                "max_deals 0",
                field(AlertSettings::check_max_deals(0).map(drop)),
                F::MaxDeals,
            ),
            (
                "max_deals 51",
                field(AlertSettings::check_max_deals(51).map(drop)),
                F::MaxDeals,
            ),
            (
                "threshold 101",
                field(AlertSettings::check_threshold(101).map(drop)),
                F::Threshold,
            ),
            (
                "digest 8:00",
                field(AlertSettings::parse_time(F::DigestTime, "8:00").map(drop)),
                F::DigestTime,
            ),
            (
                "zone",
                field(AlertSettings::parse_time_zone("Mars/Olympus").map(drop)),
                F::TimeZone,
            ),
            (
                "sms",
                field(AlertSettings::parse_channels(["sms"]).map(drop)),
                F::Channels,
            ),
            (
                "min -1",
                field(AlertSettings::check_digest_min_risk_score(-1).map(drop)),
                F::DigestMinRiskScore,
            ),
            (
                "quiet end",
                field(AlertSettings::parse_time(F::QuietEnd, "24:30").map(drop)),
                F::QuietEnd,
            ),
            (
                "seconds",
                field(AlertSettings::parse_time(F::QuietStart, "08:00:00").map(drop)),
                F::QuietStart,
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, Err(want), "{name}");
        }
        assert_eq!(
            AlertSettings {
                max_deals: 51,
                ..Default::default()
            }
            .validate()
            .map_err(|e| e.field),
            Err(F::MaxDeals)
        );
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

    #[test]
    fn channels_are_parsed_once_each_in_the_order_given() {
        assert_eq!(
            AlertSettings::parse_channels(["email", "slack", "email"]),
            Ok(vec![Channel::Email, Channel::Slack])
        );
        assert_eq!(
            AlertSettings::parse_channels(Vec::<String>::new()),
            Ok(vec![])
        );
        assert_eq!(CHANNELS, ["slack", "email"]);
    }

    #[test]
    fn the_serialised_form_is_the_text_form() {
        let s = AlertSettings {
            time_zone: "Asia/Kolkata".parse().unwrap(),
            digest_time: hm(7, 30),
            channels: vec![Channel::Email],
            ..Default::default()
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["digest_time"], "07:30");
        assert_eq!(json["quiet_start"], "20:00");
        assert_eq!(json["time_zone"], "Asia/Kolkata");
        assert_eq!(json["channels"], serde_json::json!(["email"]));
        let back: AlertSettings = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, s);
        let mut bad = json;
        bad["quiet_end"] = "8:00".into();
        let err = serde_json::from_value::<AlertSettings>(bad).unwrap_err();
        assert!(err.to_string().contains("HH:MM"), "{err}");
    }
}
