//! `skygeni demo`: the whole product on the bundled seed data, on a fresh SQLite database —
//! history summary, a replay of the pipeline as of 2024-03-01 (train, score, metrics, the
//! deals needing attention, backtest), and the Slack messages the bot would send.
use crate::crm::parse_csv_bytes;
use crate::domain::{Deal, ModelScope, Outcome, RiskCategory, TenantId};
use crate::engine::{DEFAULT_SAVE_RATE, TrainConfig, backtest};
use crate::notify::planner::AlertPolicy;
use crate::service::batch::score_open_deals;
use crate::service::metrics::pipeline_view;
use crate::service::models::{closed_before, train_and_register};
use crate::slack::blocks::{alert, digest};
use crate::store::Store;
use anyhow::Context;
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The seed dataset, compiled in so the demo runs from any directory.
const SEED_CSV: &[u8] = include_bytes!("../../examples/data/skygeni_sales_data.csv");

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Replay date: train on deals closed before it, score the deals open on it.
    #[arg(long, default_value = "2024-03-01")]
    pub as_of: NaiveDate,
    /// Folder for the demo database and what the bot would send.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let db = out.join("skygeni-demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Store::connect(&format!("sqlite://{}", db.display())).await?;
    let tenant = TenantId::default_tenant();
    let as_of = args.as_of;

    println!(
        "SkyGeni demo — bundled seed dataset, fresh SQLite database {}\n",
        db.display()
    );
    let today = super::now().date_naive();
    let parsed =
        parse_csv_bytes(SEED_CSV, today).map_err(|e| anyhow::anyhow!("bundled dataset: {e}"))?;
    println!(
        "1. Import: {} rows read, {} accepted, {} rejected",
        parsed.report.rows_read, parsed.report.accepted, parsed.report.rejected
    );
    print!("{}", history_summary(&parsed.deals));

    println!("\n2. Replay as of {as_of}: the CRM as it looked that day (later outcomes hidden)");
    let week_ago = replay_week_before(&store, &tenant, &parsed.deals, as_of).await?;
    let view: Vec<Deal> = parsed
        .deals
        .iter()
        .filter_map(|d| d.as_seen_on(as_of))
        .collect();
    store.upsert_deals(&tenant, &view, &mut |_| {}).await?;
    let open = view.iter().filter(|d| d.is_open()).count();
    println!(
        "   {} deals stored ({} closed before {as_of}, {open} open on it)",
        view.len(),
        view.len() - open
    );
    println!("{week_ago}");

    let t = Instant::now();
    let history = closed_before(&view, as_of);
    let report = train_and_register(
        &store,
        &ModelScope::Tenant(tenant.clone()),
        &history,
        &TrainConfig::default(),
        false,
    )
    .await?;
    println!(
        "\n3. Train ({:.1} s): {}",
        t.elapsed().as_secs_f64(),
        report.reason
    );
    if let Some(m) = &report.model {
        print!("{}", super::render::model_card(m));
    }

    let t = Instant::now();
    let (summary, ..) = score_open_deals(&store, &tenant, as_of, &mut |_, _| {}).await?;
    println!(
        "\n4. Score: {} open deals with {} in {:.2} s{}",
        summary.deals_scored,
        summary.model_version,
        t.elapsed().as_secs_f64(),
        if summary.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.note)
        }
    );

    let pv = pipeline_view(&store, &tenant, as_of, DEFAULT_SAVE_RATE).await?;
    let (lo, hi) = pv.scores.iter().fold((100u8, 0u8), |(lo, hi), s| {
        (lo.min(s.risk_score), hi.max(s.risk_score))
    });
    println!(
        "   Scores range {lo}–{hi}. With a {:.1}% historical win rate an average deal already has P(lost) ≈ {:.0}%.",
        pv.metrics.win_rate * 100.0,
        (1.0 - pv.metrics.win_rate) * 100.0
    );
    // Said from the measured skill, not assumed: the bundled data has little signal.
    match report.model.as_ref().and_then(|m| m.skill_line()) {
        Some(line) => println!(
            "   {line}: the bundled dataset has little signal, so read the ranking (relative risk) more than the number."
        ),
        None => println!("   The model ranks deals beyond segment win rates on this history."),
    }
    println!("\n5. Pipeline metrics");
    print!("{}", super::render::metrics_text(&pv.metrics));

    // Re-score the top deals in full (recommendations and similar won deals are not stored).
    let loaded =
        crate::service::models::load_scorer(&store, &tenant, &store.load_deals(&tenant).await?)
            .await?;
    // Ranked by relative risk: exact P(lost), not the rounded score.
    let order = crate::engine::rank_order(&pv.scores);
    let top: Vec<(Deal, crate::domain::DealScore)> = order
        .iter()
        .take(10)
        .map(|&i| {
            let d = &pv.deals[i];
            let mut s = loaded.scorer.score(d, as_of);
            loaded.similar.fill(d, as_of, &mut s);
            (d.clone(), s)
        })
        .collect();
    let top_refs: Vec<(&Deal, &crate::domain::DealScore)> =
        top.iter().map(|(d, s)| (d, s)).collect();
    let ranks = crate::engine::PipelineRanks::from_scores(
        &pv.scores,
        loaded.scorer.stats().overall_win_rate,
    );
    println!("\n6. The 10 deals needing attention, ranked by relative risk in this pipeline");
    if let Some(line) = loaded.scorer.skill_line() {
        println!("   {line}.");
    }
    print!(
        "{}",
        super::render::attention_list(&top_refs, as_of, Some(&ranks))
    );

    let t = Instant::now();
    let all = parsed.deals.clone();
    let bt =
        tokio::task::spawn_blocking(move || backtest(&all, as_of, &TrainConfig::default())).await?;
    println!(
        "\n7. Backtest ({:.1} s): what really happened to the deals open on {as_of}",
        t.elapsed().as_secs_f64()
    );
    print!("{}", super::render::backtest_text(&bt));

    println!("\n8. What the bot would send (files in {})", out.display());
    if let Some((deal, score)) = top.first() {
        if score.risk_category != RiskCategory::Critical {
            println!(
                "   No deal is critical (score > 75) on {as_of}; the alert below shows the riskiest deal as a preview."
            );
        }
        let alert = alert::alert_message(deal, score, None);
        write_json(&out.join("alert.json"), &alert)?;
        let text = alert::alert_text(deal, score);
        std::fs::write(out.join("alert.txt"), &text)?;
        println!("\n   Slack alert (alert.json):\n{}", indent(&text));
    }
    let all_ranked: Vec<(&Deal, &crate::domain::DealScore)> = top_refs
        .iter()
        .copied()
        .chain(
            order
                .iter()
                .skip(top_refs.len())
                .map(|&i| (&pv.deals[i], &pv.scores[i])),
        )
        .collect();
    let slack_standing = crate::slack::blocks::card::ListStanding {
        ranks: Some(&ranks),
        skill_line: loaded.scorer.skill_line(),
    };
    let preview = crate::slack::blocks::preview::write_demo_preview(
        out,
        &pv.metrics,
        &all_ranked,
        &pv.deals,
        &pv.scores,
        &view,
        slack_standing,
    )?;
    println!("\n{}", indent(&preview));
    let digest = digest::digest_message(&pv.metrics, &top_refs, slack_standing);
    write_json(&out.join("digest.json"), &digest)?;
    let digest_text = digest::digest_text(&pv.metrics, &top_refs);
    std::fs::write(out.join("digest-slack.txt"), &digest_text)?;
    // The manager's email digest and the alert email, rendered from the real templates.
    let email = write_digest_email(out, &pv.metrics, loaded.scorer.stats(), &top_refs)?;
    if let Some((deal, score)) = top.first() {
        write_alert_email(out, deal, score)?;
    }
    write_json(
        &out.join("metrics.json"),
        &serde_json::to_value(&pv.metrics)?,
    )?;
    write_json(&out.join("backtest.json"), &serde_json::to_value(&bt)?)?;
    println!(
        "   Daily digest (Slack: digest.json, digest-slack.txt; email: digest.html, digest.txt, subject {:?}):\n{}",
        email.subject,
        indent(&digest_text)
    );
    write_weekly(&store, &tenant, as_of, out).await?;
    println!(
        "Done in {:.1} s. Files: alert.json alert.txt alert.html alert-email.txt slack_alert.json slack_home.json digest.json digest-slack.txt digest.html digest.txt weekly.html weekly.txt weekly.json metrics.json backtest.json skygeni-demo.db",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(0)
}

