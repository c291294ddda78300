//! The default job schedules (cron with seconds first, evaluated in the tenant's or the
//! manager's zone): what the scheduler runs and what the API reports as the next retrain.
pub const NIGHTLY_CRON: &str = "0 0 2 * * *";
pub const WEEKLY_CRON: &str = "0 0 9 * * Mon";
pub const RETENTION_CRON: &str = "0 30 3 * * *";
pub const MONTHLY_RETRAIN_CRON: &str = "0 0 4 1 * *";
pub const CALIBRATION_CRON: &str = "0 0 5 * * *";
