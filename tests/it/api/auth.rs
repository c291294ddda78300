//! Tokens: every way of presenting a bad one is 401; `skygeni token` prints one that verifies.
use super::assert_error;
use crate::support::{TestApp, read};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use skygeni::auth::Role;
use skygeni::auth::{issue_token, verify_token};
use skygeni::domain::TenantId;

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp() as u64;
    let claims = json!({"sub": "u", "tenant_id": "default", "role": "admin", "exp": now + 3600});
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let expired = app.sign_claims(
        &json!({"sub": "u", "tenant_id": "default", "role": "admin", "exp": now - 120}),
    );
    let wrong_secret = issue_token(
        &SecretString::from("not-our-secret"),
        &TenantId::default_tenant(),
        Role::Admin,
        "u",
        3600,
    )
    .unwrap();
    let bad_role = app.sign_claims(
        &json!({"sub": "u", "tenant_id": "default", "role": "owner", "exp": now + 3600}),
    );
    let cases: [(&str, Option<String>); 6] = [
        ("no header", None),
        ("malformed", Some("Bearer not.a.jwt".into())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("wrong signature", Some(format!("Bearer {wrong_secret}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("unknown role", Some(format!("Bearer {bad_role}"))),
    ];
    for (name, header) in cases {
        let mut req = app.client.get(format!("{}/v1/pipeline/metrics", app.base));
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let (s, body, _) = read(req.send().await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_error(&body, "unauthorized");
    }
    let basic = app
        .client
        .get(format!("{}/v1/pipeline/metrics", app.base))
        .header("authorization", "Basic dTpw")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn the_token_command_prints_a_verifiable_token_and_needs_the_secret() {
    let run = |secret: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"));
        cmd.args([
            "token", "--tenant", "acme", "--role", "manager", "--sub", "user_1", "--ttl", "600",
        ])
        .env_remove("SKYGENI_JWT_SECRET")
        .env_remove("SKYGENI_CONFIG");
        if let Some(s) = secret {
            cmd.env("SKYGENI_JWT_SECRET", s);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SKYGENI_JWT_SECRET"));
    let out = run(Some("cli-secret"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = verify_token(&SecretString::from("cli-secret"), token.trim()).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.role, claims.tenant_id.as_str()),
        ("user_1", Role::Manager, "acme")
    );
}
