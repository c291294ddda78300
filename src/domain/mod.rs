//! Plain domain types shared by every layer; no I/O here.
mod deal;
mod tenant;

pub use deal::{Deal, Outcome};
pub use tenant::TenantId;
