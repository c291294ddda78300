//! What every edge (REST API, Slack, Salesforce, email) calls for work that is neither pure
//! scoring (`engine/`) nor SQL (`store/`): the tenant's pipeline standing and its risk settings,
//! batch scoring, and the CRM sync pipeline the nightly job, `skygeni sync` and the Salesforce
//! webhook run.
pub mod batch;
pub mod crm_sync;
pub mod lifecycle;
pub mod metrics;
pub mod models;
pub mod risk_settings;
pub mod scorer_cache;
pub mod standing;
pub mod weekly;
