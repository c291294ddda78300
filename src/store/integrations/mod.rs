//! What the integrations keep: installed Slack workspaces and Slack account links (`slack`),
//! connected Salesforce orgs, sync state and write-back (`salesforce`), and every sealed
//! token together for key rotation (`sealed`).
mod salesforce;
mod sealed;
mod slack;

pub use salesforce::{SfConnectionRow, SyncStateRow, WritebackOutcome, WritebackRejection};
pub use sealed::SealedValue;
pub use slack::{CodeCheck, SlackInstall};
