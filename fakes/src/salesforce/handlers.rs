//! The fake org's HTTP handlers: the gate every call passes (call log, faults, bearer token,
//! API limit, `Sforce-Limit-Info`), OAuth authorize/token, REST query/queryAll/paging,
//! describe, and sObject Collections update and upsert by external id.
use super::{API_VERSION, CLIENT_ID, CLIENT_SECRET, Call, FakeSalesforce, Org, Record, soql};
use crate::faults::Fault;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{"message": message, "errorCode": code, "fields": []}])),
    )
        .into_response()
}

/// Every call: record it, apply faults, check the bearer token and the API limit on data
/// calls, count usage and report it in Sforce-Limit-Info.
pub(super) async fn gate(State(sf): State<FakeSalesforce>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    sf.org.lock().calls.push(Call {
        method: req.method().to_string(),
        path: format!(
            "{path}{}",
            req.uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        ),
    });
    let (fault, latency) = sf.faults.take();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut lose_response = false;
    match fault {
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return sf_error(status, "SERVER_UNAVAILABLE", "injected server error");
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut r = sf_error(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentPerOrgLongTxn Limit exceeded",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return r;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        // The connection never answers; the client's timeout fires.
        Some(Fault::Drop) => tokio::time::sleep(std::time::Duration::from_secs(3600)).await,
        // Do the work below, then never answer.
        Some(Fault::LoseResponse) => lose_response = true,
        None => {}
    }
    if !path.starts_with("/services/data/") && !path.starts_with("/services/apexrest/") {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let usage = {
        let mut org = sf.org.lock();
        if !token.is_some_and(|t| org.access_tokens.contains_key(&t)) {
            return sf_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            );
        }
        if org.limit_exceeded || org.api_used >= org.api_max {
            return sf_error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
        }
        org.api_used += 1;
        format!("api-usage={}/{}", org.api_used, org.api_max)
    };
    let mut resp = next.run(req).await;
    if lose_response {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    resp.headers_mut().insert(
        "Sforce-Limit-Info",
        HeaderValue::from_str(&usage).expect("ascii"),
    );
    resp
}

pub(super) async fn authorize(
    State(sf): State<FakeSalesforce>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        )
            .into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return (
            StatusCode::BAD_REQUEST,
            "invalid client_id or response_type",
        )
            .into_response();
    }
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    let code = format!("aPrx{}", uuid::Uuid::new_v4().simple());
    sf.org
        .lock()
        .codes
        .insert(code.clone(), (challenge, redirect.clone()));
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{sep}code={code}&state={}", urlencode(state));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn grant_error(desc: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_grant", "error_description": desc})),
    )
        .into_response()
}

pub(super) async fn token(
    State(sf): State<FakeSalesforce>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    use base64::Engine;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let mut org = sf.org.lock();
    let mut refresh = None;
    match get("grant_type") {
        "authorization_code" => {
            if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
                return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_client", "error_description": "invalid client credentials"}))).into_response();
            }
            let Some((challenge, redirect)) = org.codes.remove(get("code")) else {
                return grant_error("invalid authorization code");
            };
            let digest = <sha2::Sha256 as sha2::Digest>::digest(get("code_verifier").as_bytes());
            let expect = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if challenge != expect || redirect != get("redirect_uri") {
                return grant_error("invalid code verifier or redirect_uri");
            }
            let r = format!("5Aep{}", uuid::Uuid::new_v4().simple());
            org.refresh_tokens.insert(r.clone(), ());
            refresh = Some(r);
        }
        "refresh_token" => {
            if get("client_id") != CLIENT_ID
                || !org.refresh_tokens.contains_key(get("refresh_token"))
            {
                return grant_error("expired access/refresh token");
            }
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let claims = get("assertion")
                .split('.')
                .nth(1)
                .and_then(|p| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(p)
                        .ok()
                })
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            let Some(c) = claims else {
                return grant_error("invalid assertion");
            };
            let now = chrono::Utc::now().timestamp();
            let exp = c["exp"].as_i64().unwrap_or(0);
            // Salesforce: `aud` is https://login.salesforce.com (production),
            // https://test.salesforce.com (sandbox) or an Experience Cloud site URL, never the
            // My Domain URL the request goes to; `exp` within 3 minutes.
            let aud = c["aud"].as_str().unwrap_or("");
            if !org.audiences.iter().any(|a| a == aud) {
                return grant_error("audience is invalid");
            }
            if c["iss"] != CLIENT_ID
                || c["sub"].as_str().is_none_or(str::is_empty)
                || exp < now
                || exp > now + 3 * 60 + 5
            {
                return grant_error("invalid assertion");
            }
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "unsupported_grant_type"})),
            )
                .into_response();
        }
    }
    let access = format!("00DFAKE!{}", uuid::Uuid::new_v4().simple());
    org.access_tokens.insert(access.clone(), ());
    let mut body = json!({
        "access_token": access,
        "instance_url": org.base_url,
        "id": format!("{}/id/{}/005MGR000000000001", org.base_url, org.org_id),
        "token_type": "Bearer",
        "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
        "signature": "fake",
        "scope": "api refresh_token",
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    Json(body).into_response()
}

pub(super) async fn query(
    State(sf): State<FakeSalesforce>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    run_query(&sf, q.get("q").map(String::as_str).unwrap_or(""), false)
}

pub(super) async fn query_all(
    State(sf): State<FakeSalesforce>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    run_query(&sf, q.get("q").map(String::as_str).unwrap_or(""), true)
}

pub(super) fn run_query(sf: &FakeSalesforce, text: &str, all: bool) -> Response {
    let mut org = sf.org.lock();
    let parsed = match soql::parse(text) {
        Ok(p) => p,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &e),
    };
    let rows = match soql::execute(&org, &parsed, all) {
        Ok(r) => r,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &e),
    };
    if parsed.count_only {
        return Json(json!({"totalSize": rows.len(), "done": true, "records": []})).into_response();
    }
    let records: Vec<Value> = rows.iter().map(|r| soql::to_json(&parsed, r)).collect();
    page(&mut org, records)
}

