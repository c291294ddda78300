//! Watches `/readyz` every 100 ms for a bounded time and prints each status change, so a
//! scenario can check that a replica went not-ready during an outage and came back.
use clap::Args;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct WatchArgs {
    /// Base URL of a replica, e.g. http://127.0.0.1:8080
    #[arg(long)]
    url: String,
    /// Stop after this many seconds.
    #[arg(long = "for", default_value_t = 60)]
    secs: u64,
    /// Stop early once ready again after having been not-ready.
    #[arg(long)]
    until_recovered: bool,
}

pub async fn run(a: WatchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let started = Instant::now();
    let mut last = String::new();
    let mut saw_down = false;
    let mut down_since: Option<Instant> = None;
    let mut longest_down = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(a.secs) {
        let status = match client.get(format!("{}/readyz", a.url)).send().await {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".into(),
            Err(_) => "refused".into(),
        };
        if status != last {
            println!("{:>7.1}s readyz {status}", started.elapsed().as_secs_f64());
            if status == "200" {
                if let Some(t) = down_since.take() {
                    longest_down = longest_down.max(t.elapsed());
                }
            } else if down_since.is_none() {
                down_since = Some(Instant::now());
                saw_down = true;
            }
            last = status;
        }
        if a.until_recovered && saw_down && last == "200" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "summary: went_not_ready={saw_down} ready_at_end={} longest_not_ready_secs={:.1}",
        last == "200",
        longest_down.as_secs_f64()
    );
    Ok(())
}
