//! Plain-text renderings of Block Kit JSON (what a user sees in Slack, for terminals and the
//! README) and the `skygeni demo` preview files `slack_alert.json` / `slack_home.json`.
use super::alert::alert_message;
use super::card::ListStanding;
use super::home::{HomeInput, add_win_rates, home_view, rep_summaries};
use crate::domain::{Deal, DealScore};
use crate::engine::PipelineMetrics;
use anyhow::Context;
use serde_json::Value;
use std::path::Path;

/// Text of a text object (`plain_text` / `mrkdwn`) or a string.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(_) => v["text"].as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

fn render_blocks(blocks: &[Value], prefix: &str, out: &mut String) {
    for b in blocks {
        let line = |out: &mut String, s: &str| {
            for l in s.lines() {
                out.push_str(prefix);
                out.push_str(l);
                out.push('\n');
            }
        };
        match b["type"].as_str().unwrap_or_default() {
            "header" => line(out, &format!("== {} ==", text(&b["text"]))),
            "section" => {
                if !b["text"].is_null() {
                    line(out, &text(&b["text"]));
                }
                for f in b["fields"].as_array().into_iter().flatten() {
                    line(out, &format!("  {}", text(f).replace('\n', " ")));
                }
                if b["accessory"]["type"] == "button" {
                    line(out, &format!("  [{}]", text(&b["accessory"]["text"])));
                }
            }
            "context" => {
                let parts: Vec<String> = b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                line(out, &format!("  ({})", parts.join(" · ")));
            }
            "actions" => {
                let buttons: Vec<String> = b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("[{}]", text(&e["text"])))
                    .collect();
                line(out, &buttons.join(" "));
            }
            "divider" => line(out, "────────────────────────────"),
            "input" => line(out, &format!("{}: ____", text(&b["label"]))),
            other => line(out, &format!("<{other} block>")),
        }
    }
}

/// A message (`text` + `blocks` / `attachments`) or a view (`type` home/modal) as text.
pub fn render(v: &Value) -> String {
    let mut out = String::new();
    if let Some(blocks) = v["blocks"].as_array() {
        render_blocks(blocks, "", &mut out);
    }
    for a in v["attachments"].as_array().into_iter().flatten() {
        let colour = a["color"].as_str().unwrap_or("");
        out.push_str(&format!("┃ (colour {colour})\n"));
        render_blocks(
            a["blocks"].as_array().map_or(&[][..], |b| b),
            "┃ ",
            &mut out,
        );
    }
    out
}

/// Writes `slack_alert.json` (the alert for the riskiest deal) and `slack_home.json` (a
/// manager's App Home over the whole pipeline) into `out`, and returns their text renderings.
/// `ranked` is riskiest first; `open`/`scores` are all open deals with their scores;
/// `history` gives the reps' win rates; `standing` each deal's relative risk on Home.
pub fn write_demo_preview(
    out: &Path,
    metrics: &PipelineMetrics,
    ranked: &[(&Deal, &DealScore)],
    open: &[Deal],
    scores: &[DealScore],
    history: &[Deal],
    standing: ListStanding,
) -> anyhow::Result<String> {
    let mut text_out = String::new();
    if let Some((deal, score)) = ranked.first() {
        let alert = alert_message(deal, score, None);
        write(&out.join("slack_alert.json"), &alert)?;
        text_out.push_str("Slack alert (slack_alert.json), as a DM:\n");
        text_out.push_str(&render(&alert));
    }
    let mut reps = rep_summaries(open, scores);
    add_win_rates(&mut reps, history);
    let home = home_view(&HomeInput {
        metrics,
        ranked,
        reps: Some(&reps),
        standing,
    });
    write(&out.join("slack_home.json"), &home)?;
    text_out.push_str("\nApp Home of a manager (slack_home.json):\n");
    text_out.push_str(&render(&home));
    Ok(text_out)
}

fn write(path: &Path, v: &Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(v)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::book;

    #[test]
    fn the_preview_files_are_valid_block_kit_and_render_every_block() {
        let b = book();
        let dir = tempfile::tempdir().unwrap();
        let txt = write_demo_preview(
            dir.path(),
            &b.metrics,
            &b.ranked(),
            &b.open,
            &b.scores,
            &b.open,
            ListStanding::default(),
        )
        .unwrap();
        let alert: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("slack_alert.json")).unwrap(),
        )
        .unwrap();
        crate::slack::blocks::kit_check::assert_valid_message(&alert);
        let home: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("slack_home.json")).unwrap(),
        )
        .unwrap();
        crate::slack::blocks::kit_check::assert_valid_view(&home);
        assert!(
            txt.contains("[Snooze]") && txt.contains("[Mark false alarm]"),
            "{txt}"
        );
        assert!(txt.contains("Your team"), "{txt}");
        assert!(!txt.contains("block>"), "every block type rendered: {txt}");
    }
}
