//! Repository contract: the same behaviour on SQLite and PostgreSQL.
use crate::support::{HEADER, TestDb, generated_rows, seed_csv};
use chrono::NaiveDate;
use skygeni::crm::{parse_csv_bytes, read_csv_file};
use skygeni::domain::{Outcome, TenantId};
use skygeni::store::{AuditEntry, Backend, ImportCounts, StoreError};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
}

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

#[tokio::test]
async fn importing_the_same_deals_twice_changes_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let parsed = read_csv_file(&seed_csv(), as_of()).unwrap();
    assert_eq!(parsed.deals.len(), 5000);
    let tenant = TenantId::default_tenant();
    let first = store
        .upsert_deals(&tenant, &parsed.deals, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        first,
        ImportCounts {
            new: 5000,
            changed: 0,
            unchanged: 0
        }
    );
    let second = store
        .upsert_deals(&tenant, &parsed.deals, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        second,
        ImportCounts {
            new: 0,
            changed: 0,
            unchanged: 5000
        }
    );

    let loaded = store.load_deals(&tenant).await.unwrap();
    assert_eq!(loaded.len(), 5000);
    let d1 = loaded.iter().find(|d| d.deal_id == "D00001").unwrap();
    assert_eq!(
        d1,
        parsed.deals.iter().find(|d| d.deal_id == "D00001").unwrap(),
        "round trip keeps every field"
    );
}

#[tokio::test]
async fn a_changed_row_is_updated_and_counted_as_changed() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    let csv = format!("{HEADER}\n{}", generated_rows(10, "C"));
    let mut deals = parse_csv_bytes(csv.as_bytes(), as_of()).unwrap().deals;
    store
        .upsert_deals(&tenant, &deals, &mut |_| {})
        .await
        .unwrap();
    deals[3].amount = 77_777.0;
    deals[6].outcome = Some(match deals[6].outcome {
        Some(Outcome::Won) => Outcome::Lost,
        _ => Outcome::Won,
    });
    let counts = store
        .upsert_deals(&tenant, &deals, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        counts,
        ImportCounts {
            new: 0,
            changed: 2,
            unchanged: 8
        }
    );
    let loaded = store.load_deals(&tenant).await.unwrap();
    assert_eq!(loaded[3].amount, 77_777.0);
    let open: Vec<String> = store
        .load_open_deals(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.deal_id)
        .collect();
    assert_eq!(
        open,
        vec!["C0000000", "C0000001", "C0000002", "C0000003", "C0000004"],
        "generated deals 0-4 are open"
    );
}

#[tokio::test]
async fn tenants_see_only_their_own_deals_even_when_sql_forgets_the_where_clause() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (a, b) = (t("tenant-a"), t("tenant-b"));
    store.add_tenant(&a, "A", "UTC").await.unwrap();
    store.add_tenant(&b, "B", "Europe/Berlin").await.unwrap();
    let deals_a = parse_csv_bytes(
        format!("{HEADER}\n{}", generated_rows(3, "A")).as_bytes(),
        as_of(),
    )
    .unwrap()
    .deals;
    let deals_b = parse_csv_bytes(
        format!("{HEADER}\n{}", generated_rows(4, "B")).as_bytes(),
        as_of(),
    )
    .unwrap()
    .deals;
    store.upsert_deals(&a, &deals_a, &mut |_| {}).await.unwrap();
    store.upsert_deals(&b, &deals_b, &mut |_| {}).await.unwrap();

    // The application's own queries are scoped on both backends.
    assert_eq!(store.load_deals(&a).await.unwrap().len(), 3);
    assert_eq!(store.count_deals(&b).await.unwrap(), 4);

    if db.backend == Backend::Postgres {
        // No WHERE clause at all: row-level security alone must hide tenant B.
        let ids = store
            .unscoped_texts_for_tests(&a, "SELECT deal_id FROM deals")
            .await
            .unwrap();
        assert_eq!(
            ids.len(),
            3,
            "tenant A must see only its 3 deals, saw {ids:?}"
        );
        assert!(ids.iter().all(|id| id.starts_with('A')));
        // Writes without WHERE cannot touch B's rows either.
        let updated = store
            .unscoped_execute_for_tests(&a, "UPDATE deals SET amount = 1")
            .await
            .unwrap();
        assert_eq!(updated, 3);
        assert!(
            store
                .load_deals(&b)
                .await
                .unwrap()
                .iter()
                .all(|d| d.amount > 1.0)
        );
        let deleted = store
            .unscoped_execute_for_tests(&a, "DELETE FROM deals")
            .await
            .unwrap();
        assert_eq!(deleted, 3);
        assert_eq!(store.count_deals(&b).await.unwrap(), 4);
        // And a row written for B while scoped to A is refused by the policy.
        let err = store
            .unscoped_execute_for_tests(
                &a,
                "INSERT INTO audit_log (tenant_id, audit_id, at, actor, action) VALUES ('tenant-b', 'x', 'now', 'evil', 'x')",
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        // The service really runs as the non-owner app role.
        let who = store
            .unscoped_texts_for_tests(&a, "SELECT current_user::text")
            .await
            .unwrap();
        assert_eq!(who, vec!["skygeni_app".to_string()]);
    }
}

