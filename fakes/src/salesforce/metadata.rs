//! Deploying an SFDX project (`sf project deploy start`) into the fake org, with the checks a
//! real org makes that SkyGeni's package has tripped over: custom fields on Task or Event must
//! be defined on Activity (`objects/Task/fields/…` fails with "bad value for restricted
//! picklist field: Task"); permission-set entries must name fields, External Credential
//! principals and objects that exist; a Named Credential in the current model (API 56+) needs
//! an https URL parameter and an existing External Credential; `replacements` in
//! sfdx-project.json are applied from the environment, and an unset variable fails the deploy
//! as the CLI does. A successful deploy adds the package's fields to the org's describe. Also
//! the package's Apex REST endpoint that stores the webhook secret in the org.
use super::{FakeSalesforce, Record, sf_error};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// What a deploy added: object → custom fields (API name → describe type).
pub type Deployed = BTreeMap<String, BTreeMap<String, String>>;

/// Inner text of every `<tag>…</tag>` (the metadata files never nest a tag in itself).
fn tags<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].trim());
        rest = &after[j + close.len()..];
    }
    out
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    tags(xml, name).into_iter().next()
}

/// Describe type of a metadata field type.
fn describe_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "Text" => "string",
        "Number" => "double",
        "Percent" => "percent",
        "Currency" => "currency",
        "Checkbox" => "boolean",
        "Date" => "date",
        "DateTime" => "datetime",
        "Picklist" => "picklist",
        "LongTextArea" | "TextArea" => "textarea",
        "Lookup" => "reference",
        _ => return None,
    })
}

