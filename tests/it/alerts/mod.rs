//! Critical alerts end to end with a controllable clock: score changes written through
//! `record_scores` become outbox rows in the same transaction, and the dispatcher delivers
//! them to the fake Slack Web API and the fake SendGrid (counted there).
mod budget;
mod outbox;
mod policy;
mod settings;
