//! Open-loop traffic at a steady rate: every tick starts the next request whatever the earlier
//! ones are doing (so a slow server shows up as latency, not as a lower request rate). The mix
//! is API scoring, `/deal-risk` slash commands, alert-button interactions and Salesforce
//! webhooks, each signed the way its real sender signs it. Reports per-window p50/p99, status
//! counts, and the server's resident memory at the start and end (`--pid`).
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args, Clone)]
pub struct LoadArgs {
    /// Base URL of the service (or of a load balancer in front of replicas).
    #[arg(long)]
    url: String,
    /// Requests per second, all kinds together.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Report window in seconds.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Weights `api,slack,interaction,webhook`, e.g. `4,3,1,2`; 0 turns a kind off.
    #[arg(long, default_value = "4,3,1,2")]
    mix: String,
    /// Bearer token for /v1 (a `skygeni token` output).
    #[arg(long, env = "LOADKIT_TOKEN")]
    token: Option<String>,
    #[arg(long, env = "SLACK_SIGNING_SECRET")]
    slack_signing_secret: Option<String>,
    /// The connected org's own webhook secret (`kit_salesforce` reads it from the fake org).
    #[arg(long, env = "SALESFORCE_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    /// Slack team id the slash commands claim to come from. In single-workspace mode only the
    /// bot token's own workspace is served; T0FAKE is the fake Slack's (its `auth.test`).
    #[arg(long, default_value = "T0FAKE")]
    team_id: String,
    /// Slack user id of the caller (mapped to a SkyGeni user by the scenario).
    #[arg(long, default_value = "U0LOADKIT")]
    slack_user: String,
    /// Deal ids to ask about (comma-separated); the slash command and webhook pick from them.
    #[arg(long, default_value = "D-0001")]
    deals: String,
    /// Salesforce org id the webhooks claim to come from (must be connected to a tenant;
    /// 00DFAKE000000001AA is the fake org's).
    #[arg(long, default_value = "00DFAKE000000001AA")]
    sf_org: String,
    /// Opportunity ids the webhooks name (comma-separated; default: the `--deals` list).
    #[arg(long)]
    webhook_records: Option<String>,
    /// Where response_url points (a fake Slack's /response path), if any.
    #[arg(long, default_value = "http://127.0.0.1:9/response/loadkit")]
    response_url: String,
    /// Server process to sample memory from.
    #[arg(long)]
    pid: Option<u32>,
    /// Exit non-zero when any 5xx (or transport error) was seen.
    #[arg(long)]
    fail_on_5xx: bool,
    /// Exit non-zero when any 4xx was seen: every request the kit sends is valid, so a 4xx
    /// means a traffic class is not exercising the path it claims to.
    #[arg(long)]
    fail_on_4xx: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Api,
    Slack,
    Interaction,
    Webhook,
}

#[derive(Default)]
struct Window {
    latencies: BTreeMap<Kind, Vec<f64>>,
    statuses: BTreeMap<(Kind, String), u64>,
}

