//! Who sees which deals: tenants apart (404 like a missing deal, audited; row-level security on
//! PostgreSQL), a rep their own deals (by id or owner email), a manager the team's.
use super::assert_error;
use crate::support::{TestApp, t};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::domain::TenantId;
use skygeni::store::{Backend, NewUser};

#[tokio::test]
async fn another_tenants_deal_is_a_404_like_a_missing_one_and_the_attempt_is_audited() {
    let app = TestApp::spawn().await;
    let other = app.seed("other-co", 50, "X").await;
    app.seed("default", 50, "D").await;
    let theirs = other.iter().find(|d| d.is_open()).unwrap();
    let tok = app.token("default", Role::Admin, "admin_1");

    let (s, cross, headers) = app
        .post("/v1/deals/score", &tok, &json!({"deal_id": theirs.deal_id}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{cross}");
    assert_error(&cross, "not_found");
    let (s, missing, _) = app
        .post("/v1/deals/score", &tok, &json!({"deal_id": "NO-SUCH-DEAL"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        cross["message"]
            .as_str()
            .unwrap()
            .replace(&theirs.deal_id, "ID"),
        missing["message"]
            .as_str()
            .unwrap()
            .replace("NO-SUCH-DEAL", "ID"),
        "nothing tells another tenant's deal from a missing one"
    );
    let rid = headers["x-request-id"].to_str().unwrap();
    assert_eq!(cross["request_id"], rid);
    let audit = app.audit_rows("default").await;
    let row = audit
        .iter()
        .find(|a| a.target.as_deref() == Some(theirs.deal_id.as_str()))
        .expect("the attempt is audited in the caller's tenant");
    assert_eq!(
        (
            row.action.as_str(),
            row.actor.as_str(),
            row.request_id.as_deref()
        ),
        ("deal.not_found", "admin_1", Some(rid))
    );
    assert!(
        app.audit_rows("other-co").await.is_empty(),
        "nothing is written into the other tenant"
    );
}

#[tokio::test]
async fn a_rep_sees_only_their_own_deals_and_a_manager_their_teams() {
    let app = TestApp::spawn().await;
    let deals = app.seed("default", 500, "R").await;
    app.batch_score("default").await;
    let tenant = TenantId::default_tenant();
    for (id, role, manager) in [
        ("mgr_1", "manager", None),
        ("rep_3", "rep", Some("mgr_1")),
        ("rep_4", "rep", Some("mgr_1")),
        ("rep_2", "rep", None),
    ] {
        app.store
            .upsert_user(
                &tenant,
                &NewUser {
                    user_id: id,
                    email: None,
                    name: None,
                    role,
                    manager_id: manager,
                },
            )
            .await
            .unwrap();
    }
    let ids = |body: &Value| -> Vec<String> {
        body["deals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["rep_id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = "/v1/deals/high-risk?risk_category=low,medium,high,critical&limit=200";

    let (s, rep, _) = app
        .get(all, &app.token("default", Role::Rep, "rep_3"))
        .await;
    assert_eq!(s, StatusCode::OK, "{rep}");
    let open_of = |r: &str| {
        deals
            .iter()
            .filter(|d| d.is_open() && d.sales_rep_id == r)
            .count() as u64
    };
    assert_eq!(
        rep["pagination"]["total_count"].as_u64().unwrap(),
        open_of("rep_3")
    );
    assert!(ids(&rep).iter().all(|r| r == "rep_3"), "{:?}", ids(&rep));

    let (_, mgr, _) = app
        .get(all, &app.token("default", Role::Manager, "mgr_1"))
        .await;
    assert_eq!(
        mgr["pagination"]["total_count"].as_u64().unwrap(),
        open_of("rep_3") + open_of("rep_4")
    );
    assert!(ids(&mgr).iter().all(|r| r == "rep_3" || r == "rep_4"));

    let (_, admin, _) = app.get(all, &app.token("default", Role::Admin, "a")).await;
    let open_total = deals.iter().filter(|d| d.is_open()).count() as u64;
    assert_eq!(
        admin["pagination"]["total_count"].as_u64().unwrap(),
        open_total
    );

    // Scoring someone else's stored deal: the same 404 as a missing deal, audited as denied.
    let not_mine = deals
        .iter()
        .find(|d| d.is_open() && d.sales_rep_id == "rep_2")
        .unwrap();
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &app.token("default", Role::Rep, "rep_3"),
            &json!({"deal_id": not_mine.deal_id}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert!(
        app.audit_rows("default")
            .await
            .iter()
            .any(|a| a.action == "deal.access_denied"
                && a.target.as_deref() == Some(not_mine.deal_id.as_str()))
    );
    // …while the manager may score a team member's deal.
    let team_deal = deals
        .iter()
        .find(|d| d.is_open() && d.sales_rep_id == "rep_4")
        .unwrap();
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &app.token("default", Role::Manager, "mgr_1"),
            &json!({"deal_id": team_deal.deal_id, "as_of": "2024-06-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_rep_also_sees_deals_whose_owner_email_is_theirs() {
    let app = TestApp::spawn().await;
    let mut deals = app.seed("default", 500, "O").await;
    let tenant = TenantId::default_tenant();
    let shared = deals
        .iter_mut()
        .find(|d| d.is_open() && d.sales_rep_id == "rep_2")
        .unwrap();
    shared.owner_email = Some("Pat.Rep3@Example.com".into());
    let shared = shared.clone();
    app.store
        .upsert_deals(&tenant, std::slice::from_ref(&shared), &mut |_| {})
        .await
        .unwrap();
    app.batch_score("default").await;
    app.store
        .upsert_user(
            &tenant,
            &NewUser {
                user_id: "rep_3",
                email: Some("pat.rep3@example.com"),
                name: Some("Pat"),
                role: "rep",
                manager_id: None,
            },
        )
        .await
        .unwrap();
    let tok = app.token("default", Role::Rep, "rep_3");
    let (s, body, _) = app
        .get(
            "/v1/deals/high-risk?risk_category=low,medium,high,critical&limit=200",
            &tok,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let own = deals
        .iter()
        .filter(|d| d.is_open() && d.sales_rep_id == "rep_3")
        .count() as u64;
    assert_eq!(
        body["pagination"]["total_count"].as_u64().unwrap(),
        own + 1,
        "{body}"
    );
    assert!(
        body["deals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["deal_id"] == shared.deal_id.as_str()),
        "the owner-email deal is listed"
    );
    let (s, body, _) = app
        .post(
            "/v1/deals/score",
            &tok,
            &json!({"deal_id": shared.deal_id, "as_of": "2024-06-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn on_postgres_row_level_security_hides_other_tenants_rows_from_a_query_without_where() {
    let app = TestApp::spawn().await;
    app.seed("tenant-a", 20, "A").await;
    app.seed("tenant-b", 30, "B").await;
    // Audit rows for both tenants through the API.
    for tenant in ["tenant-a", "tenant-b"] {
        let (s, _, _) = app
            .get(
                "/v1/deals/high-risk",
                &app.token(tenant, Role::Admin, "adm"),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    if app.store.backend() != Backend::Postgres {
        // SQLite has no row-level security; the application's WHERE clauses are the only
        // guard there, and the cross-tenant API test covers them on both backends.
        return;
    }
    let ids = app
        .store
        .unscoped_texts_for_tests(&t("tenant-a"), "SELECT deal_id FROM deals")
        .await
        .unwrap();
    assert_eq!(ids.len(), 20);
    assert!(ids.iter().all(|id| id.starts_with('A')), "{ids:?}");
    app.state.flush_audit().await;
    let tenants = app
        .store
        .unscoped_texts_for_tests(&t("tenant-a"), "SELECT DISTINCT tenant_id FROM audit_log")
        .await
        .unwrap();
    assert_eq!(tenants, vec!["tenant-a".to_string()]);
}
