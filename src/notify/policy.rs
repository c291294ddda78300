//! Alert policy (pure): does a new score alert this recipient now, later, in the digest, or
//! not at all? Time and the recipient's settings are inputs, so every rule is table-tested.
//!
//! Rules, in order: only a *crossing* into critical alerts (the previous score was at or
//! below the recipient's threshold, default 75, and the new one is above it); high deals
//! (51–75) go to the digest; nothing else alerts. A critical crossing is dropped when the
//! recipient turned critical alerts off, the deal is snoozed, it was marked a false alarm and
//! has not risen by the margin since, or it already alerted in the last 24 h. Quiet hours
//! (default 20:00–08:00 in the recipient's zone) *hold* an alert until they end rather than
//! drop it: a critical deal still deserves attention first thing in the morning.
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// At most one critical alert per deal in this window (also enforced by a unique key in the
/// database, so restarts and replicas cannot double-send).
pub const THROTTLE: Duration = Duration::hours(24);
/// A deal marked "false alarm" alerts again only after its score rises this much.
pub const DEFAULT_FALSE_ALARM_MARGIN: u8 = 10;
/// Critical alerts one recipient gets in 24 h before the rest roll into their digest (a
/// tenant can change it): a tenant whose usual win rate is 20 % must not get dozens a day.
pub const DEFAULT_DAILY_ALERT_BUDGET: u32 = crate::domain::DEFAULT_ALERTS_PER_DAY;

/// Where a recipient stands against the daily alert budget once this alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertBudget {
    /// Alerts in the last 24 h including this one.
    pub sent: u32,
    pub limit: u32,
}

impl AlertBudget {
    /// True on the last alert the budget allows: its DM says further ones go to the digest.
    pub fn is_last(&self) -> bool {
        self.sent >= self.limit
    }

    /// The sentence the DM carries on the last alert of the day.
    pub fn note(&self) -> Option<String> {
        self.is_last().then(|| {
            format!(
                "This is alert {} of {} today; further critical deals roll into your digest.",
                self.sent, self.limit
            )
        })
    }
}

/// Applies the daily budget to a decision: an alert beyond `limit` in 24 h (after
/// `sent_before` already went out) goes to the digest instead. Returns the budget standing of
/// an alert that is still sent.
pub fn apply_budget(
    decision: Decision,
    sent_before: u32,
    limit: u32,
) -> (Decision, Option<AlertBudget>) {
    match decision {
        Decision::Alert { .. } if sent_before >= limit => (Decision::Digest, None),
        d @ Decision::Alert { .. } => (
            d,
            Some(AlertBudget {
                sent: sent_before + 1,
                limit,
            }),
        ),
        other => (other, None),
    }
}

/// The channels a user picks are the domain's (`AlertSettings::channels`).
pub use crate::domain::Channel;

/// One recipient's alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientSettings {
    pub critical_enabled: bool,
    pub threshold: u8,
    pub channels: Vec<Channel>,
    pub time_zone: Tz,
    pub quiet_start: NaiveTime,
    pub quiet_end: NaiveTime,
}

impl Default for RecipientSettings {
    fn default() -> Self {
        RecipientSettings {
            critical_enabled: true,
            threshold: 75,
            channels: vec![Channel::Slack, Channel::Email],
            time_zone: chrono_tz::UTC,
            quiet_start: NaiveTime::from_hms_opt(20, 0, 0).expect("valid time"),
            quiet_end: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
        }
    }
}

/// What we know about the deal's alert history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DealAlertState {
    pub previous_score: Option<u8>,
    pub last_critical_alert_at: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Score at which someone marked the deal a false alarm.
    pub false_alarm_score: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    NotAtRisk,
    AlreadyCritical,
    Disabled,
    Snoozed,
    FalseAlarm,
    Throttled,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send on these channels at `at` (now, or when quiet hours end).
    Alert {
        at: DateTime<Utc>,
        channels: Vec<Channel>,
    },
    /// Mention in the daily digest only.
    Digest,
    Skip(SkipReason),
}