pub async fn run(a: LoadArgs) -> anyhow::Result<()> {
    let weights: Vec<u32> = a
        .mix
        .split(',')
        .map(|w| w.trim().parse().context("--mix takes four whole numbers"))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(
        weights.len() == 4,
        "--mix takes four weights: api,slack,interaction,webhook"
    );
    let mut plan = Vec::new();
    for (kind, w) in [Kind::Api, Kind::Slack, Kind::Interaction, Kind::Webhook]
        .into_iter()
        .zip(&weights)
    {
        plan.extend(std::iter::repeat_n(kind, *w as usize));
    }
    anyhow::ensure!(!plan.is_empty(), "--mix turns every kind off");
    anyhow::ensure!(a.rate > 0 && a.rate <= 5_000, "--rate must be 1..=5000");
    anyhow::ensure!(a.duration <= 3_600, "--duration is capped at one hour");
    let list = |s: &str| -> Vec<String> { s.split(',').map(|s| s.trim().to_string()).collect() };
    let deals = list(&a.deals);
    let records = list(a.webhook_records.as_deref().unwrap_or(&a.deals));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()?;
    let a = Arc::new(a);
    let windows: Arc<Mutex<BTreeMap<u64, Window>>> = Arc::default();
    let rss_start = a.pid.and_then(rss_kib);
    let started = Instant::now();
    let total = u64::from(a.rate) * a.duration;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(a.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut rss_samples = Vec::new();
    for i in 0..total {
        tick.tick().await;
        let kind = plan[(i as usize) % plan.len()];
        let deal = if kind == Kind::Webhook {
            records[(i as usize) % records.len()].clone()
        } else {
            deals[(i as usize) % deals.len()].clone()
        };
        let (client, a, windows) = (client.clone(), a.clone(), windows.clone());
        let window = started.elapsed().as_secs() / a.window.max(1);
        if i % u64::from(a.rate) == 0 {
            rss_samples.push(a.pid.and_then(rss_kib));
        }
        tasks.spawn(async move {
            let t = Instant::now();
            let status = match send(&client, &a, kind, &deal, i).await {
                Ok(s) => s.to_string(),
                Err(e) => format!("error:{}", short(&e)),
            };
            let secs = t.elapsed().as_secs_f64();
            let mut w = windows.lock().unwrap();
            let w = w.entry(window).or_default();
            w.latencies.entry(kind).or_default().push(secs);
            *w.statuses.entry((kind, status)).or_default() += 1;
        });
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    // Bounded drain: requests time out after 10 s anyway.
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    let rss_end = a.pid.and_then(rss_kib);
    report(
        &windows.lock().unwrap(),
        &a,
        rss_start,
        rss_end,
        &rss_samples,
    )
}

fn short(e: &anyhow::Error) -> String {
    let s = format!("{e}");
    if s.contains("timed out") {
        "timeout".into()
    } else if s.contains("connect") {
        "connect".into()
    } else {
        "transport".into()
    }
}

async fn send(
    client: &reqwest::Client,
    a: &LoadArgs,
    kind: Kind,
    deal: &str,
    i: u64,
) -> anyhow::Result<u16> {
    let now = chrono::Utc::now();
    let req = match kind {
        Kind::Api => {
            let token = a
                .token
                .as_deref()
                .context("--token is needed for API traffic")?;
            client
                .post(format!("{}/v1/deals/score", a.url))
                .bearer_auth(token)
                .json(&serde_json::json!({"deal_id": deal}))
        }
        Kind::Slack => {
            let body = serde_urlencoded::to_string([
                ("token", "legacy-unused"),
                ("team_id", a.team_id.as_str()),
                ("team_domain", "loadkit"),
                ("channel_id", "C0LOADKIT"),
                ("user_id", a.slack_user.as_str()),
                ("user_name", "loadkit"),
                ("command", skygeni::slack::SLASH_COMMAND),
                ("text", deal),
                ("response_url", a.response_url.as_str()),
                ("trigger_id", &format!("{i}.loadkit.trigger")),
            ])?;
            slack_signed(
                client,
                a,
                skygeni::slack::COMMANDS_PATH,
                body,
                now.timestamp(),
            )?
        }
        Kind::Interaction => {
            let payload = serde_json::json!({
                "type": "block_actions",
                "team": {"id": a.team_id, "domain": "loadkit"},
                "user": {"id": a.slack_user, "team_id": a.team_id},
                "api_app_id": "A0LOADKIT",
                "trigger_id": format!("{i}.loadkit.trigger"),
                "response_url": a.response_url,
                "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0LOADKIT"},
                "channel": {"id": "C0LOADKIT"},
                "actions": [{
                    "type": "button", "action_id": skygeni::slack::actions::VIEW_DEAL,
                    "block_id": "actions", "value": deal, "action_ts": "1700000000.000200"
                }]
            });
            let body = serde_urlencoded::to_string([("payload", payload.to_string())])?;
            slack_signed(
                client,
                a,
                skygeni::slack::INTERACTIONS_PATH,
                body,
                now.timestamp(),
            )?
        }
        Kind::Webhook => {
            let secret = a
                .webhook_secret
                .as_deref()
                .context("--webhook-secret is needed for webhook traffic")?;
            let body = serde_json::json!({
                "notification_id": format!("loadkit-{}-{i}", now.timestamp_millis()),
                "org_id": a.sf_org, "object": "Opportunity", "change_type": "update",
                "record_ids": [deal], "sent_at": now.to_rfc3339(),
            })
            .to_string();
            let ts = now.timestamp_millis().to_string();
            let sig =
                skygeni::crm::salesforce::webhook::sign(secret.as_bytes(), &ts, body.as_bytes());
            client
                .post(format!("{}/webhooks/salesforce", a.url))
                .header(
                    skygeni::crm::salesforce::fields::WEBHOOK_TIMESTAMP_HEADER,
                    ts,
                )
                .header(
                    skygeni::crm::salesforce::fields::WEBHOOK_SIGNATURE_HEADER,
                    sig,
                )
                .header("content-type", "application/json")
                .body(body)
        }
    };
    Ok(req.send().await?.status().as_u16())
}

fn slack_signed(
    client: &reqwest::Client,
    a: &LoadArgs,
    path: &str,
    body: String,
    ts: i64,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let secret = a
        .slack_signing_secret
        .as_deref()
        .context("--slack-signing-secret is needed for Slack traffic")?;
    let sig = skygeni::slack::signature::sign(secret.as_bytes(), ts, body.as_bytes());
    Ok(client
        .post(format!("{}{path}", a.url))
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body))
}

