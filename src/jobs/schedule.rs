//! When jobs are due: the jobs the product has ([`JobKind`]), their cron schedules
//! ([`SchedulerConfig`]), and the newest fire time of a schedule in a tenant's or manager's IANA
//! time zone within the catch-up window ([`last_due`]).
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use std::time::Duration;

/// Every scheduled job the product has. Only the ones [`JobKind::registered`] returns run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    NightlyScore,
    Digest,
    WeeklySummary,
    Retention,
    MonthlyRetrain,
    CalibrationCheck,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::NightlyScore => "nightly_score",
            JobKind::Digest => "digest",
            JobKind::WeeklySummary => "weekly_summary",
            JobKind::Retention => "retention",
            JobKind::MonthlyRetrain => "monthly_retrain",
            JobKind::CalibrationCheck => "calibration_check",
        }
    }

    /// The jobs this build runs.
    pub fn registered() -> Vec<JobKind> {
        vec![
            JobKind::NightlyScore,
            JobKind::Digest,
            JobKind::WeeklySummary,
            JobKind::Retention,
            JobKind::MonthlyRetrain,
            JobKind::CalibrationCheck,
        ]
    }
}

#[derive(Clone)]
pub struct SchedulerConfig {
    pub nightly: cron::Schedule,
    pub weekly: cron::Schedule,
    pub retention: cron::Schedule,
    pub retrain: cron::Schedule,
    pub calibration: cron::Schedule,
    /// Signs the chart URLs in Slack messages (`notify::chart_route::url_secret`).
    pub chart_secret: Option<Vec<u8>>,
    /// Missed runs older than this are skipped (the next regular run covers them).
    pub catch_up: chrono::Duration,
    pub jobs: Vec<JobKind>,
    pub save_rate: f64,
    pub tick: Duration,
    /// A claim without a heartbeat for this long is taken over by another replica.
    pub lease: chrono::Duration,
    /// Tenants worked on at once within a pass.
    pub concurrency: usize,
}

impl SchedulerConfig {
    /// Default schedules running `jobs`, catch-up window 12 h.
    pub fn new(jobs: Vec<JobKind>) -> SchedulerConfig {
        let c = |e: &str| parse_cron(e, "default schedule").expect("default schedules are valid");
        SchedulerConfig {
            nightly: c(crate::domain::schedule::NIGHTLY_CRON),
            weekly: c(crate::domain::schedule::WEEKLY_CRON),
            retention: c(crate::domain::schedule::RETENTION_CRON),
            retrain: c(crate::domain::schedule::MONTHLY_RETRAIN_CRON),
            calibration: c(crate::domain::schedule::CALIBRATION_CRON),
            chart_secret: None,
            catch_up: chrono::Duration::hours(12),
            jobs,
            save_rate: crate::engine::pipeline::DEFAULT_SAVE_RATE,
            tick: Duration::from_secs(30),
            lease: chrono::Duration::minutes(5),
            concurrency: 4,
        }
    }

    pub fn from_settings(s: &crate::config::Settings) -> anyhow::Result<SchedulerConfig> {
        Ok(SchedulerConfig {
            nightly: parse_cron(&s.nightly_cron, "SKYGENI_NIGHTLY_CRON")?,
            weekly: parse_cron(&s.weekly_cron, "SKYGENI_WEEKLY_CRON")?,
            chart_secret: crate::notify::chart_route::url_secret(s),
            catch_up: chrono::Duration::hours(i64::from(s.scheduler_catch_up_hours)),
            lease: chrono::Duration::seconds(i64::from(s.scheduler_lease_secs.max(3))),
            concurrency: s.scheduler_concurrency.clamp(1, 64) as usize,
            ..SchedulerConfig::new(JobKind::registered())
        })
    }

    pub(super) fn schedule(&self, kind: JobKind) -> Option<&cron::Schedule> {
        match kind {
            JobKind::NightlyScore => Some(&self.nightly),
            JobKind::WeeklySummary => Some(&self.weekly),
            JobKind::Retention => Some(&self.retention),
            JobKind::MonthlyRetrain => Some(&self.retrain),
            JobKind::CalibrationCheck => Some(&self.calibration),
            JobKind::Digest => None, // per manager, from their digest_time
        }
    }
}

/// Jobs that run once per tenant on the tenant's clock.
pub(super) const TENANT_JOBS: [JobKind; 5] = [
    JobKind::NightlyScore,
    JobKind::WeeklySummary,
    JobKind::Retention,
    JobKind::MonthlyRetrain,
    JobKind::CalibrationCheck,
];

pub fn parse_cron(expr: &str, name: &str) -> anyhow::Result<cron::Schedule> {
    cron::Schedule::from_str(expr).map_err(|e| {
        anyhow::anyhow!(
            "{name} {expr:?} is not a valid cron expression (sec min hour dom mon dow): {e}"
        )
    })
}

/// The newest fire time of `schedule` in zone `tz` that is ≤ `now` and within `catch_up`.
pub fn last_due(
    schedule: &cron::Schedule,
    tz: Tz,
    now: DateTime<Utc>,
    catch_up: chrono::Duration,
) -> Option<DateTime<Utc>> {
    let from = (now - catch_up).with_timezone(&tz);
    schedule
        .after(&from)
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= now)
        .last()
}

/// The daily schedule at a user's `digest_time`.
pub(super) fn digest_schedule(t: NaiveTime) -> cron::Schedule {
    parse_cron(
        &format!("0 {} {} * * *", t.minute(), t.hour()),
        "digest_time",
    )
    .expect("a generated daily expression is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn due_times_are_evaluated_in_the_zone_and_only_the_newest_missed_run_counts() {
        let eight = digest_schedule(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        let ny = chrono_tz::America::New_York;
        let w = chrono::Duration::hours(12);
        // 08:00 EST = 13:00 UTC.
        assert_eq!(last_due(&eight, ny, utc("2024-03-01T12:59:59Z"), w), None);
        assert_eq!(
            last_due(&eight, ny, utc("2024-03-01T13:00:00Z"), w),
            Some(utc("2024-03-01T13:00:00Z"))
        );
        // Down for three days: one run (the newest), if still within the window.
        assert_eq!(
            last_due(&eight, ny, utc("2024-03-04T20:00:00Z"), w),
            Some(utc("2024-03-04T13:00:00Z"))
        );
        assert_eq!(last_due(&eight, ny, utc("2024-03-05T02:00:00Z"), w), None);
        // Kolkata 08:00 IST = 02:30 UTC; after the US DST change NY 08:00 = 12:00 UTC.
        assert_eq!(
            last_due(
                &eight,
                chrono_tz::Asia::Kolkata,
                utc("2024-03-01T02:30:00Z"),
                w
            ),
            Some(utc("2024-03-01T02:30:00Z"))
        );
        assert_eq!(
            last_due(&eight, ny, utc("2024-03-11T12:00:00Z"), w),
            Some(utc("2024-03-11T12:00:00Z"))
        );
    }

    #[test]
    fn a_bad_cron_expression_names_the_setting() {
        let err = parse_cron("every night", "SKYGENI_NIGHTLY_CRON").unwrap_err();
        assert!(err.to_string().contains("SKYGENI_NIGHTLY_CRON"), "{err}");
        assert!(parse_cron("0 0 9 * * Mon", "x").is_ok());
    }
}
