//! Connecting an org: the OAuth web-server flow for an admin, the JWT bearer flow (and the
//! audience Salesforce accepts), and `skygeni sync --jwt-username` from the command line.
use crate::support::{jwt_key_path, now, salesforce_app, skygeni_sync, sync_context};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use skygeni::auth::Role;
use skygeni::crm::salesforce::sync_tenant;
use skygeni::domain::TenantId;
use skygeni_fakes::salesforce::{CLIENT_ID, FakeSalesforce, ORG_ID};
use tower::ServiceExt;

#[tokio::test]
async fn an_admin_connects_an_org_with_the_oauth_web_server_flow() {
    let sf = salesforce_app().await;
    let (store, fake) = (sf.store.clone(), sf.salesforce().fake.clone());
    let app = skygeni::http::router(sf.state.clone());
    let tenant = TenantId::default_tenant();
    let token = sf.token("default", Role::Admin, "admin");
    let rep = sf.token("default", Role::Rep, "rep");
    let resp = app
        .clone()
        .oneshot(
            Request::get(format!("/salesforce/connect?token={rep}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .clone()
        .oneshot(
            Request::get("/salesforce/connect")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let login = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        login.contains("code_challenge=") && login.contains("state=default."),
        "{login}"
    );
    // The browser logs in at Salesforce, which redirects back with a code.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = http.get(&login).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_string();
    let path = callback
        .strip_prefix("http://skygeni.test")
        .unwrap()
        .to_string();
    let resp = app
        .clone()
        .oneshot(Request::get(&path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let conn = store.sf_connection(&tenant).await.unwrap().unwrap();
    assert_eq!(conn.org_id, ORG_ID);
    assert!(
        !conn.instance_url_sealed.contains("127.0.0.1"),
        "sealed at rest"
    );
    assert!(
        !conn
            .refresh_token_sealed
            .as_deref()
            .unwrap()
            .starts_with("5Aep"),
        "sealed at rest"
    );
    assert_eq!(
        store.tenant_for_sf_org(ORG_ID).await.unwrap(),
        Some(tenant.clone())
    );
    let again = app
        .oneshot(Request::get(&path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a state is single-use"
    );
    // The stored refresh token works for a sync.
    fake.seed_opportunities(3, 1, 2);
    let ctx = sync_context(store.clone(), sf.settings());
    let r = sync_tenant(&ctx, &tenant, now(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.pulled), ("ok", 3));
}

#[tokio::test]
async fn the_jwt_bearer_flow_connects_a_server_to_server_org() {
    let sf = salesforce_app().await;
    let fake = &sf.salesforce().fake;
    fake.seed_opportunities(4, 2, 3);
    let ctx = sync_context(sf.store.clone(), sf.settings());
    let tenant = TenantId::default_tenant();
    let org = skygeni::crm::salesforce::oauth::connect_jwt(
        &ctx.settings,
        &ctx.store,
        &ctx.secrets,
        &ctx.http,
        &tenant,
        "integration@acme.example",
    )
    .await
    .unwrap();
    assert_eq!(org, ORG_ID);
    let r = sync_tenant(&ctx, &tenant, now(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.pulled), ("ok", 4));
    assert!(
        o_token_calls(fake) >= 2,
        "JWT grant for connect and for the sync"
    );
}

fn o_token_calls(fake: &FakeSalesforce) -> usize {
    fake.count("POST", "/services/oauth2/token")
}

#[tokio::test]
async fn the_jwt_audience_is_login_salesforce_com_and_the_org_refuses_its_my_domain_url() {
    let sf = salesforce_app().await;
    let (fake, server) = (&sf.salesforce().fake, &sf.salesforce().server);
    fake.seed_opportunities(2, 1, 3);
    let ctx = sync_context(sf.store.clone(), sf.settings());
    let http = reqwest::Client::new();
    let tenant = TenantId::default_tenant();
    let s = sf.settings();
    let connect_as = |s: skygeni::config::Settings| {
        let (store, secrets, http, tenant) = (
            ctx.store.clone(),
            ctx.secrets.clone(),
            http.clone(),
            tenant.clone(),
        );
        async move {
            skygeni::crm::salesforce::oauth::connect_jwt(
                &s,
                &store,
                &secrets,
                &http,
                &tenant,
                "integration@acme.example",
            )
            .await
        }
    };
    connect_as(s.clone()).await.unwrap();
    // The old assertion (aud = the login URL the request goes to) is refused.
    let key = std::fs::read_to_string(jwt_key_path()).unwrap();
    let bad = skygeni::crm::salesforce::oauth::jwt_assertion(
        CLIENT_ID,
        "integration@acme.example",
        &server.url(),
        &key,
        chrono::Utc::now(),
    )
    .unwrap();
    let resp = http
        .post(format!("{}/services/oauth2/token", server.url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", bad.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // A sandbox takes only test.salesforce.com; an Experience site URL comes from the setting.
    fake.set_sandbox();
    let err = connect_as(s.clone()).await.unwrap_err();
    assert!(format!("{err:#}").contains("audience"), "{err:#}");
    fake.accept_audience("https://acme.my.site.com/partners");
    let mut site = s.clone();
    site.salesforce_jwt_audience = Some("https://acme.my.site.com/partners/".into());
    connect_as(site).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skygeni_sync_connects_with_jwt_and_prints_counts_and_the_quality_report() {
    let sf = salesforce_app().await;
    sf.salesforce().seed_opportunities(6, 2, 4);
    let out = skygeni_sync(
        &sf,
        vec!["sync", "--jwt-username", "integration@acme.example"],
        true,
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Salesforce sync for default: ok"), "{text}");
    assert!(
        text.contains("full load (Bulk API 2.0): 6 Opportunities in the org, 6 pulled"),
        "{text}"
    );
    assert!(
        text.contains("Data quality: 6 rows read, 6 accepted, 0 rejected"),
        "{text}"
    );
    let out = skygeni_sync(&sf, vec!["sync", "--json"], true).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["full_load"].as_bool()),
        (Some("ok"), Some(false)),
        "{v}"
    );
    assert_eq!(v["written_back"], 0, "nothing changed since the first run");
}
