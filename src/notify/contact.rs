//! How notify reads a user's contact (`domain::UserContact`): the alert settings the policy
//! applies, the channels that can actually reach them, and the recipient an outbox payload
//! names. Kept beside the policy rather than in `domain/`, because each answer is a policy
//! choice (defaults, Slack-to-email fallback).
use super::outbox::{CHANNEL_EMAIL, CHANNEL_SLACK, Recipient};
use super::policy::{Channel, RecipientSettings};
use crate::domain::UserContact;
use chrono::NaiveTime;

impl UserContact {
    /// The alert settings the policy applies: the saved row, else the defaults in the user's
    /// own time zone (a saved row's zone wins: the user chose it).
    pub fn policy_settings(&self) -> RecipientSettings {
        let d = RecipientSettings::default();
        match &self.settings {
            None => RecipientSettings {
                time_zone: self.time_zone.parse().unwrap_or(chrono_tz::UTC),
                ..d
            },
            Some(s) => {
                // Quiet hours switched off: an empty window (start == end holds nothing back).
                let quiet = if s.quiet_enabled {
                    (s.quiet_start, s.quiet_end)
                } else {
                    (NaiveTime::MIN, NaiveTime::MIN)
                };
                RecipientSettings {
                    critical_enabled: s.critical_enabled,
                    threshold: s.threshold.clamp(0, 100) as u8,
                    channels: s.channels.clone(),
                    time_zone: s.time_zone,
                    quiet_start: quiet.0,
                    quiet_end: quiet.1,
                }
            }
        }
    }

    /// The zone digests and quiet hours use.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.policy_settings().time_zone
    }

    pub fn recipient(&self, role: &str) -> Recipient {
        Recipient {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            slack_user_id: self.slack_user_id.clone(),
            role: role.to_string(),
        }
    }

    /// Channels actually usable: Slack needs a linked Slack user, email an address. A user
    /// who wants Slack but has no Slack link gets email instead, so nothing is silently lost.
    pub fn deliverable(&self, wanted: &[Channel]) -> Vec<&'static str> {
        let mut out = Vec::new();
        for c in wanted {
            let ch = match c {
                Channel::Slack if self.slack_user_id.is_some() => CHANNEL_SLACK,
                Channel::Slack | Channel::Email if self.email.is_some() => CHANNEL_EMAIL,
                _ => continue,
            };
            if !out.contains(&ch) {
                out.push(ch);
            }
        }
        out
    }
}
