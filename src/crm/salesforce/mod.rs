//! Salesforce: the contract with the SFDX package in `salesforce_package/` (fields we read and
//! write, webhook headers). The client, sync and write-back arrive with the Salesforce issue.
pub mod fields;
pub mod webhook;

pub use fields::{FieldKind, FieldSpec, OPPORTUNITY_RISK_FIELDS, TASK_KEY_FIELD};

#[cfg(test)]
mod package_tests;
