//! Plain domain types shared by every layer; no I/O here.
pub mod alert_settings;
mod alerting;
mod clock;
pub mod deal;
mod relative;
mod risk_settings;
pub mod schedule;
mod score;
mod tenant;

pub use alert_settings::{
    AlertSettings, AlertSettingsField, AlertSettingsProblem, Channel, InvalidAlertSetting,
};
pub use alerting::{
    AlertFacts, AlertPlanner, NewOutboxRow, PlannedAlert, ScoreBounds, UserContact,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use deal::{Deal, DealOwner, Outcome};
pub use relative::{RelativeRisk, RiskBands};
pub use risk_settings::{
    DEFAULT_ALERTS_PER_DAY, MAX_ALERTS_PER_DAY, RiskSettings, RiskSettingsField,
    check_alerts_per_day, parse_alerts_per_day,
};
pub use score::{
    DealScore, FactorCode, Priority, Recommendation, RiskCategory, RiskFactor, SimilarDeal,
};
pub use tenant::{ModelScope, TenantId};
