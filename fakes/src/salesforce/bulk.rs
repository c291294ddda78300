//! Bulk API 2.0 in the fake org: query jobs (CSV results paged by `Sforce-Locator`) and ingest
//! jobs (CSV upload, `UploadComplete`, successful/failed results with `sf__Id`/`sf__Error`).
use super::{FakeSalesforce, Record, sf_error, soql};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

pub struct QueryJob {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub polls: u32,
}

pub struct IngestJob {
    pub object: String,
    pub operation: String,
    pub state: String,
    pub data: Vec<u8>,
    pub ok: Vec<(String, Vec<String>)>,
    pub failed: Vec<(String, String, Vec<String>)>,
    pub header: Vec<String>,
}

fn csv_text(header: &[String], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(header).expect("in-memory write");
    for r in rows {
        w.write_record(&r).expect("in-memory write");
    }
    String::from_utf8(w.into_inner().expect("in-memory flush")).expect("utf-8")
}

pub async fn create_query(State(sf): State<FakeSalesforce>, Json(body): Json<Value>) -> Response {
    let all = body["operation"] == "queryAll";
    if body["operation"] != "query" && !all {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            "operation must be query or queryAll",
        );
    }
    let parsed = match soql::parse(body["query"].as_str().unwrap_or("")) {
        Ok(p) if !p.count_only => p,
        Ok(_) => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOB",
                "COUNT() is not supported in Bulk API 2.0",
            );
        }
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &e),
    };
    let mut org = sf.org.lock();
    let rows = match soql::execute(&org, &parsed, all) {
        Ok(r) => r,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &e),
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            parsed
                .fields
                .iter()
                .map(|f| soql::csv_cell(soql::value_of(&org, &parsed.object, r, f).as_ref()))
                .collect()
        })
        .collect();
    let id = org.new_id("750");
    let soql = body["query"].as_str().unwrap_or("").to_string();
    org.bulk_queries.push((soql, rows.len()));
    org.query_jobs.insert(
        id.clone(),
        QueryJob {
            header: parsed.fields.clone(),
            rows,
            polls: 0,
        },
    );
    Json(json!({"id": id, "operation": body["operation"], "object": parsed.object, "state": "UploadComplete", "contentType": "CSV", "apiVersion": 66.0})).into_response()
}

pub async fn query_status(State(sf): State<FakeSalesforce>, Path(id): Path<String>) -> Response {
    let mut org = sf.org.lock();
    let Some(job) = org.query_jobs.get_mut(&id) else {
        return sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found");
    };
    job.polls += 1;
    // The first poll sees the job still running, as a real org usually does.
    let state = if job.polls < 2 {
        "InProgress"
    } else {
        "JobComplete"
    };
    Json(json!({"id": id, "state": state, "numberRecordsProcessed": job.rows.len()}))
        .into_response()
}

pub async fn query_results(
    State(sf): State<FakeSalesforce>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let org = sf.org.lock();
    let Some(job) = org.query_jobs.get(&id) else {
        return sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found");
    };
    if job.polls < 2 {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            "job is not complete",
        );
    }
    // Locators are opaque strings Salesforce hands out; one it did not hand out is refused.
    let start: usize = match q.get("locator") {
        None => 0,
        Some(l) => match decode_locator(&id, l) {
            Some(n) if n <= job.rows.len() => n,
            _ => {
                return sf_error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDLOCATOR",
                    "Invalid locator value",
                );
            }
        },
    };
    let max: usize = q
        .get("maxRecords")
        .and_then(|m| m.parse().ok())
        .unwrap_or(50_000)
        .max(1);
    let end = (start + max).min(job.rows.len());
    let text = csv_text(&job.header, job.rows[start.min(end)..end].iter().cloned());
    let locator = if end < job.rows.len() {
        encode_locator(&id, end)
    } else {
        "null".into()
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv".to_string()),
            (header::HeaderName::from_static("sforce-locator"), locator),
            (
                header::HeaderName::from_static("sforce-numberofrecords"),
                (end - start.min(end)).to_string(),
            ),
        ],
        text,
    )
        .into_response()
}

/// An opaque locator for row `n` of job `id` (base64 of both, like the API's short tokens).
fn encode_locator(id: &str, n: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id}:{n}"))
}

fn decode_locator(id: &str, l: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(l)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (job, n) = text.split_once(':')?;
    (job == id).then(|| n.parse().ok()).flatten()
}

pub async fn create_ingest(State(sf): State<FakeSalesforce>, Json(body): Json<Value>) -> Response {
    let object = body["object"].as_str().unwrap_or("").to_string();
    let operation = body["operation"].as_str().unwrap_or("").to_string();
    let mut org = sf.org.lock();
    if !org.schema.contains_key(&object) || operation != "update" {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            "the fake supports update jobs on known objects",
        );
    }
    let id = org.new_id("750");
    org.ingest_jobs.insert(
        id.clone(),
        IngestJob {
            object: object.clone(),
            operation: operation.clone(),
            state: "Open".into(),
            data: Vec::new(),
            ok: Vec::new(),
            failed: Vec::new(),
            header: Vec::new(),
        },
    );
    Json(json!({"id": id, "object": object, "operation": operation, "state": "Open", "contentType": "CSV"})).into_response()
}

