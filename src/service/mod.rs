//! What every edge (REST API, Slack, Salesforce, email) calls for work that is neither pure
//! scoring (`engine/`) nor SQL (`store/`): today the tenant's pipeline standing.
pub mod standing;
