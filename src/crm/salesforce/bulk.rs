//! Bulk API 2.0: query jobs for first loads and large orgs (CSV results paged by
//! `Sforce-Locator`) and update ingest jobs for large write-backs (per-record results).
use super::client::{Body, FlatRecord, SfClient, SfError};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

/// Records fetched per results page.
const RESULT_PAGE: &str = "100000";

async fn wait_for(client: &SfClient, path: &str, poll: Duration) -> Result<(), SfError> {
    // Large jobs take minutes on a real org; the caller's poll interval sets the pace.
    for _ in 0..10_000 {
        let job = client.get_json(path, &[]).await?;
        match job["state"].as_str().unwrap_or("") {
            "JobComplete" => return Ok(()),
            "Failed" | "Aborted" => {
                return Err(SfError::Other(anyhow::anyhow!(
                    "Bulk API job {path} ended {}: {}",
                    job["state"],
                    job["errorMessage"].as_str().unwrap_or("no message")
                )));
            }
            _ => tokio::time::sleep(poll).await,
        }
    }
    Err(SfError::Other(anyhow::anyhow!(
        "Bulk API job {path} did not finish"
    )))
}

fn parse_csv(text: &[u8]) -> anyhow::Result<Vec<FlatRecord>> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(text);
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
    let mut out = Vec::new();
    for row in rdr.records() {
        let row = row?;
        out.push(
            header
                .iter()
                .zip(row.iter())
                // Bulk CSV has no null: an empty cell is one.
                .map(|(h, v)| (h.clone(), (!v.is_empty()).then(|| v.to_string())))
                .collect(),
        );
    }
    Ok(out)
}

/// Run a Bulk API 2.0 query (`all` = queryAll, deleted rows included) and read every page.
pub async fn query(
    client: &SfClient,
    soql: &str,
    all: bool,
    poll: Duration,
) -> Result<Vec<FlatRecord>, SfError> {
    let jobs = client.data_path("jobs/query");
    let job = client
        .send_json(
            Method::POST,
            &jobs,
            json!({"operation": if all { "queryAll" } else { "query" }, "query": soql}),
        )
        .await?;
    let id = job["id"]
        .as_str()
        .ok_or_else(|| SfError::Other(anyhow::anyhow!("Bulk query job without id")))?
        .to_string();
    wait_for(client, &format!("{jobs}/{id}"), poll).await?;
    let mut out = Vec::new();
    let mut locator: Option<String> = None;
    loop {
        let mut q = vec![("maxRecords", RESULT_PAGE)];
        if let Some(l) = &locator {
            q.push(("locator", l.as_str()));
        }
        let resp = client
            .call(
                Method::GET,
                &format!("{jobs}/{id}/results"),
                &q,
                Body::Empty,
            )
            .await?;
        let next = resp
            .headers()
            .get("Sforce-Locator")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| SfError::Other(anyhow::anyhow!("Bulk results read failed: {e}")))?;
        out.extend(
            parse_csv(&bytes)
                .map_err(|e| SfError::Other(e.context("Bulk results are not valid CSV")))?,
        );
        match next {
            Some(l) if l != "null" && !l.is_empty() => locator = Some(l),
            _ => return Ok(out),
        }
    }
}

/// Per-record result of an ingest job: (record id, Ok or the error code and message).
pub type IngestResult = (String, Result<(), (String, String)>);

/// Update records with a Bulk API 2.0 ingest job from CSV (`Id` column first).
pub async fn update(
    client: &SfClient,
    object: &str,
    csv_body: Vec<u8>,
    poll: Duration,
) -> Result<Vec<IngestResult>, SfError> {
    let jobs = client.data_path("jobs/ingest");
    let job = client
        .send_json(
            Method::POST,
            &jobs,
            json!({"object": object, "operation": "update", "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}),
        )
        .await?;
    let id = job["id"]
        .as_str()
        .ok_or_else(|| SfError::Other(anyhow::anyhow!("Bulk ingest job without id")))?
        .to_string();
    client
        .call(
            Method::PUT,
            &format!("{jobs}/{id}/batches"),
            &[],
            Body::Csv(csv_body),
        )
        .await?;
    client
        .send_json(
            Method::PATCH,
            &format!("{jobs}/{id}"),
            json!({"state": "UploadComplete"}),
        )
        .await?;
    wait_for(client, &format!("{jobs}/{id}"), poll).await?;
    let mut out = Vec::new();
    for kind in ["successfulResults", "failedResults"] {
        let resp = client
            .call(
                Method::GET,
                &format!("{jobs}/{id}/{kind}"),
                &[],
                Body::Empty,
            )
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| SfError::Other(anyhow::anyhow!("Bulk results read failed: {e}")))?;
        for r in parse_csv(&bytes)
            .map_err(|e| SfError::Other(e.context("Bulk results are not valid CSV")))?
        {
            let rec_id = r
                .get("sf__Id")
                .cloned()
                .flatten()
                .or_else(|| r.get("Id").cloned().flatten())
                .unwrap_or_default();
            let res = match r.get("sf__Error").cloned().flatten() {
                None => Ok(()),
                // "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--"
                Some(e) => {
                    let (code, msg) = e.split_once(':').unwrap_or((e.as_str(), ""));
                    Err((code.to_string(), msg.trim_end_matches(":--").to_string()))
                }
            };
            out.push((rec_id, res));
        }
    }
    Ok(out)
}
