//! Every message builder, on a realistic 200-deal pipeline: valid Block Kit, within limits.
use super::*;
use crate::slack::blocks::card::deal_card;
use crate::slack::blocks::kit_check::assert_valid_message;
use crate::testkit::book;

fn all_text(v: &Value) -> String {
    v.to_string()
}

#[test]
fn the_deal_card_is_valid_block_kit_with_colour_factors_and_four_buttons() {
    let b = book();
    for (d, s) in b.ranked() {
        let card = deal_card(d, s, Some("https://example.my.salesforce.com/006xx0000001"));
        assert_valid_message(&card);
        assert_eq!(
            card["attachments"][0]["color"],
            s.risk_category.slack_color()
        );
        let blocks = card["attachments"][0]["blocks"].as_array().unwrap();
        let buttons = &blocks.last().unwrap()["elements"];
        let ids: Vec<&str> = buttons
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                actions::VIEW_DEAL,
                actions::SNOOZE,
                actions::FALSE_ALARM,
                actions::SHARE
            ]
        );
        assert_eq!(
            buttons[0]["url"],
            "https://example.my.salesforce.com/006xx0000001"
        );
        assert_eq!(
            buttons[1]["value"],
            d.deal_id.as_str(),
            "buttons carry the deal id"
        );
    }
}

#[test]
fn the_deal_card_shows_three_factors_win_probability_and_similar_won_deals() {
    let b = book();
    let (d, s) = b
        .ranked()
        .into_iter()
        .find(|(_, s)| !s.similar_deals.is_empty())
        .expect("a deal with similar won deals");
    let text = all_text(&deal_card(d, s, None));
    for f in &s.risk_factors {
        assert!(
            text.contains(&f.description),
            "factor {:?} shown",
            f.description
        );
    }
    assert!(text.contains(&format!("{:.0}%", s.win_probability * 100.0)));
    assert!(text.contains("Similar won deals") && text.contains(&s.similar_deals[0].deal_id));
}

#[test]
fn a_very_long_company_name_is_truncated_in_the_header() {
    let b = book();
    let (d, s) = (&b.open[0], &b.scores[0]);
    assert!(
        d.company.as_ref().unwrap().chars().count() > 1000,
        "fixture deal 0 has a long name"
    );
    let card = deal_card(d, s, None);
    let h = card["attachments"][0]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap();
    assert_eq!(h.chars().count(), MAX_HEADER_TEXT);
    assert!(h.ends_with('…'));
}

#[test]
fn a_pick_list_of_200_matches_shows_45_rows_and_says_how_many_more() {
    let b = book();
    let ranked = b.ranked();
    let v = pick_list("company", &ranked);
    assert_valid_message(&v);
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 46);
    assert!(all_text(blocks.last().unwrap()).contains("and 156 more"));
    assert_eq!(blocks[1]["accessory"]["action_id"], actions::PICK_DEAL);
}

#[test]
fn top_n_lists_exactly_n_deals_riskiest_first() {
    let b = book();
    let ranked = b.ranked();
    for n in [1, 5, 25] {
        let v = top_deals(&ranked, n);
        assert_valid_message(&v);
        let rows: Vec<&Value> = v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "section")
            .collect();
        assert_eq!(rows.len(), n, "top {n}");
        assert_eq!(rows[0]["accessory"]["value"], ranked[0].0.deal_id.as_str());
    }
    assert_valid_message(&top_deals(&ranked[..2], 5));
}

#[test]
fn the_pipeline_summary_shows_rapv_rem_and_the_recovery_assumption() {
    let b = book();
    let v = pipeline_summary(&b.metrics);
    assert_valid_message(&v);
    let text = all_text(&v);
    for needle in [
        "RAPV",
        "REM",
        "Risk distribution",
        &fmt_money(b.metrics.rapv),
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
    assert!(text.contains(&b.metrics.recovery.assumption));
}

#[test]
fn a_rep_portfolio_of_200_deals_stays_within_50_blocks() {
    let b = book();
    let v = rep_portfolio("<@U123>", &b.ranked());
    assert_valid_message(&v);
    assert_eq!(v["blocks"].as_array().unwrap().len(), 47);
    assert!(all_text(&v).contains("200 open deals"));
}

#[test]
fn no_match_and_empty_lists_are_still_valid_messages() {
    assert_valid_message(&no_match("<script>'; DROP TABLE--"));
    assert_valid_message(&rep_portfolio("nobody", &[]));
    assert_valid_message(&pick_list("x", &[]));
}

#[test]
fn help_and_usage_errors_are_valid_messages_that_explain_the_command() {
    let h = help();
    assert_valid_message(&h);
    assert!(all_text(&h).contains("/deal-risk top"));
    let e = crate::slack::handlers::command::parse("top 99").unwrap_err();
    let v = usage_error(&e);
    assert_valid_message(&v);
    assert_eq!(v["text"], e.to_string());
    assert!(
        all_text(&v).contains("/deal-risk pipeline"),
        "the full usage follows the error"
    );
}
