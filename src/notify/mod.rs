//! Notifications: who hears about which deal and when (alert policy), the email bodies and
//! charts, the outbox payloads, the dispatcher that sends them and the SendGrid client.
pub mod chart_link;
pub mod chart_route;
pub mod charts;
pub mod compose;
mod contact;
pub mod dispatcher;
pub mod email;
pub mod email_data;
pub mod email_lint;
pub mod outbox;
pub mod planner;
pub mod policy;
pub mod senders;
pub mod sendgrid;
pub mod slack_dm;
pub mod unsubscribe;
pub mod unsubscribe_route;
pub mod weekly;
