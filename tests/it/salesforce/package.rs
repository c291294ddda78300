//! The SFDX package as the fake org deploys it: the current layout goes in; the old layout and an
//! unset public URL are refused.
use skygeni_fakes::salesforce::FakeSalesforce;
use std::collections::HashMap;

#[test]
fn the_fake_org_deploys_the_package_and_refuses_the_old_layout_and_a_placeholder_url() {
    let pkg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("salesforce_package");
    let env: HashMap<String, String> = [(
        "SKYGENI_PUBLIC_URL".to_string(),
        "https://skygeni.acme.example".to_string(),
    )]
    .into();
    let fake = FakeSalesforce::new();
    fake.without_package();
    let deployed = fake.deploy(&pkg, &env).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(
        deployed["Task"].contains_key("SkyGeni_Key__c"),
        "{deployed:?}"
    );
    assert!(deployed["SkyGeni_Settings__c"].contains_key("Webhook_Secret__c"));
    // Unset URL: the replacement fails the deploy, no placeholder reaches the org.
    let errs = FakeSalesforce::new()
        .deploy(&pkg, &HashMap::new())
        .unwrap_err();
    assert!(
        errs.iter().any(|e| e.contains("SKYGENI_PUBLIC_URL")),
        "{errs:?}"
    );
    // The old layout: the key field under objects/Task.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&pkg, tmp.path());
    let objects = tmp.path().join("force-app/main/default/objects");
    std::fs::rename(objects.join("Activity"), objects.join("Task")).unwrap();
    let fresh = FakeSalesforce::new();
    fresh.without_package();
    let errs = fresh.deploy(tmp.path(), &env).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e
                .contains("Task.SkyGeni_Key__c: bad value for restricted picklist field: Task")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("no CustomField named Task.SkyGeni_Key__c")),
        "{errs:?}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
