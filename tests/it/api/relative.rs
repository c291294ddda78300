//! Issue 16 on the REST API: `relative_risk` and `model_skill_note` next to every score
//! (additions to the design's shapes), and the tenant's band edges on API scores.
use super::inline_deal;
use crate::support::{TestApp, t};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::domain::RiskBands;
use skygeni::engine::LOW_SKILL_LINE;
use skygeni::store::RiskSettingsRow;

fn assert_relative(v: &Value) {
    let r = &v["relative_risk"];
    let p = r["percentile"].as_f64().expect("percentile");
    assert!((0.0..=100.0).contains(&p), "{v}");
    assert!(r["pp_above_typical"].is_number(), "{v}");
    let sentence = r["sentence"].as_str().expect("sentence");
    assert!(
        sentence.starts_with(&format!(
            "riskier than {:.0} % of your open deals; ",
            p.floor()
        )) && sentence.ends_with("usual loss rate"),
        "{v}"
    );
}

#[tokio::test]
async fn score_and_high_risk_say_where_a_deal_stands_and_that_skill_is_low() {
    let app = TestApp::spawn().await;
    app.seed("default", 300, "R").await;
    app.batch_score("default").await;
    let tok = app.token("default", Role::Admin, "a");
    let (s, body, _) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_relative(&body);
    // No trained model: segment rates, which the API says plainly.
    assert_eq!(body["model_skill_note"], json!(LOW_SKILL_LINE), "{body}");

    let (s, page, _) = app
        .get(
            "/v1/deals/high-risk?risk_category=low,medium,high,critical&limit=200",
            &tok,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["model_skill_note"], json!(LOW_SKILL_LINE));
    let deals = page["deals"].as_array().unwrap();
    assert!(deals.len() > 10, "{page}");
    for d in deals {
        assert_relative(d);
    }
    // Riskier (lower win probability) never ranks lower in the pipeline.
    let mut by_p: Vec<(f64, f64)> = deals
        .iter()
        .map(|d| {
            (
                d["win_probability"].as_f64().unwrap(),
                d["relative_risk"]["percentile"].as_f64().unwrap(),
            )
        })
        .collect();
    by_p.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(by_p.windows(2).all(|w| w[0].1 >= w[1].1), "{by_p:?}");
}

#[tokio::test]
async fn with_a_model_of_fine_skill_the_note_is_null_and_otherwise_the_line() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 1500, "K").await;
    let report = app.train_default(&deals).await;
    let expected = report.model.as_ref().and_then(|m| m.skill_line());
    let tok = app.token("default", Role::Admin, "a");
    let (s, body, _) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["model_skill_note"], json!(expected), "{body}");
    assert_relative(&body);
}

#[tokio::test]
async fn api_scores_use_the_tenants_band_edges() {
    let app = TestApp::spawn().await;
    app.seed("default", 300, "B").await;
    app.store
        .set_risk_settings(
            &t("default"),
            RiskSettingsRow {
                low_max: 5,
                medium_max: 10,
                high_max: 15,
                alerts_per_day: 5,
            },
        )
        .await
        .unwrap();
    let tok = app.token("default", Role::Admin, "a");
    let (s, body, _) = app.post("/v1/deals/score", &tok, &inline_deal()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let score = body["risk_score"].as_u64().unwrap() as u8;
    let want = RiskBands::new(5, 10, 15).unwrap().category(score);
    assert_eq!(body["risk_category"], json!(want.as_str()), "{body}");
    assert_ne!(
        want,
        RiskBands::default().category(score),
        "score {score}: the test must tell the edges apart"
    );
}
