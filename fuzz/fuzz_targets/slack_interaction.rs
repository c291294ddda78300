//! Slack interaction requests on arbitrary bytes, through the same decode the route runs:
//! form body `payload=<json>` → `Interaction` (block_actions, view_submission, shortcuts, …) →
//! the button action/value and the modal decoders (snooze, false alarm, settings). Never a
//! panic; malformed input is a clean, non-empty error (the route's 400), and whatever decodes
//! satisfies the invariants the handlers rely on.
#![no_main]
use libfuzzer_sys::fuzz_target;
use skygeni::domain::alert_settings::MAX_DEALS;
use skygeni::domain::{MAX_ALERTS_PER_DAY, RiskBands};
use skygeni::slack::blocks::modals::{MAX_REASON_CHARS, SNOOZE_CHOICES};
use skygeni::slack::handlers::interact::{Interaction, Submission};

fuzz_target!(|data: &[u8]| {
    let ia = match Interaction::from_form(data) {
        Ok(ia) => ia,
        Err(e) => {
            assert!(!e.trim().is_empty(), "an error always says what is wrong");
            return;
        }
    };
    // The workspace and user lookups never run on an empty id.
    assert!(!ia.kind.trim().is_empty() && !ia.team_id.trim().is_empty());
    assert!(!ia.slack_user_id.trim().is_empty());
    match ia.submission() {
        Submission::Snooze { days, .. } => {
            if let Some(d) = days {
                assert!(
                    SNOOZE_CHOICES.iter().any(|(_, c)| *c == d),
                    "only offered choices"
                );
            }
        }
        Submission::FalseAlarm { reason, .. } => {
            if let Some(r) = reason {
                assert!(!r.is_empty() && r.chars().count() <= MAX_REASON_CHARS as usize);
            }
        }
        Submission::Settings(Ok(form)) => {
            let s = &form.notification;
            assert!(MAX_DEALS.contains(&s.max_deals), "the domain's digest-size rule");
            if let Some((a, b)) = s.quiet_hours {
                assert_ne!(a, b, "equal quiet-hour ends mean none");
            }
            if let Some(r) = form.risk {
                // Whatever decodes passed the domain's checks.
                let b = r.bands;
                assert_eq!(RiskBands::new(b.low_max, b.medium_max, b.high_max), Ok(b));
                assert!((1..=MAX_ALERTS_PER_DAY).contains(&r.alerts_per_day));
            }
        }
        Submission::Settings(Err(errors)) => {
            assert!(!errors.is_empty() && errors.values().all(|m| !m.is_empty()));
        }
        Submission::Other => {}
    }
});
