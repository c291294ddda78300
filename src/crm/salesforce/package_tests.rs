//! The SFDX package in `salesforce_package/` defines every field the Rust code reads or writes,
//! with the type the code assumes, and the Apex callout speaks the webhook contract.
use super::fields::*;
use std::path::PathBuf;

fn pkg(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("salesforce_package/force-app/main/default")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(pkg(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Text of the first `<tag>` child of the root (the metadata files are flat).
fn child<'a>(doc: &'a roxmltree::Document, tag: &str) -> Option<&'a str> {
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
}

fn field_doc(spec: &FieldSpec) -> String {
    read(&format!(
        "objects/{}/fields/{}.field-meta.xml",
        spec.metadata_object(),
        spec.api_name
    ))
}

#[test]
fn every_field_the_code_writes_exists_in_the_package_with_the_right_type() {
    for spec in OPPORTUNITY_RISK_FIELDS.iter().chain([&TASK_KEY_FIELD]) {
        let xml = field_doc(spec);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let name = spec.api_name;
        assert_eq!(child(&doc, "fullName"), Some(name));
        let num = |tag: &str| child(&doc, tag).and_then(|v| v.parse::<u32>().ok());
        match spec.kind {
            FieldKind::Number { precision, scale } | FieldKind::Percent { precision, scale } => {
                let want = if matches!(spec.kind, FieldKind::Number { .. }) {
                    "Number"
                } else {
                    "Percent"
                };
                assert_eq!(child(&doc, "type"), Some(want), "{name}");
                assert_eq!(
                    (num("precision"), num("scale")),
                    (Some(precision.into()), Some(scale.into())),
                    "{name}"
                );
            }
            FieldKind::Picklist(values) => {
                assert_eq!(child(&doc, "type"), Some("Picklist"), "{name}");
                let found: Vec<&str> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("value"))
                    .filter_map(|v| {
                        v.children()
                            .find(|c| c.has_tag_name("fullName"))
                            .and_then(|c| c.text())
                    })
                    .collect();
                assert_eq!(found, values, "{name}");
                let restricted = doc
                    .descendants()
                    .find(|n| n.has_tag_name("restricted"))
                    .and_then(|n| n.text());
                assert_eq!(
                    restricted,
                    Some("true"),
                    "{name} must reject values we do not write"
                );
            }
            FieldKind::LongTextArea { length } => {
                assert_eq!(child(&doc, "type"), Some("LongTextArea"), "{name}");
                assert_eq!(num("length"), Some(length), "{name}");
                assert!(
                    num("visibleLines").is_some(),
                    "{name}: visibleLines is required"
                );
            }
            FieldKind::DateTime => assert_eq!(child(&doc, "type"), Some("DateTime"), "{name}"),
            FieldKind::Text { length } => {
                assert_eq!(child(&doc, "type"), Some("Text"), "{name}");
                assert_eq!(num("length"), Some(length), "{name}");
            }
            FieldKind::ExternalIdText { length } => {
                assert_eq!(child(&doc, "type"), Some("Text"), "{name}");
                assert_eq!(num("length"), Some(length), "{name}");
                assert_eq!(child(&doc, "externalId"), Some("true"), "{name}");
            }
        }
    }
}