pub(super) fn page(org: &mut Org, mut records: Vec<Value>) -> Response {
    let total = records.len();
    let rest = if records.len() > org.page_size {
        records.split_off(org.page_size)
    } else {
        Vec::new()
    };
    let mut body = json!({"totalSize": total, "done": rest.is_empty(), "records": records});
    if !rest.is_empty() {
        let cursor = format!("01g{}-{}", uuid::Uuid::new_v4().simple(), org.page_size);
        body["nextRecordsUrl"] = json!(format!("/services/data/{API_VERSION}/query/{cursor}"));
        org.cursors.insert(cursor, rest);
    }
    Json(body).into_response()
}

pub(super) async fn query_more(
    State(sf): State<FakeSalesforce>,
    Path(cursor): Path<String>,
) -> Response {
    let mut org = sf.org.lock();
    let Some(rest) = org.cursors.remove(&cursor) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        );
    };
    page(&mut org, rest)
}

pub(super) async fn describe(
    State(sf): State<FakeSalesforce>,
    Path(object): Path<String>,
) -> Response {
    let org = sf.org.lock();
    let Some(fields) = org.schema.get(&object) else {
        return sf_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    let fields: Vec<Value> = fields
        .iter()
        .map(|(name, kind)| json!({"name": name, "type": kind, "externalId": name == "SkyGeni_Key__c"}))
        .collect();
    Json(json!({"name": object, "fields": fields})).into_response()
}

pub(super) fn record_error(code: &str, message: &str) -> Value {
    json!({"success": false, "errors": [{"statusCode": code, "message": message, "fields": []}]})
}

pub(super) async fn collections_update(
    State(sf): State<FakeSalesforce>,
    Json(body): Json<Value>,
) -> Response {
    let records = body["records"].as_array().cloned().unwrap_or_default();
    if records.len() > 200 {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        );
    }
    let mut org = sf.org.lock();
    let mut out = Vec::new();
    for r in records {
        let Some(obj) = r.as_object() else {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "record is not an object",
            );
        };
        let object = r["attributes"]["type"].as_str().unwrap_or("").to_string();
        let Some(id) = obj.get("id").and_then(Value::as_str).map(str::to_string) else {
            out.push(record_error(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
            ));
            continue;
        };
        let fields: Record = obj
            .iter()
            .filter(|(k, _)| *k != "attributes" && *k != "id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match org.update(&object, &id, &fields) {
            Ok(()) => out.push(json!({"id": id, "success": true, "errors": []})),
            Err((code, msg)) => out.push(record_error(&code, &msg)),
        }
    }
    Json(Value::Array(out)).into_response()
}

pub(super) async fn collections_upsert(
    State(sf): State<FakeSalesforce>,
    Path((object, field)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let records = body["records"].as_array().cloned().unwrap_or_default();
    if records.len() > 200 {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "cannot submit more than 200 records into this call",
        );
    }
    let mut org = sf.org.lock();
    let mut out = Vec::new();
    for r in records {
        let Some(key) = r.get(&field).and_then(Value::as_str).map(str::to_string) else {
            out.push(record_error(
                "MISSING_ARGUMENT",
                &format!("{field} not specified"),
            ));
            continue;
        };
        let fields: Record = r
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "attributes")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let index_key = format!("{object}.{field}={key}");
        *org.writes.entry(format!("{object}:{key}")).or_default() += 1;
        let existing = org.external_ids.get(&index_key).cloned();
        match existing {
            Some(id) => match org.update(&object, &id, &fields) {
                Ok(()) => {
                    out.push(json!({"id": id, "success": true, "errors": [], "created": false}))
                }
                Err((code, msg)) => out.push(record_error(&code, &msg)),
            },
            None => {
                if let Some(bad) = fields.keys().find(|f| org.field_type(&object, f).is_none()) {
                    out.push(record_error(
                        "INVALID_FIELD",
                        &format!("No such column '{bad}'"),
                    ));
                    continue;
                }
                let id = org.new_id("00T");
                let stamp = org.tick();
                let mut rec = fields;
                rec.insert("Id".into(), json!(id));
                rec.entry("Status").or_insert(json!("Not Started"));
                rec.insert("IsClosed".into(), json!(false));
                rec.insert("IsDeleted".into(), json!(false));
                rec.insert("SystemModstamp".into(), json!(stamp));
                org.records
                    .entry(object.clone())
                    .or_default()
                    .insert(id.clone(), rec);
                org.external_ids.insert(index_key, id.clone());
                out.push(json!({"id": id, "success": true, "errors": [], "created": true}));
            }
        }
    }
    Json(Value::Array(out)).into_response()
}
