//! `skygeni users add|import|list|unlink`: people without Salesforce, with the real binary.
use crate::import_cli::skygeni;
use crate::support::TestDb;
use skygeni::domain::TenantId;
use std::process::Output;

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn users_import_checks_every_row_first_and_links_managers_and_time_zones() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "email,name,role,manager,time_zone\nana@acme.test,Ana,admin,,UTC\nnot-an-email,X,rep,,UTC\nbo@acme.test,Bo,boss,,Mars/Base\n",
    )
    .unwrap();
    let o = skygeni(&db, &["users", "import", "--csv", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = out(&o);
    assert!(text.contains("line 3") && text.contains("line 4"), "{text}");
    assert!(text.contains("nothing was imported"), "{text}");
    let store = db.store().await;
    let t = TenantId::default_tenant();
    assert!(
        store.list_users(&t).await.unwrap().is_empty(),
        "nothing written"
    );

    // The manager may come after the rep in the file.
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "email,name,role,manager,time_zone\nrita@acme.test,Rita Rep,rep,maya@acme.test,Asia/Kolkata\nMaya@Acme.test,Maya Manager,manager,,America/New_York\n",
    )
    .unwrap();
    let o = skygeni(&db, &["users", "import", "--csv", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    let users = store.list_users(&t).await.unwrap();
    let rita = users
        .iter()
        .find(|u| u.user.email.as_deref() == Some("rita@acme.test"))
        .unwrap();
    assert_eq!(rita.user.manager_id.as_deref(), Some("maya@acme.test"));
    assert_eq!(rita.user.time_zone, "Asia/Kolkata");

    let o = skygeni(
        &db,
        &[
            "users",
            "add",
            "--email",
            "ada@acme.test",
            "--role",
            "admin",
            "--time-zone",
            "Europe/Berlin",
        ],
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = skygeni(&db, &["users", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3, "{v}");

    // unlink frees a linked user, and says so when there is nothing to unlink.
    assert!(
        store
            .set_slack_user_id(&t, "rita@acme.test", "U0RITA")
            .await
            .unwrap()
    );
    let o = skygeni(&db, &["users", "unlink", "rita@acme.test"]);
    assert!(
        o.status.success() && out(&o).contains("U0RITA"),
        "{}",
        out(&o)
    );
    assert_eq!(store.slack_id_of(&t, "rita@acme.test").await.unwrap(), None);
    let o = skygeni(&db, &["users", "unlink", "rita@acme.test"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let audit = store.list_audit(&t, 100).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "slack.unlink"),
        "{audit:?}"
    );
}
