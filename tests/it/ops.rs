//! Operations: rotating `SKYGENI_ENCRYPTION_KEY` with `skygeni rotate-key` keeps every stored
//! token readable under the new key, on both backends.
use crate::support::TestDb;
use skygeni::crypto::SecretBox;
use skygeni::domain::TenantId;
use skygeni::store::SlackInstall;
use std::process::Command;

const OLD: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const NEW: &str = "6162636465666768696a6b6c6d6e6f707172737475767778797a313233343536";

#[tokio::test]
async fn rotate_key_reseals_stored_tokens_under_the_new_key() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::parse("acme").unwrap();
    store.add_tenant(&tenant, "Acme", "UTC").await.unwrap();
    let old = SecretBox::new(Some(OLD), None).unwrap();
    store
        .save_slack_install(&SlackInstall {
            tenant_id: tenant.clone(),
            team_id: "T1".into(),
            team_name: None,
            bot_user_id: None,
            scope: None,
            bot_token_sealed: old.seal("acme", "xoxb-secret"),
            refresh_token_sealed: Some(old.seal("acme", "xoxe-refresh")),
            expires_at: None,
            installed_by: None,
            active: true,
        })
        .await
        .unwrap();
    let run = |previous: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_skygeni"));
        c.arg("rotate-key")
            .env("SKYGENI_DATABASE_URL", &db.url)
            .env("SKYGENI_ENCRYPTION_KEY", NEW)
            .env_remove("SKYGENI_ENCRYPTION_KEY_PREVIOUS")
            .env_remove("SKYGENI_CONFIG")
            .current_dir(std::env::temp_dir());
        if let Some(p) = previous {
            c.env("SKYGENI_ENCRYPTION_KEY_PREVIOUS", p);
        }
        c.output().unwrap()
    };
    // Without the old key the values cannot be opened: said, and nothing changes.
    let out = run(None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bot_token"));
    let out = run(Some(OLD));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("re-sealed 2 value(s)"), "{stdout}");
    let new = SecretBox::new(Some(NEW), None).unwrap();
    let row = store
        .slack_install(&tenant, Some("T1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        new.open("acme", &row.bot_token_sealed).unwrap(),
        "xoxb-secret"
    );
    assert_eq!(
        new.open("acme", row.refresh_token_sealed.as_deref().unwrap())
            .unwrap(),
        "xoxe-refresh"
    );
    // A second run finds nothing to do.
    let out = run(Some(OLD));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed 0 value(s)"));
}
