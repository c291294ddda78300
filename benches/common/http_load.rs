//! Shared by the HTTP benchmarks (`api`, `slack_commands`): a bounded concurrent request loop
//! and the latency summary line they print.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sends requests `0..n` from `concurrency` workers, each taking the next index, and stops
/// early after `max_run`. `call(i)` sends request `i` and checks its answer (an error ends the
/// run). Returns every request's latency.
pub async fn drive<F, Fut>(
    n: usize,
    concurrency: usize,
    max_run: Duration,
    call: F,
) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + max_run;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    return anyhow::Ok(lat);
                }
                let t = Instant::now();
                call(i).await?;
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await??);
    }
    Ok(all)
}

/// `{req/s} p50 p95 p99 max ({n} requests)` for a run that took `wall`.
pub fn summary(mut lat: Vec<Duration>, wall: Duration) -> String {
    if lat.is_empty() {
        return "no requests completed".into();
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| ms(lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]);
    format!(
        "{:>7.0} req/s   p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms   ({} requests)",
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        ms(*lat.last().expect("not empty")),
        lat.len(),
    )
}
