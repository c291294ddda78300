//! Local fakes of the services SkyGeni talks to but cannot reach here: Slack's Web API,
//! a Salesforce org and SendGrid's Mail Send. Each behaves like the real service as documented
//! in `shared/reference/` (shapes, pagination, per-record errors, 401/429/5xx), records every
//! call so tests and load scenarios can count sends, and takes fault switches ([`Faults`]).
//!
//! They are a separate crate so tests, benches and the load kit's `skygeni-fakes` binary share
//! one implementation, and so the fakes cannot lean on SkyGeni's own code.
pub mod control;
pub mod faults;
pub mod salesforce;
pub mod sendgrid;
pub mod server;
pub mod slack;
pub mod slack_rules;

pub use faults::{Fault, Faults};
pub use server::FakeServer;