/// The weekly CRO summary for `as_of` (09:00 UTC) as email (weekly.html/.txt with the charts
/// inline), Slack blocks (weekly.json) and the three chart PNGs.
async fn write_weekly(
    store: &Store,
    tenant: &TenantId,
    as_of: NaiveDate,
    out: &Path,
) -> anyhow::Result<()> {
    use crate::notify::weekly;
    let now = as_of.and_hms_opt(9, 0, 0).expect("09:00 exists").and_utc();
    let t = Instant::now();
    let summary = crate::service::weekly::weekly_summary(store, tenant, now).await?;
    let summary_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let email = weekly::render_email(
        &summary,
        &weekly::WeeklyLinks {
            deal_url: &demo_deal_url,
            slack_url: "https://slack.com/app_redirect?app=SKYGENI".into(),
            settings_url: "https://slack.com/app_redirect?app=SKYGENI&tab=home".into(),
            unsubscribe_url: None,
            // The preview page shows the PNGs written beside it (a mail client gets cid:).
            image_prefix: Some(String::new()),
        },
    )?;
    let render_ms = t.elapsed().as_secs_f64() * 1000.0;
    std::fs::write(out.join("weekly.html"), &email.html)?;
    std::fs::write(out.join("weekly.txt"), &email.text)?;
    let mut urls = Vec::new();
    for img in &email.inline_images {
        std::fs::write(out.join(&img.filename), &img.bytes)?;
        urls.push(img.filename.clone());
    }
    // In Slack the images come from signed URLs; the demo has no server, so it links the files.
    let chart_urls: Vec<_> = crate::notify::charts::Chart::ALL
        .into_iter()
        .zip(
            urls.iter()
                .map(|f| format!("file://{}", out.join(f).display())),
        )
        .collect();
    write_json(
        &out.join("weekly.json"),
        &weekly::slack_blocks(&summary, &chart_urls),
    )?;
    println!(
        "\n9. Weekly CRO summary ({summary_ms:.0} ms; email with 3 charts rendered in {render_ms:.0} ms) — email: weekly.html, weekly.txt, subject {:?}; Slack: weekly.json; charts: {}",
        email.subject,
        urls.join(" ")
    );
    print!("{}", indent(&email.text));
    Ok(())
}