#[test]
fn the_integration_user_may_edit_every_field_and_reps_may_only_read_them() {
    for (file, editable) in [("SkyGeni_Integration", "true"), ("SkyGeni_Reader", "false")] {
        let xml = read(&format!("permissionsets/{file}.permissionset-meta.xml"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        for spec in OPPORTUNITY_RISK_FIELDS.iter().chain([&TASK_KEY_FIELD]) {
            let full = format!("{}.{}", spec.object, spec.api_name);
            let perm = doc
                .descendants()
                .filter(|n| n.has_tag_name("fieldPermissions"))
                .find(|n| {
                    n.children()
                        .any(|c| c.has_tag_name("field") && c.text() == Some(full.as_str()))
                })
                .unwrap_or_else(|| panic!("{file} does not grant {full}"));
            let get = |t: &str| {
                perm.children()
                    .find(|c| c.has_tag_name(t))
                    .and_then(|c| c.text())
            };
            assert_eq!(
                (get("readable"), get("editable")),
                (Some("true"), Some(editable)),
                "{file}: {full}"
            );
        }
    }
}

#[test]
fn the_task_key_field_is_defined_on_activity_as_an_external_id() {
    assert!(
        !pkg("objects/Task").exists(),
        "Salesforce refuses custom fields under objects/Task; they are defined on Activity"
    );
    let xml = field_doc(&TASK_KEY_FIELD);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(child(&doc, "externalId"), Some("true"), "upsert key");
}

/// `<name>` of every enabled userPermissions entry.
fn user_permissions(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("userPermissions"))
        .filter(|n| {
            n.children()
                .any(|c| c.has_tag_name("enabled") && c.text() == Some("true"))
        })
        .filter_map(|n| {
            n.children()
                .find(|c| c.has_tag_name("name"))
                .and_then(|c| c.text())
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn the_integration_user_has_api_access_task_rights_and_reaches_every_opportunity() {
    let xml = read("permissionsets/SkyGeni_Integration.permissionset-meta.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let perms = user_permissions(&doc);
    for p in ["ApiEnabled", "EditTask", "AssignTask"] {
        assert!(perms.iter().any(|x| x == p), "{p} missing: {perms:?}");
    }
    // Task access is a user permission; Task has no object permissions to grant.
    assert!(!xml.contains("<object>Task</object>"));
    // Private sharing: only Modify All lets the write-back reach deals the user does not own.
    assert!(
        xml.contains(
            "<modifyAllRecords>true</modifyAllRecords>\n        <object>Opportunity</object>"
        ),
        "Modify All on Opportunity"
    );
}

#[test]
fn the_webhook_goes_through_a_named_credential_of_the_current_model() {
    let nc = read(&format!(
        "namedCredentials/{NAMED_CREDENTIAL}.namedCredential-meta.xml"
    ));
    assert!(nc.contains("<namedCredentialType>SecuredEndpoint</namedCredentialType>"));
    assert!(!nc.contains("<endpoint>"), "not the legacy format");
    assert!(
        nc.contains(&format!(
            "<externalCredential>{NAMED_CREDENTIAL}</externalCredential>"
        )),
        "authenticated through the External Credential"
    );
    assert!(
        pkg(&format!(
            "externalCredentials/{NAMED_CREDENTIAL}.externalCredential-meta.xml"
        ))
        .exists()
    );
    let project: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pkg("../../../sfdx-project.json")).unwrap())
            .unwrap();
    let version: f64 = project["sourceApiVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(version >= 56.0, "External Credentials need API 56+");
    let r = &project["replacements"][0];
    assert_eq!(r["replaceWithEnv"], "SKYGENI_PUBLIC_URL");
    assert!(
        r.get("allowUnsetEnvVariable").is_none(),
        "an unset URL must fail the deploy, not ship a placeholder"
    );
    assert!(nc.contains(r["stringToReplace"].as_str().unwrap()));
    // Reps' saves call out, so their permission set grants the credential's principal.
    assert!(
        read("permissionsets/SkyGeni_Reader.permissionset-meta.xml").contains(
            "<externalCredentialPrincipal>SkyGeni_Webhook-SkyGeni</externalCredentialPrincipal>"
        )
    );
}

#[test]
fn the_at_risk_list_view_shows_high_and_critical_deals() {
    let xml = read("objects/Opportunity/listViews/At_Risk_Deals.listView-meta.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(child(&doc, "label"), Some("At-Risk Deals"));
    let filter = doc
        .descendants()
        .filter(|n| n.has_tag_name("filters"))
        .find(|f| {
            f.children()
                .any(|c| c.has_tag_name("field") && c.text() == Some("Risk_Category__c"))
        })
        .expect("a Risk_Category__c filter");
    let value = filter
        .children()
        .find(|c| c.has_tag_name("value"))
        .and_then(|c| c.text());
    assert_eq!(value, Some("high,critical"));
}

#[test]
fn the_apex_callout_speaks_the_webhook_contract_the_service_verifies() {
    let apex = read("classes/SkyGeniWebhook.cls");
    assert!(
        apex.contains(&format!("SIGNATURE_HEADER = '{WEBHOOK_SIGNATURE_HEADER}'")),
        "signature header"
    );
    assert!(
        apex.contains(&format!("TIMESTAMP_HEADER = '{WEBHOOK_TIMESTAMP_HEADER}'")),
        "timestamp header"
    );
    assert!(
        apex.contains(&format!("'callout:{NAMED_CREDENTIAL}/webhooks/salesforce'")),
        "endpoint via the Named Credential"
    );
    assert!(
        apex.contains("implements Queueable, Database.AllowsCallouts"),
        "callouts are not allowed from triggers"
    );
    let watched: Vec<String> = RESCORE_ON_CHANGE.iter().map(|f| format!("'{f}'")).collect();
    assert!(
        apex.contains(&watched.join(", ")),
        "WATCHED_FIELDS must equal RESCORE_ON_CHANGE"
    );
    for risk in OPPORTUNITY_RISK_FIELDS {
        assert!(
            !RESCORE_ON_CHANGE.contains(&risk.api_name),
            "our write-back must not re-trigger"
        );
    }
    assert!(
        read("triggers/SkyGeniOpportunityTrigger.trigger")
            .contains("SkyGeniWebhook.onOpportunitiesSaved")
    );
    assert!(
        apex.contains("Limits.getQueueableJobs() >= Limits.getLimitQueueableJobs()"),
        "enqueue only while the transaction has a Queueable slot"
    );
    assert!(
        pkg(&format!(
            "namedCredentials/{NAMED_CREDENTIAL}.namedCredential-meta.xml"
        ))
        .exists()
    );
    let test = read("classes/SkyGeniWebhookTest.cls");
    assert!(
        test.contains("@IsTest") && test.contains("HttpCalloutMock"),
        "Apex test class with a callout mock"
    );
    let project: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pkg("../../../sfdx-project.json")).unwrap())
            .unwrap();
    assert_eq!(project["packageDirectories"][0]["path"], "force-app");
}

#[test]
fn the_integration_user_may_read_and_write_every_object_the_sync_touches() {
    let xml = read("permissionsets/SkyGeni_Integration.permissionset-meta.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    // (object, permissions the sync needs): pull reads Opportunities (+ Account fields) of
    // every owner, write-back edits them (Tasks come from the EditTask user permission).
    let needs: [(&str, &[&str]); 2] = [
        (
            "Opportunity",
            &[
                "allowRead",
                "allowEdit",
                "viewAllRecords",
                "modifyAllRecords",
            ],
        ),
        ("Account", &["allowRead", "viewAllRecords"]),
    ];
    for (object, perms) in needs {
        let node = doc
            .descendants()
            .filter(|n| n.has_tag_name("objectPermissions"))
            .find(|n| {
                n.children()
                    .any(|c| c.has_tag_name("object") && c.text() == Some(object))
            })
            .unwrap_or_else(|| panic!("no object permissions for {object}"));
        for p in perms {
            let v = node
                .children()
                .find(|c| c.has_tag_name(*p))
                .and_then(|c| c.text());
            assert_eq!(v, Some("true"), "{object}.{p}");
        }
    }
}

#[test]
fn the_apex_notification_carries_every_key_the_webhook_route_reads() {
    let apex = read("classes/SkyGeniWebhook.cls");
    // The keys of `routes::Notification` (the route rejects a body without the required ones).
    for key in [
        "notification_id",
        "org_id",
        "object",
        "change_type",
        "record_ids",
    ] {
        assert!(
            apex.contains(&format!("'{key}' =>")),
            "Apex body lacks {key}"
        );
    }
    let body = serde_json::json!({
        "notification_id": "n", "org_id": "00D", "object": "Opportunity",
        "change_type": "update", "record_ids": ["006000000000001AAA"], "sent_at": "2026-01-01T00:00:00Z"
    });
    let n: super::routes::Notification = serde_json::from_value(body).unwrap();
    assert_eq!(n.record_ids.len(), 1);
}

#[test]
fn the_sync_checks_the_package_fields_with_the_types_salesforce_describes() {
    // What describe reports for the package's fields must pass the schema check unchanged.
    let describe: std::collections::HashMap<String, String> = OPPORTUNITY_RISK_FIELDS
        .iter()
        .map(|f| {
            let t = match f.kind {
                FieldKind::Number { .. } => "double",
                FieldKind::Picklist(_) => "picklist",
                FieldKind::Percent { .. } => "percent",
                FieldKind::LongTextArea { .. } => "textarea",
                FieldKind::DateTime => "datetime",
                FieldKind::Text { .. } | FieldKind::ExternalIdText { .. } => "string",
            };
            (f.api_name.to_string(), t.to_string())
        })
        .chain(
            super::pull::OPPORTUNITY_FIELDS
                .iter()
                .filter(|(f, _)| !f.contains('.'))
                .map(|(f, t)| (f.to_string(), t[0].to_string())),
        )
        .collect();
    let account = [
        ("Name", "string"),
        ("Industry", "picklist"),
        ("BillingCountry", "string"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let problems =
        super::pull::schema_problems(&describe, &account, &super::pull::FieldMapping::default());
    assert!(problems.is_empty(), "{problems:?}");
}
