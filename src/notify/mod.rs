//! Notifications: who hears about which deal, when (alert policy). The outbox, dispatcher and
//! email arrive with the alerts issue.
pub mod policy;
