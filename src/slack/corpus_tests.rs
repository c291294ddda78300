//! Every message, modal and Home view the bot builds, from a pipeline whose CRM text is hostile
//! (`<!channel> urgent`, `<https://evil.example|Open in Salesforce>`): each surface must show
//! that text escaped, never as a live mention or disguised link, and stay valid Block Kit.
//! With `SKYGENI_SLACK_CORPUS=DIR` set, the corpus is also written there (one JSON file per
//! surface) for the conformance witness, which checks it with slack_sdk's Block Kit models.
use super::blocks::kit_check::{assert_valid_message, assert_valid_view};
use super::blocks::{alert, card, digest, home, modals, settings, views};
use crate::domain::{Deal, DealScore};
use crate::testkit::book;
use serde_json::{Value, json};

const CHANNEL: &str = "<!channel> urgent";
const LINK: &str = "<https://evil.example|Open in Salesforce>";

/// The hostile strings in every CRM field a surface shows.
fn poisoned(d: &Deal, s: &DealScore) -> (Deal, DealScore) {
    let mut d = d.clone();
    d.company = Some(CHANNEL.into());
    d.deal_name = Some(LINK.into());
    d.deal_stage = format!("{CHANNEL} stage");
    d.owner_email = Some(format!("{LINK}@x.test"));
    let mut s = s.clone();
    if let Some(f) = s.risk_factors.first_mut() {
        f.description = format!("Industry {CHANNEL} wins less");
    }
    (d, s)
}

/// (name, kind, value): kind is "message" or "view".
fn corpus() -> Vec<(String, &'static str, Value)> {
    let b = book();
    let ranked = b.ranked();
    let (d, s) = poisoned(ranked[0].0, ranked[0].1);
    let mut rows: Vec<(&Deal, &DealScore)> = vec![(&d, &s)];
    rows.extend(ranked.iter().skip(1).take(30).copied());
    let url = Some("https://acme.my.salesforce.com/lightning/r/Opportunity/X/view");
    let ctx = modals::ModalContext {
        deal_id: d.deal_id.clone(),
        channel_id: Some("C1".into()),
        message_ts: None,
        response_url: Some("https://hooks.slack.com/actions/T/1/x".into()),
    };
    let mut reps = home::rep_summaries(&b.open, &b.scores);
    if let Some(r) = reps.first_mut() {
        r.rep_id = CHANNEL.into();
    }
    // Every list with its relative-risk lines and a hostile skill line (escaped like CRM text).
    let ranks = crate::engine::PipelineRanks::from_scores(&b.scores, 0.45);
    let skill = format!("{CHANNEL} little signal");
    let list_standing = card::ListStanding {
        ranks: Some(&ranks),
        skill_line: Some(&skill),
    };
    let mut out: Vec<(String, &'static str, Value)> = vec![
        ("card".into(), "message", card::deal_card(&d, &s, url)),
        ("alert".into(), "message", alert::alert_message(&d, &s, url)),
        (
            "digest".into(),
            "message",
            digest::digest_message(&b.metrics, &rows, list_standing),
        ),
        (
            "pick_list".into(),
            "message",
            views::pick_list(CHANNEL, &rows),
        ),
        ("no_match".into(), "message", views::no_match(LINK)),
        ("top".into(), "message", views::top_deals(&rows, 25)),
        (
            "pipeline".into(),
            "message",
            views::pipeline_summary(&b.metrics),
        ),
        (
            "rep_portfolio".into(),
            "message",
            views::rep_portfolio(CHANNEL, &rows),
        ),
        ("help".into(), "message", views::help()),
        (
            "how_to_link".into(),
            "message",
            views::how_to_link(Some(CHANNEL)),
        ),
        (
            "snooze_modal".into(),
            "view",
            modals::snooze_modal(&d, &ctx),
        ),
        (
            "false_alarm_modal".into(),
            "view",
            modals::false_alarm_modal(&d, &ctx),
        ),
        (
            "settings_modal".into(),
            "view",
            settings::settings_modal(&Default::default(), None),
        ),
        (
            "settings_modal_admin".into(),
            "view",
            settings::settings_modal(&Default::default(), Some(&Default::default())),
        ),
        ("loading_modal".into(), "view", modals::loading_modal()),
        (
            "home".into(),
            "view",
            home::home_view(&home::HomeInput {
                metrics: &b.metrics,
                ranked: &rows,
                reps: Some(&reps),
                standing: list_standing,
            }),
        ),
    ];
    // The shared card as the channel sees it (what `share` posts in_channel).
    let mut shared = card::deal_card(&d, &s, url);
    shared["response_type"] = json!("in_channel");
    out.push(("share_in_channel".into(), "message", shared));
    out
}

/// Every text a user could read in `v`, concatenated.
fn texts(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "text" && x.is_string() {
                    out.push_str(x.as_str().unwrap_or_default());
                    out.push('\n');
                } else {
                    texts(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| texts(x, out)),
        _ => {}
    }
}

/// mrkdwn text objects and top-level `text`: where Slack would parse `<…>`.
fn mrkdwn_texts(v: &Value, top: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let is_mrkdwn = m.get("type").and_then(Value::as_str) == Some("mrkdwn");
            for (k, x) in m {
                if k == "text" && x.is_string() && (is_mrkdwn || top) {
                    out.push(x.as_str().unwrap_or_default().to_string());
                } else {
                    mrkdwn_texts(x, false, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| mrkdwn_texts(x, false, out)),
        _ => {}
    }
}

#[test]
fn hostile_crm_text_is_escaped_on_every_surface_and_every_surface_is_valid_block_kit() {
    let dir = std::env::var_os("SKYGENI_SLACK_CORPUS").map(std::path::PathBuf::from);
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).expect("corpus dir");
    }
    for (name, kind, v) in corpus() {
        match kind {
            "view" => assert_valid_view(&v),
            _ => assert_valid_message(&v),
        }
        let mut md = Vec::new();
        mrkdwn_texts(&v, true, &mut md);
        for t in &md {
            assert!(!t.contains("<!channel>"), "{name}: live mention in {t}");
            assert!(!t.contains("<https://evil"), "{name}: live link in {t}");
        }
        if let Some(d) = &dir {
            let file = d.join(format!("{kind}-{name}.json"));
            std::fs::write(file, serde_json::to_vec_pretty(&v).unwrap()).expect("write corpus");
        }
    }
    // The hostile text is still shown (escaped), not dropped.
    let mut all = String::new();
    for (_, _, v) in corpus() {
        texts(&v, &mut all);
    }
    assert!(
        all.contains("&lt;!channel&gt; urgent"),
        "escaped mention shown"
    );
    assert!(all.contains("&lt;https://evil.example|Open in Salesforce&gt;"));
}
