//! Where time comes from: every layer asks a [`Clock`] (held by the app and the store) instead
//! of reading the system time itself, so tests can pin "now".
use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// Where time comes from; tests pass their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock (the product's clock outside tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stays where it is set (tests).
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(at))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_stays_until_moved() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
            .unwrap()
            .to_utc();
        let c = FixedClock::new(t0);
        assert_eq!(c.now(), t0);
        let t1 = t0 + chrono::Duration::hours(3);
        c.set(t1);
        assert_eq!(c.now(), t1);
        assert!(SystemClock.now() > t0);
    }
}
