//! `skygeni-fakes`: the fake Slack, Salesforce and SendGrid as one process for the load kit.
//! Each listens on its own loopback port, takes remote fault switches on
//! `POST /_control/faults` (see `control`) and reports what it received on
//! `GET /_control/calls`, which the scenarios use to count sends and spot duplicates.
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{Value, json};
use skygeni_fakes::salesforce::FakeSalesforce;
use skygeni_fakes::salesforce::orgs::FakeOrgs;
use skygeni_fakes::sendgrid::FakeSendGrid;
use skygeni_fakes::slack::SlackFake;
use skygeni_fakes::{FakeServer, control};
use std::collections::BTreeMap;

#[derive(Parser)]
#[command(
    name = "skygeni-fakes",
    about = "Local fakes of Slack, Salesforce and SendGrid"
)]
struct Args {
    #[arg(long, default_value_t = 0)]
    slack_port: u16,
    #[arg(long, default_value_t = 0)]
    salesforce_port: u16,
    #[arg(long, default_value_t = 0)]
    sendgrid_port: u16,
    /// Port of the multi-org Salesforce fake (one org per tenant, created on demand).
    #[arg(long, default_value_t = 0)]
    salesforce_orgs_port: u16,
    /// Bot token the fake Slack accepts.
    #[arg(long, default_value = "xoxb-loadkit")]
    slack_token: String,
    /// API key the fake SendGrid accepts.
    #[arg(long, default_value = "SG.loadkit")]
    sendgrid_key: String,
    /// Email Activity API requests allowed per minute (SendGrid: 6). Scenarios that recover
    /// many in-flight rows at once after a kill -9 may raise it.
    #[arg(long, default_value_t = skygeni_fakes::sendgrid::ACTIVITY_PER_MINUTE)]
    sendgrid_activity_per_minute: usize,
    /// Opportunities to seed in the fake org.
    #[arg(long, default_value_t = 0)]
    sf_opportunities: usize,
    /// Owners (users) the seeded Opportunities are spread over.
    #[arg(long, default_value_t = 20)]
    sf_owners: usize,
    /// A Slack user the fake knows (users.info / users.lookupByEmail), as ID:EMAIL:NAME;
    /// repeatable.
    #[arg(long)]
    slack_user: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.sf_opportunities <= 1_000_000,
        "--sf-opportunities is capped at 1,000,000"
    );
    let slack = SlackFake::new(&a.slack_token);
    for u in &a.slack_user {
        let mut parts = u.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(email), name) if !id.is_empty() && email.contains('@') => {
                slack.add_user(id, email, name.unwrap_or(id))
            }
            _ => anyhow::bail!("--slack-user takes ID:EMAIL:NAME, got {u:?}"),
        }
    }
    let sendgrid = FakeSendGrid::new(&a.sendgrid_key);
    sendgrid.set_activity_limit(a.sendgrid_activity_per_minute);
    let sf = FakeSalesforce::new();
    if a.sf_opportunities > 0 {
        sf.seed_opportunities(a.sf_opportunities, a.sf_owners.max(1), 42);
    }
    let refresh_token = sf.issue_refresh_token();
    // The org's instance URL is set only by `FakeSalesforce::start`: without it the token
    // endpoint hands out an empty `instance_url` and every REST call after login fails. This
    // server answers the same org (shared state and faults) at that URL; the one below adds
    // the control routes and is the login URL the scenarios use.
    let _sf_instance = sf.start(0).await?;

    let s = slack.clone();
    let slack_router = slack
        .router()
        .merge(control::router(slack.faults().clone()))
        .route("/_control/calls", get(move || slack_calls(s.clone())));
    let g = sendgrid.clone();
    let sendgrid_router = sendgrid
        .router()
        .merge(control::router(sendgrid.faults.clone()))
        .route("/_control/calls", get(move || sendgrid_calls(g.clone())));
    let f = sf.clone();
    let sf_router: Router = sf
        .router()
        .merge(control::router(sf.faults.clone()))
        .route("/_control/calls", get(move || salesforce_calls(f.clone())))
        // What the package's Apex would sign with: the secret SkyGeni wrote at connect.
        .route(
            "/_control/webhook_secret",
            get({
                let f = sf.clone();
                move || async move { f.webhook_secret().unwrap_or_default() }
            }),
        );

    let slack_srv = FakeServer::start(slack_router, a.slack_port).await?;
    let sendgrid_srv = FakeServer::start(sendgrid_router, a.sendgrid_port).await?;
    let sf_srv = FakeServer::start(sf_router, a.salesforce_port).await?;
    let orgs = FakeOrgs::new();
    let orgs_srv = FakeServer::start(orgs.router(), a.salesforce_orgs_port).await?;
    orgs.set_url(&orgs_srv.url());
    // One JSON line the scenario scripts read (ports may have been picked by the OS).
    println!(
        "{}",
        json!({
            "slack_api_url": format!("{}/api/", slack_srv.url()),
            "slack_url": slack_srv.url(),
            "sendgrid_api_url": sendgrid_srv.url(),
            "salesforce_url": sf_srv.url(),
            "salesforce_refresh_token": refresh_token,
            "salesforce_orgs_url": orgs_srv.url(),
        })
    );
    tokio::signal::ctrl_c().await?;
    drop((slack_srv, sendgrid_srv, sf_srv, orgs_srv));
    Ok(())
}