pub async fn upload_ingest(
    State(sf): State<FakeSalesforce>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut org = sf.org.lock();
    match org.ingest_jobs.get_mut(&id) {
        Some(job) if job.state == "Open" => {
            job.data.extend_from_slice(&body);
            StatusCode::CREATED.into_response()
        }
        Some(_) => sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            "job is not open",
        ),
        None => sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found"),
    }
}

/// Typed JSON value for a CSV cell, by the field's describe type (`#N/A` nulls a field).
fn typed(kind: Option<&str>, cell: &str) -> Value {
    if cell.is_empty() || cell == "#N/A" {
        return Value::Null;
    }
    match kind {
        Some("double" | "percent" | "currency" | "int") => {
            cell.parse::<f64>().map(|n| json!(n)).unwrap_or(json!(cell))
        }
        Some("boolean") => json!(cell == "true"),
        _ => json!(cell),
    }
}

pub async fn close_ingest(
    State(sf): State<FakeSalesforce>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut guard = sf.org.lock();
    let org = &mut *guard;
    let Some(mut job) = org.ingest_jobs.remove(&id) else {
        return sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found");
    };
    if body["state"] == "Aborted" {
        job.state = "Aborted".into();
    } else if body["state"] == "UploadComplete" && job.state == "Open" {
        let mut rdr = csv::ReaderBuilder::new().from_reader(job.data.as_slice());
        job.header = rdr
            .headers()
            .map(|h| h.iter().map(str::to_string).collect())
            .unwrap_or_default();
        let id_col = job.header.iter().position(|h| h == "Id");
        for row in rdr.records().flatten() {
            let cells: Vec<String> = row.iter().map(str::to_string).collect();
            let Some(rec_id) = id_col.and_then(|c| cells.get(c)).cloned() else {
                job.failed.push((
                    String::new(),
                    "MISSING_ARGUMENT:Id not specified in an update call:--".into(),
                    cells,
                ));
                continue;
            };
            let fields: Record = job
                .header
                .iter()
                .zip(&cells)
                .filter(|(h, _)| *h != "Id")
                .map(|(h, c)| (h.clone(), typed(org.field_type(&job.object, h), c)))
                .collect();
            match org.update(&job.object, &rec_id, &fields) {
                Ok(()) => job.ok.push((rec_id, cells)),
                Err((code, msg)) => job.failed.push((rec_id, format!("{code}:{msg}:--"), cells)),
            }
        }
        job.state = "JobComplete".into();
    } else {
        org.ingest_jobs.insert(id, job);
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            "invalid state change",
        );
    }
    let resp =
        json!({"id": id, "state": job.state, "object": job.object, "operation": job.operation});
    org.ingest_jobs.insert(id, job);
    Json(resp).into_response()
}

pub async fn ingest_status(State(sf): State<FakeSalesforce>, Path(id): Path<String>) -> Response {
    let org = sf.org.lock();
    let Some(job) = org.ingest_jobs.get(&id) else {
        return sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found");
    };
    Json(json!({
        "id": id, "state": job.state, "object": job.object, "operation": job.operation,
        "numberRecordsProcessed": job.ok.len() + job.failed.len(), "numberRecordsFailed": job.failed.len(),
    }))
    .into_response()
}

pub async fn ingest_results(
    State(sf): State<FakeSalesforce>,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    let org = sf.org.lock();
    let Some(job) = org.ingest_jobs.get(&id) else {
        return sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found");
    };
    let text = match kind.as_str() {
        "successfulResults" => {
            let header: Vec<String> = ["sf__Id".to_string(), "sf__Created".to_string()]
                .into_iter()
                .chain(job.header.clone())
                .collect();
            csv_text(
                &header,
                job.ok.iter().map(|(id, cells)| {
                    [id.clone(), "false".into()]
                        .into_iter()
                        .chain(cells.clone())
                        .collect()
                }),
            )
        }
        "failedResults" => {
            let header: Vec<String> = ["sf__Id".to_string(), "sf__Error".to_string()]
                .into_iter()
                .chain(job.header.clone())
                .collect();
            csv_text(
                &header,
                job.failed.iter().map(|(id, e, cells)| {
                    [id.clone(), e.clone()]
                        .into_iter()
                        .chain(cells.clone())
                        .collect()
                }),
            )
        }
        "unprocessedrecords" => csv_text(&job.header, std::iter::empty()),
        _ => return sf_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such result set"),
    };
    ([(header::CONTENT_TYPE, "text/csv")], text).into_response()
}
