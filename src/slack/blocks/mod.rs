//! Every Block Kit surface the bot builds, in one place: the size-limited primitives ([`kit`]),
//! the deal card ([`card`]), the pushed alert and digest ([`alert`], [`digest`]), the
//! `/deal-risk` answers ([`views`]), the App Home tab ([`home`]), the modals ([`modals`],
//! [`settings`]), the degraded-mode notice ([`degraded`]) and plain-text previews
//! ([`preview`]). Pure JSON builders: no state, no I/O besides the demo preview files.
pub mod alert;
pub mod card;
pub mod degraded;
pub mod digest;
pub mod home;
pub mod kit;
#[cfg(test)]
pub(crate) mod kit_check;
pub mod modals;
pub mod preview;
pub mod settings;
pub mod views;

/// The `action_id`s and `callback_id`s the builders put on buttons and modals (defined in
/// `slack/mod.rs`, where the handlers read them too), in scope for every builder as
/// `super::actions` / `super::callbacks`.
use super::{actions, callbacks};
