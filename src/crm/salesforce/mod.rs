//! Salesforce two-way sync: connect an org (OAuth web-server flow with PKCE, or JWT bearer),
//! pull Opportunities/owners/history (REST or Bulk API 2.0), write risk fields back, create
//! follow-up Tasks — together the org as a [`crate::crm::CrmSource`] (`source`) — and take
//! signed change notifications from the package in `salesforce_package/` (whose fields and
//! webhook contract live in `fields`).
pub mod bulk;
pub mod client;
pub mod context;
pub mod fields;
pub mod oauth;
pub mod org_secret;
pub mod picklists;
pub mod pull;
mod related;
pub mod routes;
pub mod source;
pub mod tasks;
pub mod webhook;
pub mod writeback;

/// The report of the runs [`sync_tenant`] and [`sync_records`] start.
pub use crate::service::crm_sync::SyncReport;
pub use context::{SyncConfig, SyncContext};
pub use fields::{FieldKind, FieldSpec, OPPORTUNITY_RISK_FIELDS, TASK_KEY_FIELD};
pub use source::{SalesforceSource, sync_records, sync_tenant, sync_tenant_with};

#[cfg(test)]
mod package_tests;