/// Calls per method and outcome, plus delivered DMs that repeat an earlier one: same
/// idempotency key in the message metadata (or, without metadata, same channel and text). The
/// duplicate count the scenarios require to be zero. A post whose answer was lost (fault
/// `lose_response`) was still delivered and counts.
async fn slack_calls(slack: SlackFake) -> Json<Value> {
    let mut by_method: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in slack.calls() {
        *by_method
            .entry(c.method.clone())
            .or_default()
            .entry(c.outcome.clone())
            .or_default() += 1;
        if c.method == "chat.postMessage" && c.outcome.starts_with("ok") {
            let channel = c.body["channel"].as_str().unwrap_or_default().to_string();
            let key = match c.body["metadata"]["event_payload"]["skygeni_key"].as_str() {
                Some(k) => format!("key:{k}"),
                None => format!("text:{}", c.body["text"].as_str().unwrap_or_default()),
            };
            *seen.entry((channel, key)).or_default() += 1;
        }
    }
    let duplicates: usize = seen.values().map(|n| n.saturating_sub(1)).sum();
    Json(
        json!({"methods": by_method, "messages_delivered": seen.values().sum::<usize>(), "duplicate_messages": duplicates}),
    )
}

/// Accepted messages and those whose idempotency key (`custom_args.skygeni_key`) repeats.
async fn sendgrid_calls(sendgrid: FakeSendGrid) -> Json<Value> {
    let sent = sendgrid.sent();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for m in &sent {
        let key = m.custom_args["skygeni_key"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{:?}|{}", m.to, m.subject));
        *keys.entry(key).or_default() += 1;
    }
    let duplicates: usize = keys.values().map(|n| n.saturating_sub(1)).sum();
    Json(
        json!({"requests": sendgrid.calls(), "accepted": sent.len(), "distinct": keys.len(), "duplicates": duplicates,
               "activity_requests": sendgrid.activity_calls()}),
    )
}

/// Calls per HTTP method and path family, and the org's API usage.
async fn salesforce_calls(sf: FakeSalesforce) -> Json<Value> {
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for c in sf.calls() {
        let family: String = c
            .path
            .split('/')
            .filter(|p| !p.is_empty())
            .take(4)
            .collect::<Vec<_>>()
            .join("/");
        *by_kind
            .entry(format!("{} /{family}", c.method))
            .or_default() += 1;
    }
    Json(json!({"calls": by_kind, "api_used": sf.api_used()}))
}
