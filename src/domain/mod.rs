//! Plain domain types shared by every layer; no I/O here.
pub mod deal;
mod relative;
mod score;
mod tenant;

pub use deal::{Deal, DealOwner, Outcome};
pub use relative::{RelativeRisk, RiskBands};
pub use score::{
    DealScore, FactorCode, Priority, Recommendation, RiskCategory, RiskFactor, SimilarDeal,
};
pub use tenant::{ModelScope, TenantId};
