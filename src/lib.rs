//! SkyGeni: scores open B2B deals for risk of loss, explains why, and recommends what to do.
//!
//! Layout (see README): `domain` plain types, `engine` pure scoring, `store` the only SQL,
//! `service` what edges and jobs call (models, batch scoring, metrics, standing), `jobs`
//! scheduling, `app` the composition root, `http` the router; the edges are `api`, `slack`,
//! `crm` (CSV and Salesforce) and `notify` (email, Slack DMs); `cli` is the command layer
//! used by `main.rs`.
#![forbid(unsafe_code)]

pub mod accept;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod http_error;
pub mod http_limits;
pub mod jobs;
pub mod notify;
pub mod service;
pub mod slack;
pub mod store;
/// Shared unit-test fixtures (a realistic scored pipeline for the Block Kit builders).
#[cfg(test)]
pub(crate) mod testkit;
