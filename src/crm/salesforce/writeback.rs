//! Writing scores back to the Opportunity's risk fields: only deals whose written values would
//! change (a hash per deal remembers what Salesforce holds), sObject Collections PATCH in
//! chunks of 200 with `allOrNone: false`, Bulk API 2.0 above a threshold. Per-record errors are
//! told apart: transient ones (`UNABLE_TO_LOCK_ROW`, `ENTITY_IS_LOCKED`) are retried once in
//! the run and otherwise on the next run; deleted records are skipped; permanent ones
//! (validation rule, required field, bad picklist value, no access) are reported with record
//! id, status code and message and not sent again until the values change.
use super::bulk;
use super::client::{SfClient, SfError};
use crate::crm::source::{RecordError, WritebackCounts};
use crate::domain::{DealScore, RelativeRisk, TenantId};
use crate::engine::PipelineRanks;
use crate::store::{Store, WritebackOutcome};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Records per sObject Collections call (the API's maximum).
pub const COLLECTION_CHUNK: usize = 200;

/// Row-lock contention and locked records clear by themselves; anything else about a record's
/// values (validation rules, required fields, picklist values, access) does not.
pub fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "UNABLE_TO_LOCK_ROW"
            | "ENTITY_IS_LOCKED"
            | "UNKNOWN_EXCEPTION"
            | "REQUEST_RUNNING_TOO_LONG"
            | "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    )
}

/// Count a per-record error in the `skygeni_salesforce_record_errors_total` metric.
pub fn count_error(object: &'static str, code: &str, permanent: bool) {
    metrics::counter!(
        "skygeni_salesforce_record_errors_total",
        "object" => object,
        "status_code" => code.to_string(),
        "kind" => if permanent { "permanent" } else { "transient" }
    )
    .increment(1);
}

/// What we write into `Risk_Factors__c` at most (a 32,768-character Long Text Area; the
/// margin is for Salesforce's counting of line breaks).
pub const RISK_FACTORS_MAX_CHARS: usize = 32_000;

/// The six risk fields for one score (`scored_at` excluded from the change hash).
pub struct RiskFields {
    pub deal_id: String,
    pub score: u8,
    pub category: &'static str,
    pub win_pct: f64,
    pub factors: String,
    pub version: String,
}

impl RiskFields {
    /// `relative`: where the deal stands in the tenant's open pipeline; its sentence ends the
    /// `Risk_Factors__c` text and is kept whole when the factors must be cut to the field's size.
    pub fn from_score(s: &DealScore, relative: Option<&RelativeRisk>) -> RiskFields {
        let factors = s
            .risk_factors
            .iter()
            .map(|f| format!("{} ({:+.0} pp)", f.description, f.impact_pp))
            .collect::<Vec<_>>()
            .join("\n");
        let tail = relative
            .map(|r| format!("\nRelative risk: {}", r.sentence()))
            .unwrap_or_default();
        let room = RISK_FACTORS_MAX_CHARS.saturating_sub(tail.chars().count());
        let factors: String = factors.chars().take(room).chain(tail.chars()).collect();
        RiskFields {
            deal_id: s.deal_id.clone(),
            score: s.risk_score,
            category: s.risk_category.as_str(),
            win_pct: (s.win_probability * 10_000.0).round() / 100.0,
            factors,
            version: s.model_version.chars().take(80).collect(),
        }
    }

    pub fn hash(&self) -> String {
        let text = format!(
            "{}|{}|{:.2}|{}|{}",
            self.score, self.category, self.win_pct, self.factors, self.version
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..16])
    }
}

fn scored_at_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn outcome_for(code: &str, message: &str, hash: &str) -> WritebackOutcome {
    match code {
        "ENTITY_IS_DELETED" | "INVALID_CROSS_REFERENCE_KEY" => WritebackOutcome::Skipped {
            hash: hash.to_string(),
            error: format!("{code}: {message}"),
        },
        c if is_transient(c) => WritebackOutcome::Retry {
            error: format!("{code}: {message}"),
        },
        _ => WritebackOutcome::Rejected {
            hash: hash.to_string(),
            code: code.to_string(),
            message: message.to_string(),
        },
    }
}

async fn collections(
    client: &SfClient,
    fields: &[&RiskFields],
    at: &str,
) -> Result<Vec<(String, Result<(), (String, String)>)>, SfError> {
    let path = client.data_path("composite/sobjects");
    let mut out = Vec::with_capacity(fields.len());
    for chunk in fields.chunks(COLLECTION_CHUNK) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|f| {
                json!({
                    "attributes": {"type": "Opportunity"}, "id": f.deal_id,
                    "Risk_Score__c": f.score, "Risk_Category__c": f.category,
                    "Win_Probability__c": f.win_pct, "Risk_Factors__c": f.factors,
                    "Risk_Scored_At__c": at, "Risk_Model_Version__c": f.version,
                })
            })
            .collect();
        let res = client
            .send_json(
                Method::PATCH,
                &path,
                json!({"allOrNone": false, "records": records}),
            )
            .await?;
        // One result per record, in order.
        for (f, r) in chunk.iter().zip(res.as_array().into_iter().flatten()) {
            let ok = r["success"].as_bool().unwrap_or(false);
            let err = &r["errors"][0];
            out.push((
                f.deal_id.clone(),
                if ok {
                    Ok(())
                } else {
                    Err((
                        err["statusCode"].as_str().unwrap_or("UNKNOWN").to_string(),
                        err["message"].as_str().unwrap_or("").to_string(),
                    ))
                },
            ));
        }
    }
    Ok(out)
}

