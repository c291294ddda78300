//! Talking to Slack's Web API: the HTTP client ([`api`]) with its error classification and
//! retry policy ([`error`]), the methods the bot calls ([`methods`], [`oauth`]) and how each is
//! sent ([`transport`]); which bot token a tenant uses ([`tokens`]); and the process-wide Slack
//! state on `AppState.slack` ([`runtime`]).
pub mod api;
pub mod error;
pub mod methods;
pub mod oauth;
pub mod runtime;
pub mod tokens;
pub mod transport;

pub use api::SlackApi;
pub use error::{RetryPolicy, SlackError};
pub use methods::{Posted, SlackUser};
pub use oauth::OAuthGrant;
pub use runtime::SlackRuntime;
