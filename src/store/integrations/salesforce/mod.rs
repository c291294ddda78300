//! Salesforce: the connected org (`connection`), the sync's watermarks and handled webhook
//! notifications (`sync`), and what was written back (`writeback`). Deleted Opportunities
//! leave with the deals (`store::deals`), org users join `store::users`.
mod connection;
mod sync;
mod writeback;

pub use connection::SfConnectionRow;
pub use sync::SyncStateRow;
pub use writeback::{WritebackOutcome, WritebackRejection};
