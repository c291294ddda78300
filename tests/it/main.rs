//! Integration tests, one binary (faster to link than one per file). Each test gets its own
//! database on the backend named by SKYGENI_TEST_BACKEND (see `scripts/test`); `support/` is the
//! one harness they share.
mod alerts;
mod api;
mod crm_exports;
mod email;
mod engine_cli;
mod hostile;
mod import_cli;
mod layers;
mod ops;
mod relative_cli;
mod reports;
mod salesforce;
mod schedule;
mod slack;
mod store_contract;
mod support;
mod users_cli;
