//! Rate limits per user and per tenant, in process and through the real Redis shared by replicas.
use super::assert_error;
use crate::support::{TestApp, t};
use reqwest::StatusCode;
use skygeni::auth::Role;

#[tokio::test]
async fn the_request_after_the_per_user_limit_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(&[("SKYGENI_RATE_LIMIT_USER_PER_MIN", "100")]).await;
    let tok = app.token("default", Role::Admin, "busy");
    for i in 0..100 {
        let (s, body, _) = app.get("/v1/deals/high-risk", &tok).await;
        assert_eq!(s, StatusCode::OK, "request {}: {body}", i + 1);
    }
    let (s, body, headers) = app.get("/v1/deals/high-risk", &tok).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(&body, "rate_limit_exceeded");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(body["details"]["scope"], "user");
    assert_eq!(
        body["retry_after"].as_u64(),
        Some(retry),
        "the design's retry_after matches the header: {body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Max 100 requests per minute"),
        "{body}"
    );
    let (s, _, _) = app
        .get(
            "/v1/deals/high-risk",
            &app.token("default", Role::Admin, "calm"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "another user has their own budget");
}

#[tokio::test]
async fn the_tenant_limit_covers_all_its_users_together() {
    let app = TestApp::spawn_with(&[("SKYGENI_RATE_LIMIT_TENANT_PER_MIN", "3")]).await;
    for user in ["u1", "u2", "u3"] {
        let (s, _, _) = app
            .get(
                "/v1/deals/high-risk",
                &app.token("default", Role::Admin, user),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, body, _) = app
        .get(
            "/v1/deals/high-risk",
            &app.token("default", Role::Admin, "u4"),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["details"]["scope"], "tenant");
    app.store
        .add_tenant(&t("other"), "Other", "UTC")
        .await
        .unwrap();
    let (s, _, _) = app
        .get(
            "/v1/deals/high-risk",
            &app.token("other", Role::Admin, "u1"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "other tenants are unaffected");
}

#[tokio::test]
async fn rate_limits_are_shared_through_redis_by_every_replica() {
    let redis = [
        ("SKYGENI_REDIS_URL", "redis://127.0.0.1:6379"),
        ("SKYGENI_RATE_LIMIT_USER_PER_MIN", "3"),
    ];
    let app = TestApp::spawn_with(&redis).await;
    let second = app.start_replica().await;
    let (_, ready, _) = app.get("/readyz", "").await;
    assert_eq!(ready["rate_limits"], "redis", "{ready}");
    // A tenant of its own, so reruns within a minute do not share counters.
    let tenant = format!("rl-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    app.store
        .add_tenant(&t(&tenant), "RL", "UTC")
        .await
        .unwrap();
    let tok = app.token(&tenant, Role::Admin, "u");
    for base in [&app.base, &second, &app.base] {
        let r = app
            .client
            .get(format!("{base}/v1/deals/high-risk"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .client
        .get(format!("{second}/v1/deals/high-risk"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the 4th request counts across replicas"
    );
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_in_process_limits() {
    let app = TestApp::spawn_with(&[
        ("SKYGENI_REDIS_URL", "redis://127.0.0.1:1"),
        ("SKYGENI_RATE_LIMIT_USER_PER_MIN", "2"),
    ])
    .await;
    let (_, ready, _) = app.get("/readyz", "").await;
    assert_eq!(ready["rate_limits"], "in_process");
    let tok = app.token("default", Role::Admin, "u");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.get("/v1/deals/high-risk", &tok).await.0.as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 429]);
}