fn files(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn read(
    p: &Path,
    env: &HashMap<String, String>,
    repl: &[(String, String, String)],
) -> Result<String, String> {
    let mut text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    for (file, from, var) in repl {
        if p.ends_with(file) {
            let value = env.get(var).ok_or_else(|| {
                format!("The {var} environment variable is not set, but a replacement in sfdx-project.json needs it")
            })?;
            text = text.replace(from, value);
        }
    }
    Ok(text)
}

impl FakeSalesforce {
    /// Deploy the SFDX project at `project` (with `env` as the CLI's environment). Every error
    /// is listed, as a failed deploy reports them; on success the fields join the describe.
    pub fn deploy(
        &self,
        project: &Path,
        env: &HashMap<String, String>,
    ) -> Result<Deployed, Vec<String>> {
        let mut errors = Vec::new();
        let proj: serde_json::Value = std::fs::read_to_string(project.join("sfdx-project.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| vec!["sfdx-project.json is missing or not JSON".to_string()])?;
        let api: f64 = proj["sourceApiVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let repl: Vec<(String, String, String)> = proj["replacements"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["filename"].as_str()?.to_string(),
                    r["stringToReplace"].as_str()?.to_string(),
                    r["replaceWithEnv"].as_str()?.to_string(),
                ))
            })
            .collect();
        let root = project.join(
            proj["packageDirectories"][0]["path"]
                .as_str()
                .unwrap_or("force-app"),
        );
        let mut deployed = Deployed::new();
        // Custom fields: objects/<Object>/fields/<Name>.field-meta.xml
        for f in files(&root, ".field-meta.xml") {
            let object = f
                .parent()
                .and_then(|p| p.parent())
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let name = f
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .trim_end_matches(".field-meta.xml")
                        .to_string()
                })
                .unwrap_or_default();
            if object == "Task" || object == "Event" {
                errors.push(format!(
                    "{object}.{name}: bad value for restricted picklist field: {object} (custom fields on Task and Event are created on Activity)"
                ));
                continue;
            }
            let xml = match read(&f, env, &repl) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if tag(&xml, "fullName") != Some(name.as_str()) {
                errors.push(format!(
                    "{object}.{name}: fullName does not match the file name"
                ));
            }
            match tag(&xml, "type").and_then(describe_type) {
                Some(t) => {
                    deployed
                        .entry(object)
                        .or_default()
                        .insert(name, t.to_string());
                }
                None => errors.push(format!("{object}.{name}: unknown field type")),
            }
        }
        // A hierarchy custom setting has one row per owner (SetupOwnerId).
        for f in files(&root, ".object-meta.xml") {
            let xml = read(&f, env, &repl).unwrap_or_default();
            let object = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .trim_end_matches(".object-meta.xml")
                .to_string();
            if tag(&xml, "customSettingsType") == Some("Hierarchy") {
                deployed
                    .entry(object)
                    .or_default()
                    .insert("SetupOwnerId".into(), "reference".into());
            }
        }
        // Activity fields appear on both Task and Event.
        if let Some(activity) = deployed.remove("Activity") {
            for o in ["Task", "Event"] {
                deployed
                    .entry(o.into())
                    .or_default()
                    .extend(activity.clone());
            }
        }
        let org_has = |object: &str, field: &str| -> bool {
            deployed.get(object).is_some_and(|m| m.contains_key(field))
                || self
                    .org
                    .lock()
                    .schema
                    .get(object)
                    .is_some_and(|m| m.contains_key(field))
        };
        // External Credentials and their principals.
        let mut principals = BTreeSet::new();
        let mut credentials = BTreeSet::new();
        for f in files(&root, ".externalCredential-meta.xml") {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .trim_end_matches(".externalCredential-meta.xml")
                .to_string();
            if api < 56.0 {
                errors.push(format!(
                    "ExternalCredential {name}: needs API version 56.0 or later"
                ));
            }
            let xml = read(&f, env, &repl).unwrap_or_default();
            for p in tags(&xml, "externalCredentialParameters") {
                if tag(p, "parameterType") == Some("NamedPrincipal") {
                    principals.insert(format!("{name}-{}", tag(p, "parameterName").unwrap_or("")));
                }
            }
            credentials.insert(name);
        }
        for f in files(&root, ".namedCredential-meta.xml") {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .trim_end_matches(".namedCredential-meta.xml")
                .to_string();
            let xml = match read(&f, env, &repl) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let params = tags(&xml, "namedCredentialParameters");
            if params.is_empty() {
                // The legacy format: still deployable, but it is not what the package ships.
                if tag(&xml, "endpoint").is_none_or(|u| !u.starts_with("https://")) {
                    errors.push(format!(
                        "NamedCredential {name}: the endpoint must be an https URL"
                    ));
                }
                continue;
            }
            if api < 56.0 {
                errors.push(format!("NamedCredential {name}: namedCredentialParameters need API version 56.0 or later"));
            }
            let url = params
                .iter()
                .find(|p| tag(p, "parameterType") == Some("Url"));
            match url.and_then(|p| tag(p, "parameterValue")) {
                Some(u) if u.starts_with("https://") && !u.contains(' ') => {}
                other => errors.push(format!(
                    "NamedCredential {name}: the URL parameter {other:?} is not an https URL"
                )),
            }
            for p in params
                .iter()
                .filter(|p| tag(p, "parameterType") == Some("Authentication"))
            {
                let ec = tag(p, "externalCredential").unwrap_or("");
                if !credentials.contains(ec) {
                    errors.push(format!(
                        "NamedCredential {name}: no ExternalCredential named {ec} found"
                    ));
                }
            }
        }
        // Permission sets: every field, principal and object they name must exist.
        for f in files(&root, ".permissionset-meta.xml") {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let xml = read(&f, env, &repl).unwrap_or_default();
            for fp in tags(&xml, "fieldPermissions") {
                let full = tag(fp, "field").unwrap_or("");
                let (object, field) = full.split_once('.').unwrap_or((full, ""));
                if !org_has(object, field) {
                    errors.push(format!(
                        "{name}: In field: field - no CustomField named {full} found"
                    ));
                }
            }
            for p in tags(&xml, "externalCredentialPrincipalAccesses") {
                let principal = tag(p, "externalCredentialPrincipal").unwrap_or("");
                if !principals.contains(principal) {
                    errors.push(format!(
                        "{name}: no ExternalCredentialPrincipal named {principal} found"
                    ));
                }
            }
        }
        // Apex needs its meta file with an API version.
        for f in files(&root, ".cls")
            .into_iter()
            .chain(files(&root, ".trigger"))
        {
            let meta = std::path::PathBuf::from(format!("{}-meta.xml", f.display()));
            let ok = std::fs::read_to_string(&meta)
                .ok()
                .and_then(|x| tag(&x, "apiVersion").and_then(|v| v.parse::<f64>().ok()))
                .is_some();
            if !ok {
                errors.push(format!(
                    "{}: missing -meta.xml with an apiVersion",
                    f.display()
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut org = self.org.lock();
        for (object, fields) in &deployed {
            let schema = org.schema.entry(object.clone()).or_default();
            schema.entry("Id".into()).or_insert_with(|| "id".into());
            for (f, t) in fields {
                schema.insert(f.clone(), t.clone());
            }
        }
        Ok(deployed)
    }

    /// An org without the package (a fresh org: no SkyGeni fields, no settings object).
    pub fn without_package(&self) {
        let mut org = self.org.lock();
        org.schema.remove("SkyGeni_Settings__c");
        for fields in org.schema.values_mut() {
            fields.retain(|f, _| !f.ends_with("__c"));
        }
    }
}

/// The package's Apex REST endpoint `PUT /services/apexrest/skygeni/settings {"secret"}`
/// (`SkyGeniSettingsApi.cls`): upserts the SkyGeni_Settings__c org default. Without the
/// package Salesforce has no such URL.
pub async fn put_settings(State(sf): State<FakeSalesforce>, Json(body): Json<Value>) -> Response {
    let mut org = sf.org.lock();
    if !org.schema.contains_key("SkyGeni_Settings__c") {
        return sf_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Could not find a match for URL",
        );
    }
    let secret = body["secret"].as_str().unwrap_or("");
    if secret.len() < 32 || secret.len() > 255 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!("secret must be 32 to 255 characters")),
        )
            .into_response();
    }
    let owner = org.org_id.clone();
    let existing = org.records.get("SkyGeni_Settings__c").and_then(|m| {
        m.values()
            .find(|r| r.get("SetupOwnerId").and_then(Value::as_str) == Some(owner.as_str()))
            .and_then(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
    });
    let id = match existing {
        Some(id) => id,
        None => org.new_id("a00"),
    };
    let stamp = org.tick();
    let mut rec = Record::new();
    for (k, v) in [
        ("Id", json!(id)),
        ("SetupOwnerId", json!(owner)),
        ("Webhook_Secret__c", json!(secret)),
        ("Enabled__c", json!(true)),
        ("IsDeleted", json!(false)),
        ("SystemModstamp", json!(stamp)),
    ] {
        rec.insert(k.into(), v);
    }
    org.records
        .entry("SkyGeni_Settings__c".into())
        .or_default()
        .insert(id, rec);
    Json(json!("ok")).into_response()
}
