//! Fault switches shared by every fake: added latency, HTTP 5xx, 429 with `Retry-After`,
//! timeouts (the response never comes), dropped connections and lost responses (the work is
//! done, the answer never arrives), each for the next N calls
//! or for every call until cleared.
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// One injected failure mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this 5xx status (and the service's own error body).
    ServerError(u16),
    /// Answer 429 with `Retry-After: secs`.
    RateLimited { retry_after_secs: u64 },
    /// Hold the request for this long before answering normally (client timeouts fire first
    /// when it exceeds them).
    Delay(Duration),
    /// Close the connection without an answer.
    Drop,
    /// Do the work (post the message, accept the email), then never answer: the provider
    /// acted but the client only sees its timeout. The case an at-least-once sender must
    /// check before sending again.
    LoseResponse,
}

#[derive(Debug, Default)]
struct State {
    /// Faults applied to the next calls, one each, in order.
    queued: Vec<Fault>,
    /// Applied to every call while set (an outage), after the queue is empty.
    sticky: Option<Fault>,
    /// Added to every call.
    latency: Duration,
}

/// Cheaply clonable handle: the test keeps one, the fake's handlers another.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    /// Fail the next `n` calls with `fault`.
    pub fn next(&self, n: usize, fault: Fault) {
        let mut s = self.0.lock();
        s.queued.extend(std::iter::repeat_n(fault, n));
    }

    /// Fail every call with `fault` until [`Faults::clear`] (an outage).
    pub fn always(&self, fault: Fault) {
        self.0.lock().sticky = Some(fault);
    }

    /// Add `latency` to every call.
    pub fn latency(&self, latency: Duration) {
        self.0.lock().latency = latency;
    }

    /// Back to a healthy service.
    pub fn clear(&self) {
        *self.0.lock() = State::default();
    }

    /// The fault for the call being handled now, if any, plus the added latency.
    pub fn take(&self) -> (Option<Fault>, Duration) {
        let mut s = self.0.lock();
        let fault = if s.queued.is_empty() {
            s.sticky.clone()
        } else {
            Some(s.queued.remove(0))
        };
        (fault, s.latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_then_the_outage_then_health() {
        let f = Faults::default();
        f.next(1, Fault::ServerError(503));
        f.always(Fault::RateLimited {
            retry_after_secs: 2,
        });
        assert_eq!(f.take().0, Some(Fault::ServerError(503)));
        assert_eq!(
            f.take().0,
            Some(Fault::RateLimited {
                retry_after_secs: 2
            })
        );
        f.clear();
        assert_eq!(f.take().0, None);
    }
}