const DEMO_SLACK: &str = "https://slack.com/app_redirect?app=SKYGENI";
const DEMO_HOME: &str = "https://slack.com/app_redirect?app=SKYGENI&tab=home";

fn demo_deal_url(id: &str) -> String {
    format!("https://your-org.my.salesforce.com/lightning/r/Opportunity/{id}/view")
}

/// The week before `as_of`, replayed like the real nightly run would have done it then: the
/// CRM as it looked that day, a model trained on deals closed before it, and its scores
/// stored at 02:00 that day. The weekly summary compares with them ("what changed", "did
/// last week's advice work") and the digest's 7-day trend has a baseline.
async fn replay_week_before(
    store: &Store,
    tenant: &TenantId,
    deals: &[Deal],
    as_of: NaiveDate,
) -> anyhow::Result<String> {
    let day = as_of - chrono::Duration::days(7);
    let view: Vec<Deal> = deals.iter().filter_map(|d| d.as_seen_on(day)).collect();
    store.upsert_deals(tenant, &view, &mut |_| {}).await?;
    train_and_register(
        store,
        &ModelScope::Tenant(tenant.clone()),
        &closed_before(&view, day),
        &TrainConfig::default(),
        false,
    )
    .await?;
    let history = store.load_deals(tenant).await?;
    let loaded = crate::service::models::load_scorer(store, tenant, &history).await?;
    let open: Vec<Deal> = history.into_iter().filter(|d| d.is_open()).collect();
    let scores = loaded.scorer.score_batch(&open, day);
    let at = day.and_hms_opt(2, 0, 0).expect("02:00 exists").and_utc();
    store
        .record_scores(tenant, at, &scores, &AlertPolicy::default(), &mut |_| {})
        .await?;
    Ok(format!(
        "   (and the week before: the {} deals open on {day} scored as of that day, for the weekly comparison)",
        open.len()
    ))
}

