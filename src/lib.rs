//! SkyGeni: scores open B2B deals for risk of loss, explains why, and recommends what to do.
//!
//! Layout (see README): `domain` plain types, `engine` pure scoring, `store` the only SQL,
//! `crm` data sources (CSV today), `jobs` store + engine
//! work (model loading, training, batch scoring), `slack` Block Kit messages, `cli` the thin command layer used by `main.rs`.
#![forbid(unsafe_code)]

pub mod accept;
pub mod api;
pub mod cli;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod http_limits;
pub mod jobs;
pub mod notify;
pub mod service;
pub mod slack;
pub mod store;
