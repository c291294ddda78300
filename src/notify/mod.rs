//! Notifications: who hears about which deal and when (alert policy), and the email bodies.
//! The outbox, dispatcher and SendGrid client arrive with the alerts issue.
pub mod chart_route;
pub mod charts;
pub mod email;
pub mod policy;
pub mod weekly;
