//! Salesforce two-way sync: connect an org (OAuth web-server flow with PKCE, or JWT bearer),
//! pull Opportunities/owners/history (REST or Bulk API 2.0), write risk fields back, create
//! follow-up Tasks, and take signed change notifications from the package in
//! `salesforce_package/` (whose fields and webhook contract live in `fields`).
pub mod bulk;
pub mod client;
pub mod fields;
pub mod oauth;
pub mod org_secret;
pub mod picklists;
pub mod pull;
pub mod routes;
pub mod sync;
pub mod tasks;
pub mod webhook;
pub mod writeback;

pub use fields::{FieldKind, FieldSpec, OPPORTUNITY_RISK_FIELDS, TASK_KEY_FIELD};
pub use sync::{SyncConfig, SyncContext, SyncReport, sync_records, sync_tenant, sync_tenant_with};

#[cfg(test)]
mod package_tests;
