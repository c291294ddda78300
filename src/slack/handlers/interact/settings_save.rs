//! The settings modal submitted: the user's notification settings saved and, from an admin
//! only (the role is checked here, not trusted from the form), the tenant's risk bands and
//! alert budget. Also the mapping between stored alert settings and what the modal shows.
use super::{Ack, modal_errors};
use crate::app::AppState;
use crate::domain::Channel;
use crate::service::risk_settings;
use crate::slack::blocks::settings::{self, NotificationSettings, SettingsForm};
use crate::slack::handlers::audit;
use crate::slack::handlers::identity::Viewer;
use crate::store::AlertSettings;
use chrono::NaiveTime;
use serde_json::json;

/// Saves a submitted settings form, or answers with its errors inline.
pub(super) async fn save_settings(
    state: &AppState,
    viewer: &Viewer,
    parsed: Result<SettingsForm, std::collections::BTreeMap<String, String>>,
) -> anyhow::Result<Ack> {
    let form = match parsed {
        Ok(s) => s,
        Err(errors) => {
            return Ok(Ack::Json(
                json!({"response_action": "errors", "errors": errors}),
            ));
        }
    };
    // Only an admin's form carries the tenant's bands, but the form is the client's word: the
    // role is checked here, before anything is saved (a role changed while the form was open,
    // or a crafted submission, gets an inline error and changes nothing).
    if form.risk.is_some() && !viewer.is_admin() {
        audit(state, viewer, "slack.settings.risk_denied", None, None).await;
        return Ok(modal_errors(vec![(
            settings::BANDS_BLOCK,
            "Only admins can change the risk bands and the alert budget.".into(),
        )]));
    }
    let current = state
        .store
        .get_alert_settings(&viewer.tenant, &viewer.user.user_id)
        .await?
        .unwrap_or_default();
    let new = from_notification(&form.notification, current);
    state
        .store
        .upsert_alert_settings(&viewer.tenant, &viewer.user.user_id, &new)
        .await?;
    audit(
        state,
        viewer,
        "slack.settings.save",
        Some(&viewer.user.user_id),
        Some(serde_json::to_value(&new)?),
    )
    .await;
    if let Some(risk) = form.risk {
        let previous = risk_settings::current(&state.store, &viewer.tenant).await?;
        if risk != previous {
            // Forgets the cached standing too: the next card uses the new edges.
            risk_settings::replace(&state.store, Some(&state.standing), &viewer.tenant, risk)
                .await?;
            audit(
                state,
                viewer,
                "slack.settings.risk",
                None,
                Some(json!({"previous": previous, "new": risk})),
            )
            .await;
        }
    }
    Ok(Ack::Empty)
}

/// Stored alert settings as the modal shows them. Quiet hours with equal ends mean "none".
pub fn to_notification(s: &AlertSettings) -> NotificationSettings {
    let quiet = (s.quiet_start, s.quiet_end);
    NotificationSettings {
        critical_alerts: s.critical_enabled,
        via_slack: s.channels.contains(&Channel::Slack),
        via_email: s.channels.contains(&Channel::Email),
        digest_time: s.digest_time,
        time_zone: s.time_zone,
        quiet_hours: (quiet.0 != quiet.1).then_some(quiet),
        max_deals: s.max_deals,
    }
}

/// The modal's answer merged into the stored settings (the threshold is not on the form).
pub fn from_notification(n: &NotificationSettings, base: AlertSettings) -> AlertSettings {
    let channels = [(n.via_slack, Channel::Slack), (n.via_email, Channel::Email)]
        .into_iter()
        .filter_map(|(on, ch)| on.then_some(ch))
        .collect();
    let (quiet_start, quiet_end) = n.quiet_hours.unwrap_or((NaiveTime::MIN, NaiveTime::MIN));
    AlertSettings {
        critical_enabled: n.critical_alerts,
        channels,
        digest_time: n.digest_time,
        time_zone: n.time_zone,
        quiet_start,
        quiet_end,
        max_deals: n.max_deals,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_between_the_modal_and_storage() {
        let stored = AlertSettings {
            channels: vec![Channel::Slack],
            time_zone: chrono_tz::Europe::Berlin,
            threshold: 80,
            ..AlertSettings::default()
        };
        let n = to_notification(&stored);
        assert!(n.via_slack && !n.via_email);
        assert_eq!(
            n.quiet_hours.map(|q| q.0.to_string()),
            Some("20:00:00".into())
        );
        let back = from_notification(&n, stored.clone());
        assert_eq!(back, stored);
        let none = NotificationSettings {
            quiet_hours: None,
            ..n
        };
        let saved = from_notification(&none, stored);
        assert_eq!(to_notification(&saved).quiet_hours, None);
    }
}