/// Resident set size of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] * 1_000.0
}

fn report(
    windows: &BTreeMap<u64, Window>,
    a: &LoadArgs,
    rss_start: Option<u64>,
    rss_end: Option<u64>,
    rss_samples: &[Option<u64>],
) -> anyhow::Result<()> {
    let mut bad = 0u64;
    let mut client_errors = 0u64;
    let mut total = 0u64;
    let mut all: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_kind: BTreeMap<Kind, BTreeMap<String, u64>> = BTreeMap::new();
    println!("window  kind         n     p50_ms   p99_ms");
    for (w, win) in windows {
        for (kind, lat) in &win.latencies {
            let mut l = lat.clone();
            l.sort_by(f64::total_cmp);
            println!(
                "{:>5}s  {:<11} {:>6} {:>9.1} {:>8.1}",
                w * a.window,
                format!("{kind:?}"),
                l.len(),
                pct(&l, 0.5),
                pct(&l, 0.99)
            );
        }
        for ((kind, s), n) in &win.statuses {
            *all.entry(s.clone()).or_default() += n;
            *per_kind
                .entry(*kind)
                .or_default()
                .entry(s.clone())
                .or_default() += n;
            total += n;
            if s.starts_with('5') || s.starts_with("error") {
                bad += n;
            }
            if s.starts_with('4') {
                client_errors += n;
            }
        }
    }
    println!("statuses: {all:?}");
    for (kind, st) in &per_kind {
        println!("statuses {kind:?}: {st:?}");
    }
    let peak = rss_samples.iter().flatten().max().copied();
    println!(
        "summary: requests={total} server_errors={bad} client_errors={client_errors} rss_start_kib={} rss_end_kib={} rss_peak_kib={}",
        rss_start.map_or("-".into(), |v| v.to_string()),
        rss_end.map_or("-".into(), |v| v.to_string()),
        peak.map_or("-".into(), |v| v.to_string()),
    );
    if a.fail_on_4xx && client_errors > 0 {
        anyhow::bail!("{client_errors} client errors (4xx)");
    }
    if a.fail_on_5xx && bad > 0 {
        anyhow::bail!("{bad} server errors or transport failures");
    }
    Ok(())
}