/// `digest.html` / `digest.txt`: the manager's Daily Pipeline Health Report, with its charts
/// as `digest-*.png` beside it.
fn write_digest_email(
    out: &Path,
    m: &crate::engine::PipelineMetrics,
    stats: &crate::engine::SegmentStats,
    top: &[(&Deal, &crate::domain::DealScore)],
) -> anyhow::Result<crate::notify::email::RenderedEmail> {
    use crate::notify::email::{DigestEmail, DigestLinks, EmailRenderer, chart_refs};
    let mut content = DigestEmail::from_pipeline(
        "Sales manager",
        m,
        stats,
        top,
        &DigestLinks {
            deal_url: &demo_deal_url,
            full_view_url: DEMO_HOME.into(),
            slack_url: DEMO_SLACK.into(),
            settings_url: DEMO_HOME.into(),
            unsubscribe_url: None,
        },
    );
    let mut images = crate::notify::charts::pipeline_inline_images(m)?;
    for img in &mut images {
        img.filename = format!("digest-{}", img.filename);
        std::fs::write(out.join(&img.filename), &img.bytes)?;
    }
    content.charts = chart_refs(&images, Some(""));
    let email = EmailRenderer::new()?.digest(&content)?;
    std::fs::write(out.join("digest.html"), &email.html)?;
    std::fs::write(out.join("digest.txt"), &email.text)?;
    Ok(email)
}

/// `alert.html` / `alert-email.txt`: the critical-alert email for the riskiest deal.
fn write_alert_email(
    out: &Path,
    deal: &Deal,
    score: &crate::domain::DealScore,
) -> anyhow::Result<()> {
    use crate::notify::compose::{Links, alert_email};
    use crate::notify::outbox::{AlertPayload, Recipient};
    let payload = AlertPayload {
        alert_id: "demo".into(),
        deal: deal.clone(),
        score: score.clone(),
        previous_score: None,
        recipient: Recipient {
            user_id: "owner".into(),
            name: Some("Deal owner".into()),
            email: None,
            slack_user_id: None,
            role: "owner".into(),
        },
        budget: None,
        relative: None,
        skill_line: None,
    };
    let links = Links {
        salesforce_url: "https://your-org.my.salesforce.com".into(),
        slack_app_id: Some("SKYGENI".into()),
        public_url: "http://127.0.0.1:8080".into(),
        unsubscribe: None,
    };
    let email =
        crate::notify::email::EmailRenderer::new()?.alert(&alert_email(&payload, &links))?;
    std::fs::write(out.join("alert.html"), &email.html)?;
    std::fs::write(out.join("alert-email.txt"), &email.text)?;
    Ok(())
}

fn write_json(path: &Path, v: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(v)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("   {l}\n")).collect()
}

/// Win rate overall and by lead source over the whole history.
pub fn history_summary(deals: &[Deal]) -> String {
    let closed: Vec<&Deal> = deals.iter().filter(|d| d.outcome.is_some()).collect();
    let rate = |ds: &[&Deal]| {
        let won = ds
            .iter()
            .filter(|d| d.outcome == Some(Outcome::Won))
            .count();
        if ds.is_empty() {
            0.0
        } else {
            won as f64 / ds.len() as f64
        }
    };
    let first = deals.iter().map(|d| d.created_date).min();
    let last = deals.iter().filter_map(|d| d.closed_date).max();
    let mut out = format!(
        "   History: {} deals ({} closed, {} open), created {} … closed by {}\n   Win rate {:.1}%, average deal {}, average cycle {:.0} days\n   Win rate by lead source:\n",
        deals.len(),
        closed.len(),
        deals.len() - closed.len(),
        first.map_or("-".into(), |d| d.to_string()),
        last.map_or("-".into(), |d| d.to_string()),
        rate(&closed) * 100.0,
        crate::engine::explain::fmt_money(
            deals.iter().map(|d| d.amount).sum::<f64>() / deals.len().max(1) as f64
        ),
        closed
            .iter()
            .filter_map(|d| d.sales_cycle_days)
            .sum::<i64>() as f64
            / closed.len().max(1) as f64,
    );
    let mut sources: Vec<&str> = closed.iter().map(|d| d.lead_source.as_str()).collect();
    sources.sort();
    sources.dedup();
    let by: Vec<(&str, f64, usize)> = sources
        .iter()
        .map(|s| {
            let ds: Vec<&Deal> = closed
                .iter()
                .copied()
                .filter(|d| d.lead_source == *s)
                .collect();
            (*s, rate(&ds), ds.len())
        })
        .collect();
    for (s, r, n) in &by {
        out.push_str(&format!("     {s:<10} {:>5.1}%  ({n} deals)\n", r * 100.0));
    }
    let get = |name: &str| by.iter().find(|(s, ..)| *s == name).map(|x| x.1);
    if let (Some(p), Some(i)) = (get("Partner"), get("Inbound")) {
        out.push_str(&format!(
            "   Partner vs Inbound: {:.1} pp {} win rate\n",
            (i - p).abs() * 100.0,
            if p < i { "lower" } else { "higher" }
        ));
    }
    out
}
