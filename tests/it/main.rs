//! Integration tests, one binary (faster to link than one per file). Each test gets its own
//! database on the backend named by SKYGENI_TEST_BACKEND (see `scripts/test`).
mod alert_budget;
mod alerts;
mod api;
mod api_contract;
mod api_hostile;
mod api_relative;
mod crm_exports;
mod email;
mod engine_cli;
mod hostile;
mod import_cli;
mod ops;
mod relative_cli;
mod reports;
mod salesforce;
mod salesforce_orgs;
mod schedule;
mod slack;
mod slack_delivery;
mod slack_escape;
mod slack_events;
mod slack_hostile;
mod slack_link;
mod store_contract;
mod support;
mod users_cli;