/// Decide for one recipient. `margin` is the false-alarm margin.
pub fn decide(
    new_score: u8,
    state: &DealAlertState,
    s: &RecipientSettings,
    now: DateTime<Utc>,
    margin: u8,
) -> Decision {
    let critical = new_score > s.threshold;
    if !critical {
        return if new_score > 50 {
            Decision::Digest
        } else {
            Decision::Skip(SkipReason::NotAtRisk)
        };
    }
    if state.previous_score.is_some_and(|p| p > s.threshold) {
        return Decision::Skip(SkipReason::AlreadyCritical);
    }
    if !s.critical_enabled || s.channels.is_empty() {
        return Decision::Skip(SkipReason::Disabled);
    }
    if state.snoozed_until.is_some_and(|until| until > now) {
        return Decision::Skip(SkipReason::Snoozed);
    }
    if state
        .false_alarm_score
        .is_some_and(|fa| u16::from(new_score) < u16::from(fa) + u16::from(margin))
    {
        return Decision::Skip(SkipReason::FalseAlarm);
    }
    if state
        .last_critical_alert_at
        .is_some_and(|t| now - t < THROTTLE)
    {
        return Decision::Skip(SkipReason::Throttled);
    }
    Decision::Alert {
        at: release_time(now, s),
        channels: s.channels.clone(),
    }
}

