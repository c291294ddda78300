//! Single-record REST: `POST /sobjects/{object}` (201 with `{id, success, errors}`),
//! `PATCH /sobjects/{object}/{id}` (204), `GET /sobjects/{object}/{id}`. Errors as Salesforce
//! sends them: a JSON array (`NOT_FOUND` for an object the org does not have — e.g. the
//! package's custom setting before the package is deployed — `INVALID_FIELD`, and
//! `DUPLICATE_VALUE` for a second org-default row of a hierarchy custom setting).
use super::{FakeSalesforce, Record, sf_error};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn not_found() -> Response {
    sf_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub async fn create(
    State(sf): State<FakeSalesforce>,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut org = sf.org.lock();
    if !org.schema.contains_key(&object) {
        return not_found();
    }
    let Some(fields) = body.as_object() else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "the body is not a JSON object",
        );
    };
    let mut rec = Record::new();
    for (k, v) in fields {
        if k == "attributes" {
            continue;
        }
        if k == "Id" || org.field_type(&object, k).is_none() {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("No such column '{k}' on sobject of type {object}"),
            );
        }
        rec.insert(k.clone(), v.clone());
    }
    // A hierarchy setting has one row per owner (org, profile or user).
    if object.ends_with("__c")
        && let Some(owner) = rec.get("SetupOwnerId").and_then(Value::as_str)
        && let Some(dup) = org.records.get(&object).and_then(|m| {
            m.values()
                .find(|r| r.get("SetupOwnerId").and_then(Value::as_str) == Some(owner))
        })
    {
        let dup_id = dup["Id"].as_str().unwrap_or_default().to_string();
        return sf_error(
            StatusCode::BAD_REQUEST,
            "DUPLICATE_VALUE",
            &format!("duplicate value found: SetupOwnerId duplicates value on record with id: {dup_id}"),
        );
    }
    let id = org.new_id("a00");
    let stamp = org.tick();
    rec.insert("Id".into(), json!(id));
    rec.insert("IsDeleted".into(), json!(false));
    rec.insert("SystemModstamp".into(), json!(stamp));
    org.records
        .entry(object)
        .or_default()
        .insert(id.clone(), rec);
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "success": true, "errors": []})),
    )
        .into_response()
}

pub async fn update(
    State(sf): State<FakeSalesforce>,
    Path((object, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut org = sf.org.lock();
    if !org.records.get(&object).is_some_and(|m| m.contains_key(&id)) {
        return not_found();
    }
    let fields: Record = body
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "attributes")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match org.update(&object, &id, &fields) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((code, message)) => sf_error(StatusCode::BAD_REQUEST, &code, &message),
    }
}

pub async fn read(
    State(sf): State<FakeSalesforce>,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    let org = sf.org.lock();
    match org.records.get(&object).and_then(|m| m.get(&id)) {
        Some(r) => Json(Value::Object(r.clone())).into_response(),
        None => not_found(),
    }
}