fn bulk_csv(fields: &[&RiskFields], at: &str) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record([
        "Id",
        "Risk_Score__c",
        "Risk_Category__c",
        "Win_Probability__c",
        "Risk_Factors__c",
        "Risk_Scored_At__c",
        "Risk_Model_Version__c",
    ])?;
    for f in fields {
        w.write_record([
            f.deal_id.as_str(),
            &f.score.to_string(),
            f.category,
            &format!("{:.2}", f.win_pct),
            &f.factors,
            at,
            &f.version,
        ])?;
    }
    Ok(w.into_inner()?)
}

/// Write changed scores back. `bulk_threshold`: above this many changed records, one Bulk
/// API 2.0 ingest job replaces the Collections calls.
#[allow(clippy::too_many_arguments)]
pub async fn write_scores(
    client: &SfClient,
    store: &Store,
    tenant: &TenantId,
    scores: &[DealScore],
    ranks: Option<&PipelineRanks>,
    now: chrono::DateTime<chrono::Utc>,
    bulk_threshold: usize,
    poll: Duration,
) -> anyhow::Result<WritebackCounts> {
    let known = store.writeback_hashes(tenant).await?;
    let mut counts = WritebackCounts::default();
    let mut changed: Vec<(RiskFields, String)> = Vec::new();
    for s in scores {
        let f = RiskFields::from_score(s, ranks.map(|r| r.of(s)).as_ref());
        let h = f.hash();
        if known.get(&f.deal_id) == Some(&h) {
            counts.unchanged += 1;
        } else {
            changed.push((f, h));
        }
    }
    if changed.is_empty() {
        return Ok(counts);
    }
    let at = scored_at_text(now);
    let refs: Vec<&RiskFields> = changed.iter().map(|(f, _)| f).collect();
    let mut results = if refs.len() > bulk_threshold {
        counts.used_bulk = true;
        bulk::update(client, "Opportunity", bulk_csv(&refs, &at)?, poll).await?
    } else {
        collections(client, &refs, &at).await?
    };
    // Row locks clear quickly: one more try in this run before leaving it for the next.
    let locked: Vec<&RiskFields> = results
        .iter()
        .filter(|(_, r)| matches!(r, Err((c, _)) if is_transient(c)))
        .filter_map(|(id, _)| refs.iter().find(|f| &f.deal_id == id).copied())
        .collect();
    if !locked.is_empty() {
        tokio::time::sleep(client.cfg.retry_base).await;
        let again = collections(client, &locked, &at).await?;
        for (id, r) in again {
            if let Some(slot) = results.iter_mut().find(|(x, _)| *x == id) {
                slot.1 = r;
            }
        }
    }
    let hash_of: std::collections::HashMap<&str, &str> = changed
        .iter()
        .map(|(f, h)| (f.deal_id.as_str(), h.as_str()))
        .collect();
    let mut outcomes = Vec::with_capacity(results.len());
    for (id, r) in results {
        let hash = hash_of.get(id.as_str()).copied().unwrap_or_default();
        let o = match r {
            Ok(()) => {
                counts.written += 1;
                WritebackOutcome::Written {
                    hash: hash.to_string(),
                }
            }
            Err((code, message)) => {
                let o = outcome_for(&code, &message, hash);
                let permanent = match &o {
                    WritebackOutcome::Skipped { .. } => {
                        counts.skipped += 1;
                        false
                    }
                    WritebackOutcome::Rejected { .. } => {
                        counts.rejected += 1;
                        true
                    }
                    _ => {
                        counts.failed += 1;
                        false
                    }
                };
                if !matches!(o, WritebackOutcome::Skipped { .. }) {
                    count_error("Opportunity", &code, permanent);
                    counts.errors.push(RecordError {
                        object: "Opportunity",
                        record_id: id.clone(),
                        status_code: code.clone(),
                        message: message.clone(),
                        permanent,
                    });
                }
                tracing::warn!(tenant = %tenant, deal = %id, %code, %message, permanent, "Salesforce write-back failed for a record");
                o
            }
        };
        outcomes.push((id, o));
    }
    store.record_writeback(tenant, now, &outcomes).await?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_score() -> DealScore {
        use crate::crm::{parse_csv_bytes, synthetic::generated_csv};
        let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let deals = parse_csv_bytes(generated_csv(300, "W").as_bytes(), as_of)
            .unwrap()
            .deals;
        let stats = crate::engine::SegmentStats::from_closed(&deals, 10);
        let open = deals.iter().find(|d| d.is_open()).unwrap();
        crate::engine::Scorer::new(None, stats).score(open, as_of)
    }

    #[test]
    fn risk_factors_text_ends_with_the_relative_risk_sentence() {
        let s = a_score();
        let r = PipelineRanks::new([0.2, 0.4, 0.6, 0.8], 0.5).of(&s);
        let f = RiskFields::from_score(&s, Some(&r));
        assert!(
            f.factors
                .ends_with(&format!("\nRelative risk: {}", r.sentence())),
            "{}",
            f.factors
        );
        assert!(f.factors.starts_with(&s.risk_factors[0].description));
        let plain = RiskFields::from_score(&s, None);
        assert!(!plain.factors.contains("Relative risk"));
        assert_ne!(
            f.hash(),
            plain.hash(),
            "the sentence is part of what is written"
        );
    }

    #[test]
    fn over_long_factors_are_cut_to_the_field_size_and_the_sentence_survives() {
        let mut s = a_score();
        let long = "x".repeat(20_000);
        for f in s.risk_factors.iter_mut() {
            f.description = long.clone();
        }
        let r = PipelineRanks::new([0.2, 0.4], 0.5).of(&s);
        let f = RiskFields::from_score(&s, Some(&r));
        assert_eq!(f.factors.chars().count(), RISK_FACTORS_MAX_CHARS);
        assert!(
            f.factors.ends_with(&r.sentence()),
            "the sentence is kept whole"
        );
    }
}