/// `now` if outside the recipient's quiet hours, else the moment they end (in UTC).
pub fn release_time(now: DateTime<Utc>, s: &RecipientSettings) -> DateTime<Utc> {
    let local = now.with_timezone(&s.time_zone);
    let t = local.time();
    let quiet = if s.quiet_start <= s.quiet_end {
        t >= s.quiet_start && t < s.quiet_end
    } else {
        t >= s.quiet_start || t < s.quiet_end // wraps midnight, e.g. 20:00–08:00
    };
    if !quiet {
        return now;
    }
    let mut day = local.date_naive();
    if t >= s.quiet_end {
        day = day.succ_opt().unwrap_or(day);
    }
    // A DST gap at quiet_end: take the first valid instant after it.
    let end = day.and_time(s.quiet_end);
    s.time_zone
        .from_local_datetime(&end)
        .earliest()
        .or_else(|| {
            s.time_zone
                .from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })
        .map_or(now, |dt| dt.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn settings(tz: Tz) -> RecipientSettings {
        RecipientSettings {
            time_zone: tz,
            ..RecipientSettings::default()
        }
    }

    #[test]
    fn only_a_crossing_into_critical_alerts_and_high_goes_to_the_digest() {
        let s = settings(chrono_tz::UTC);
        let noon = utc("2024-03-01T12:00:00Z");
        let cases: Vec<(&str, Option<u8>, u8, Decision)> = vec![
            (
                "68 → 78 crosses",
                Some(68),
                78,
                Decision::Alert {
                    at: noon,
                    channels: vec![Channel::Slack, Channel::Email],
                },
            ),
            (
                "first score critical",
                None,
                80,
                Decision::Alert {
                    at: noon,
                    channels: vec![Channel::Slack, Channel::Email],
                },
            ),
            ("75 is not critical", Some(60), 75, Decision::Digest),
            (
                "already critical",
                Some(78),
                82,
                Decision::Skip(SkipReason::AlreadyCritical),
            ),
            ("high", Some(40), 60, Decision::Digest),
            (
                "medium",
                Some(40),
                45,
                Decision::Skip(SkipReason::NotAtRisk),
            ),
            ("low", None, 10, Decision::Skip(SkipReason::NotAtRisk)),
        ];
        for (name, prev, new, want) in cases {
            let state = DealAlertState {
                previous_score: prev,
                ..Default::default()
            };
            assert_eq!(
                decide(new, &state, &s, noon, DEFAULT_FALSE_ALARM_MARGIN),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn snooze_false_alarm_throttle_and_settings_suppress_a_crossing() {
        let s = settings(chrono_tz::UTC);
        let now = utc("2024-03-01T12:00:00Z");
        let base = DealAlertState {
            previous_score: Some(68),
            ..Default::default()
        };
        let cases: Vec<(&str, DealAlertState, RecipientSettings, u8, Decision)> = vec![
            (
                "snoozed",
                DealAlertState {
                    snoozed_until: Some(now + Duration::days(1)),
                    ..base.clone()
                },
                s.clone(),
                78,
                Decision::Skip(SkipReason::Snoozed),
            ),
            (
                "snooze over",
                DealAlertState {
                    snoozed_until: Some(now - Duration::minutes(1)),
                    ..base.clone()
                },
                s.clone(),
                78,
                Decision::Alert {
                    at: now,
                    channels: s.channels.clone(),
                },
            ),
            (
                "false alarm, not risen enough",
                DealAlertState {
                    false_alarm_score: Some(77),
                    ..base.clone()
                },
                s.clone(),
                86,
                Decision::Skip(SkipReason::FalseAlarm),
            ),
            (
                "false alarm, risen by the margin",
                DealAlertState {
                    false_alarm_score: Some(77),
                    ..base.clone()
                },
                s.clone(),
                87,
                Decision::Alert {
                    at: now,
                    channels: s.channels.clone(),
                },
            ),
            (
                "alerted 23 h ago",
                DealAlertState {
                    last_critical_alert_at: Some(now - Duration::hours(23)),
                    ..base.clone()
                },
                s.clone(),
                78,
                Decision::Skip(SkipReason::Throttled),
            ),
            (
                "alerted 25 h ago",
                DealAlertState {
                    last_critical_alert_at: Some(now - Duration::hours(25)),
                    ..base.clone()
                },
                s.clone(),
                78,
                Decision::Alert {
                    at: now,
                    channels: s.channels.clone(),
                },
            ),
            (
                "alerts off",
                base.clone(),
                RecipientSettings {
                    critical_enabled: false,
                    ..s.clone()
                },
                78,
                Decision::Skip(SkipReason::Disabled),
            ),
            (
                "no channels",
                base.clone(),
                RecipientSettings {
                    channels: vec![],
                    ..s.clone()
                },
                78,
                Decision::Skip(SkipReason::Disabled),
            ),
            (
                "own threshold 85",
                base.clone(),
                RecipientSettings {
                    threshold: 85,
                    ..s.clone()
                },
                80,
                Decision::Digest,
            ),
            (
                "email only",
                base.clone(),
                RecipientSettings {
                    channels: vec![Channel::Email],
                    ..s.clone()
                },
                78,
                Decision::Alert {
                    at: now,
                    channels: vec![Channel::Email],
                },
            ),
        ];
        for (name, state, settings, new, want) in cases {
            assert_eq!(
                decide(new, &state, &settings, now, DEFAULT_FALSE_ALARM_MARGIN),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn quiet_hours_hold_alerts_until_8am_in_each_recipients_zone() {
        let ny = settings(chrono_tz::America::New_York);
        let kolkata = settings(chrono_tz::Asia::Kolkata);
        // 2024-03-01 03:00 UTC = 22:00 in New York (quiet) and 08:30 in Kolkata (awake).
        let now = utc("2024-03-01T03:00:00Z");
        assert_eq!(
            release_time(now, &ny),
            utc("2024-03-01T13:00:00Z"),
            "08:00 EST next morning"
        );
        assert_eq!(release_time(now, &kolkata), now, "Kolkata is awake");
        // 2024-03-01 20:00 UTC = 01:30 in Kolkata (quiet, after midnight) → 08:00 IST same day.
        assert_eq!(
            release_time(utc("2024-03-01T20:00:00Z"), &kolkata),
            utc("2024-03-02T02:30:00Z")
        );
        // New York after the DST change: 08:00 EDT is 12:00 UTC.
        assert_eq!(
            release_time(utc("2024-03-11T03:00:00Z"), &ny),
            utc("2024-03-11T12:00:00Z")
        );
        // Exactly at the end of quiet hours: send now.
        assert_eq!(
            release_time(utc("2024-03-01T13:00:00Z"), &ny),
            utc("2024-03-01T13:00:00Z")
        );
        let state = DealAlertState {
            previous_score: Some(68),
            ..Default::default()
        };
        match decide(78, &state, &ny, now, DEFAULT_FALSE_ALARM_MARGIN) {
            Decision::Alert { at, .. } => assert_eq!(at, utc("2024-03-01T13:00:00Z")),
            other => panic!("expected a held alert, got {other:?}"),
        }
    }

    #[test]
    fn past_the_daily_budget_a_critical_alert_rolls_into_the_digest_and_the_last_one_says_so() {
        let alert = Decision::Alert {
            at: utc("2024-06-03T10:00:00Z"),
            channels: vec![Channel::Slack],
        };
        let limit = DEFAULT_DAILY_ALERT_BUDGET;
        let (d, b) = apply_budget(alert.clone(), 0, limit);
        assert_eq!(d, alert);
        assert_eq!(b, Some(AlertBudget { sent: 1, limit }));
        assert_eq!(b.unwrap().note(), None);
        let (d, b) = apply_budget(alert.clone(), limit - 1, limit);
        assert_eq!(d, alert);
        let note = b.unwrap().note().expect("the last alert says so");
        assert!(note.contains("5 of 5") && note.contains("digest"), "{note}");
        assert_eq!(apply_budget(alert, limit, limit), (Decision::Digest, None));
        assert_eq!(
            apply_budget(Decision::Skip(SkipReason::Snoozed), 9, limit),
            (Decision::Skip(SkipReason::Snoozed), None)
        );
    }
}
