//! Fixed-window rate limits per user and per tenant (SKYGENI_RATE_LIMIT_*_PER_MIN).
//!
//! A window opens at a key's first request and lasts 60 s, the same rule in process and in
//! Redis (`INCR` then `EXPIRE` on the first hit), so counts agree whichever is in use. With
//! SKYGENI_REDIS_URL the counters are shared by every replica; when Redis cannot be reached
//! the limiter logs it and counts in process instead (limits then apply per replica).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Over the limit; retry after this many seconds (at least 1).
    Deny {
        retry_after: u64,
    },
}

pub struct RateLimiter {
    local: Mutex<HashMap<String, (Instant, u32)>>,
    redis: Option<redis::aio::MultiplexedConnection>,
}

impl RateLimiter {
    pub fn in_process() -> RateLimiter {
        RateLimiter {
            local: Mutex::new(HashMap::new()),
            redis: None,
        }
    }

    /// Connect to Redis when a URL is given; fall back to in-process counting (and say so).
    pub async fn connect(redis_url: Option<&str>) -> RateLimiter {
        let mut limiter = RateLimiter::in_process();
        if let Some(url) = redis_url {
            let conn = async {
                let client = redis::Client::open(url)?;
                tokio::time::timeout(
                    Duration::from_secs(2),
                    client.get_multiplexed_async_connection(),
                )
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))?
            }
            .await;
            match conn {
                Ok(c) => limiter.redis = Some(c),
                Err(e) => tracing::warn!(
                    error = %e,
                    "Redis unreachable; rate limits are counted in process (per replica)"
                ),
            }
        }
        limiter
    }

    pub fn uses_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// Count one request against `key` with `limit` per window.
    pub async fn check(&self, key: &str, limit: u32) -> Decision {
        if let Some(conn) = &self.redis {
            match redis_hit(conn.clone(), key).await {
                Ok((count, ttl)) => return decide(count, limit, ttl.max(1) as u64),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis rate-limit call failed; counting in process")
                }
            }
        }
        self.local_hit(key, limit, Instant::now())
    }

    fn local_hit(&self, key: &str, limit: u32, now: Instant) -> Decision {
        let mut map = self.local.lock().expect("rate limiter lock");
        // Keep memory bounded: expired windows are dropped now and then.
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let left = WINDOW.saturating_sub(now.duration_since(entry.0));
        decide(entry.1 as i64, limit, left.as_secs_f64().ceil() as u64)
    }
}

fn decide(count: i64, limit: u32, retry_after: u64) -> Decision {
    if count > i64::from(limit) {
        Decision::Deny {
            retry_after: retry_after.max(1),
        }
    } else {
        Decision::Allow
    }
}

/// One atomic round trip: INCR the window counter, start its 60 s expiry on the first hit
/// (or when a counter somehow has none, so it can never stick), return (count, ttl secs).
const HIT_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local t = redis.call('TTL', KEYS[1])
if t < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); t = tonumber(ARGV[1]) end
return {c, t}
";

async fn redis_hit(
    mut conn: redis::aio::MultiplexedConnection,
    key: &str,
) -> redis::RedisResult<(i64, i64)> {
    redis::cmd("EVAL")
        .arg(HIT_SCRIPT)
        .arg(1)
        .arg(format!("skygeni:rl:{key}"))
        .arg(WINDOW.as_secs())
        .query_async(&mut conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_after_the_limit_is_denied_until_the_window_ends() {
        let l = RateLimiter::in_process();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.local_hit("u", 3, t0), Decision::Allow, "request {i}");
        }
        let Decision::Deny { retry_after } = l.local_hit("u", 3, t0 + Duration::from_secs(20))
        else {
            panic!("4th request must be denied")
        };
        assert_eq!(retry_after, 40);
        assert_eq!(
            l.local_hit("other", 3, t0),
            Decision::Allow,
            "keys are separate"
        );
        assert_eq!(
            l.local_hit("u", 3, t0 + WINDOW),
            Decision::Allow,
            "new window"
        );
    }
}
