//! What every edge (REST API, Slack, Salesforce, email) calls for work that is neither pure
//! scoring (`engine/`) nor SQL (`store/`): the tenant's pipeline standing and its risk settings.
pub mod risk_settings;
pub mod standing;
