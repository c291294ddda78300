//! Slack: installed workspaces with their sealed tokens (`installs`) and the link between a
//! SkyGeni user and their Slack account (`links`).
mod installs;
mod links;

pub use installs::SlackInstall;
pub use links::CodeCheck;