#[tokio::test]
async fn adding_an_existing_tenant_is_a_conflict_and_missing_tenants_explain_themselves() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store
        .add_tenant(&t("acme"), "Acme", "Asia/Kolkata")
        .await
        .unwrap();
    let err = store
        .add_tenant(&t("acme"), "Acme again", "UTC")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let ids: Vec<String> = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.tenant_id)
        .collect();
    assert_eq!(ids, vec!["acme", "default"]);
    let msg = store
        .require_tenant(&t("nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("skygeni tenant add nope"), "{msg}");
}

#[tokio::test]
async fn audit_entries_are_kept_per_tenant_newest_first() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    for action in ["first", "second"] {
        let e = AuditEntry {
            actor: "tester",
            action,
            target: Some("x"),
            request_id: Some("req-1"),
            detail: None,
        };
        store.record_audit(&tenant, e).await.unwrap();
    }
    let rows = store.list_audit(&tenant, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
        vec!["second", "first"]
    );
    store.add_tenant(&t("other"), "O", "UTC").await.unwrap();
    assert!(store.list_audit(&t("other"), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_database_failure_mid_import_leaves_the_database_as_it_was() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let tenant = TenantId::default_tenant();
    let before = parse_csv_bytes(
        format!("{HEADER}\n{}", generated_rows(50, "K")).as_bytes(),
        as_of(),
    )
    .unwrap()
    .deals;
    store
        .upsert_deals(&tenant, &before, &mut |_| {})
        .await
        .unwrap();

    // A trigger makes the database fail on row 900 of the next import, after the first
    // chunks were already written inside the transaction.
    let trigger = match db.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER boom BEFORE INSERT ON deals WHEN NEW.deal_id = 'K0000900' \
                            BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN \
                              IF NEW.deal_id = 'K0000900' THEN RAISE EXCEPTION 'simulated disk failure'; END IF; \
                              RETURN NEW; END $$ LANGUAGE plpgsql; \
                              CREATE TRIGGER boom BEFORE INSERT ON deals FOR EACH ROW EXECUTE FUNCTION boom();"
        }
    };
    // As the table owner: the service's own role may not create triggers.
    use sqlx::Connection;
    let mut owner = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(trigger)
        .execute(&mut owner)
        .await
        .expect("install trigger");

    let mut bigger = parse_csv_bytes(
        format!("{HEADER}\n{}", generated_rows(2000, "K")).as_bytes(),
        as_of(),
    )
    .unwrap()
    .deals;
    bigger[0].amount = 99_999.0; // an update that must be rolled back too
    let err = store
        .upsert_deals(&tenant, &bigger, &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("simulated disk failure"), "{err}");
    let after = store.load_deals(&tenant).await.unwrap();
    assert_eq!(after, before, "nothing half-written");
}

#[tokio::test]
async fn the_audit_writer_batches_per_tenant_and_writes_on_flush() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store.add_tenant(&t("other"), "O", "UTC").await.unwrap();
    // A linger far longer than the test: only a full batch or a flush writes.
    let writer = skygeni::store::AuditWriter::spawn_with(
        store.clone(),
        4,
        7,
        std::time::Duration::from_secs(3600),
    );
    let entry = |tenant: &TenantId, i: usize| {
        let target = format!("{}-{i}", tenant.as_str());
        store.pending_audit(
            tenant,
            AuditEntry {
                actor: "tester",
                action: "batched",
                target: Some(&target),
                request_id: None,
                detail: None,
            },
        )
    };
    let (a, b) = (TenantId::default_tenant(), t("other"));
    // 20 entries through a 4-slot queue: senders wait for room rather than drop entries.
    for i in 0..10 {
        writer.record(entry(&a, i)).await;
        writer.record(entry(&b, i)).await;
    }
    writer.flush().await;
    for tenant in [&a, &b] {
        let mut targets: Vec<String> = store
            .list_audit(tenant, 100)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| r.target)
            .collect();
        targets.sort();
        let mut want: Vec<String> = (0..10)
            .map(|i| format!("{}-{i}", tenant.as_str()))
            .collect();
        want.sort();
        assert_eq!(targets, want, "exactly this tenant's rows, once each");
    }
    // After a flush nothing is pending: a new entry is not written until the next flush.
    writer.record(entry(&a, 99)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(store.list_audit(&a, 100).await.unwrap().len(), 10);
    writer.flush().await;
    assert_eq!(store.list_audit(&a, 100).await.unwrap().len(), 11);
}

#[tokio::test]
async fn the_store_stamps_its_rows_with_the_clock_it_is_given() {
    let db = TestDb::new().await;
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
        .unwrap()
        .to_utc();
    let clock = std::sync::Arc::new(skygeni::domain::FixedClock::new(at));
    let store = db.store().await.with_clock(clock.clone());
    assert_eq!(store.now(), at);
    let tenant = store.add_tenant(&t("clocked"), "C", "UTC").await.unwrap();
    assert_eq!(tenant.created_at, skygeni::store::format_ts(at));
    assert_eq!(
        store.get_tenant(&t("clocked")).await.unwrap().created_at,
        tenant.created_at,
        "read back as written"
    );
    let later = at + chrono::Duration::hours(5);
    clock.set(later);
    let entry = AuditEntry {
        actor: "tester",
        action: "clocked",
        target: None,
        request_id: None,
        detail: None,
    };
    store
        .record_audit(&t("clocked"), entry.clone())
        .await
        .unwrap();
    store
        .record_audit_batch(&t("clocked"), &[store.pending_audit(&t("clocked"), entry)])
        .await
        .unwrap();
    let stamps: Vec<String> = store
        .list_audit(&t("clocked"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(stamps, vec![skygeni::store::format_ts(later); 2]);
}
