//! Pulling from an org: the per-tenant field mapping, the SOQL we send, the schema check
//! (describe), Opportunity rows → validated domain `Deal`s (the CSV importer's rules),
//! OpportunityHistory → days in stage / close-date pushes / amount cuts, and owners → users.
use super::client::FlatRecord;
use super::picklists::map_value;
use crate::crm::QualityReport;
use crate::crm::report::RowIssue;
use crate::crm::validate::{RawDeal, validate_row};
use crate::domain::Deal;
use crate::store::SfUser;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Which Opportunity field (or `Account.` relationship field) holds each segment the model
/// uses. Stored per tenant as JSON; missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldMapping {
    pub industry: String,
    pub region: String,
    /// `None`: the org has no product field; deals are stored as "Core" (flagged).
    pub product: Option<String>,
    /// Org picklist values → model segments, per dimension, on top of the standard ones
    /// (see `picklists`), e.g. `{"lead_source": {"Other": "Inbound"}}`.
    pub values: super::picklists::ValueMap,
}

impl Default for FieldMapping {
    fn default() -> Self {
        FieldMapping {
            industry: "Account.Industry".into(),
            region: "Account.BillingCountry".into(),
            product: None,
            values: Default::default(),
        }
    }
}

impl FieldMapping {
    pub fn parse(json: &str) -> anyhow::Result<FieldMapping> {
        let m: FieldMapping =
            serde_json::from_str(if json.trim().is_empty() { "{}" } else { json })
                .map_err(|e| anyhow::anyhow!("invalid Salesforce field mapping {json:?}: {e}"))?;
        for f in [Some(&m.industry), Some(&m.region), m.product.as_ref()]
            .into_iter()
            .flatten()
        {
            if f.is_empty()
                || !f
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                anyhow::bail!("field mapping names must be API names, got {f:?}");
            }
        }
        super::picklists::validate(&m.values).map_err(|e| anyhow::anyhow!("field mapping {e}"))?;
        Ok(m)
    }
}

/// Opportunity fields the engine needs, with the describe types the code assumes.
pub const OPPORTUNITY_FIELDS: [(&str, &[&str]); 16] = [
    ("Id", &["id"]),
    ("Name", &["string"]),
    ("Account.Name", &["string"]),
    ("Amount", &["currency", "double"]),
    ("StageName", &["picklist"]),
    ("CreatedDate", &["datetime"]),
    ("CloseDate", &["date"]),
    ("IsClosed", &["boolean"]),
    ("IsWon", &["boolean"]),
    ("OwnerId", &["reference"]),
    ("LeadSource", &["picklist", "string"]),
    ("Type", &["picklist", "string"]),
    ("LastActivityDate", &["date"]),
    ("SystemModstamp", &["datetime"]),
    ("IsDeleted", &["boolean"]),
    ("AccountId", &["reference"]),
];
/// Types a mapped segment field may have (text-like).
pub const SEGMENT_TYPES: &[&str] = &["string", "picklist", "textarea", "combobox"];
pub const USER_FIELDS: [&str; 5] = ["Id", "Name", "Email", "ManagerId", "TimeZoneSidKey"];
pub const HISTORY_FIELDS: [&str; 5] = [
    "OpportunityId",
    "StageName",
    "Amount",
    "CloseDate",
    "CreatedDate",
];

/// The fields an Opportunity query selects (mapped ones appended, no duplicates).
pub fn opportunity_select(m: &FieldMapping) -> Vec<String> {
    let mut out: Vec<String> = OPPORTUNITY_FIELDS
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    for f in [Some(&m.industry), Some(&m.region), m.product.as_ref()]
        .into_iter()
        .flatten()
    {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// SOQL datetime literal (unquoted ISO-8601, UTC).
pub fn soql_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `'a', 'b'` with quotes and backslashes escaped.
pub fn soql_list(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("'{}'", i.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Salesforce datetimes (`2026-11-27T21:54:36.000+0000`) as UTC.
pub fn parse_sf_datetime(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Missing fields or changed types, each as a sentence; empty = the schema is as expected.
pub fn schema_problems(
    opportunity: &HashMap<String, String>,
    account: &HashMap<String, String>,
    m: &FieldMapping,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |field: &str, allowed: &[&str]| {
        let (object, desc, name) = match field.split_once('.') {
            Some(("Account", f)) => ("Account", account, f),
            Some((rel, _)) => {
                problems.push(format!(
                    "{field}: only Account relationship fields can be mapped, not {rel}"
                ));
                return;
            }
            None => ("Opportunity", opportunity, field),
        };
        match desc.get(name) {
            None => problems.push(format!("{object}.{name} is missing")),
            Some(t) if !allowed.contains(&t.as_str()) => problems.push(format!(
                "{object}.{name} changed type to {t} (expected {})",
                allowed.join(" or ")
            )),
            Some(_) => {}
        }
    };
    for (f, types) in OPPORTUNITY_FIELDS {
        check(f, types);
    }
    for f in [Some(&m.industry), Some(&m.region), m.product.as_ref()]
        .into_iter()
        .flatten()
    {
        check(f, SEGMENT_TYPES);
    }
    for spec in super::fields::OPPORTUNITY_RISK_FIELDS {
        let want: &[&str] = match spec.kind {
            super::FieldKind::Number { .. } => &["double", "int"],
            super::FieldKind::Picklist(_) => &["picklist"],
            super::FieldKind::Percent { .. } => &["percent"],
            super::FieldKind::LongTextArea { .. } => &["textarea"],
            super::FieldKind::DateTime => &["datetime"],
            super::FieldKind::Text { .. } | super::FieldKind::ExternalIdText { .. } => &["string"],
        };
        check(spec.api_name, want);
    }
    problems
}

/// Signals derived from an Opportunity's history snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistorySignals {
    pub stage_entered: Option<NaiveDate>,
    pub close_date_pushes: u32,
    pub amount_cut_pct: f64,
}

/// OpportunityHistory rows (any order) → per-Opportunity signals.
pub fn history_signals(rows: &[FlatRecord]) -> HashMap<String, HistorySignals> {
    let mut by_opp: HashMap<&str, Vec<&FlatRecord>> = HashMap::new();
    for r in rows {
        if let Some(Some(id)) = r.get("OpportunityId") {
            by_opp.entry(id.as_str()).or_default().push(r);
        }
    }
    let get = |r: &FlatRecord, k: &str| r.get(k).cloned().flatten();
    by_opp
        .into_iter()
        .map(|(id, mut snaps)| {
            snaps.sort_by_key(|r| get(r, "CreatedDate").and_then(|s| parse_sf_datetime(&s)));
            let mut s = HistorySignals::default();
            let mut stage: Option<String> = None;
            let mut last_close: Option<NaiveDate> = None;
            let mut first_amount: Option<f64> = None;
            let mut peak = 0.0f64;
            for r in snaps {
                let at = get(r, "CreatedDate")
                    .and_then(|s| parse_sf_datetime(&s))
                    .map(|d| d.date_naive());
                let st = get(r, "StageName");
                if st != stage {
                    s.stage_entered = at;
                    stage = st;
                }
                let close = get(r, "CloseDate")
                    .and_then(|c| NaiveDate::parse_from_str(&c, "%Y-%m-%d").ok());
                if let (Some(prev), Some(c)) = (last_close, close)
                    && c > prev
                {
                    s.close_date_pushes += 1;
                }
                last_close = close.or(last_close);
                if let Some(a) = get(r, "Amount").and_then(|a| a.parse::<f64>().ok()) {
                    let first = *first_amount.get_or_insert(a);
                    peak = peak.max(a);
                    if first > 0.0 {
                        s.amount_cut_pct = s.amount_cut_pct.max((peak - a) / first);
                    }
                }
            }
            (id.to_string(), s)
        })
        .collect()
}

/// Opportunity rows → validated deals (rejected rows land in `report`, never silently).
pub fn to_deals(
    records: &[FlatRecord],
    mapping: &FieldMapping,
    history: &HashMap<String, HistorySignals>,
    owner_emails: &HashMap<String, String>,
    as_of: NaiveDate,
    report: &mut QualityReport,
) -> Vec<Deal> {
    let mut deals = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let get = |k: &str| r.get(k).and_then(|v| v.as_deref());
        report.rows_read += 1;
        let closed = get("IsClosed") == Some("true");
        let outcome = closed.then(|| {
            if get("IsWon") == Some("true") {
                "Won"
            } else {
                "Lost"
            }
        });
        let created = get("CreatedDate").map(|c| c.get(..10).unwrap_or(c));
        let raw = RawDeal {
            deal_id: get("Id"),
            created_date: created,
            // An open deal's CloseDate is the expected close; it must not derive a cycle length.
            closed_date: if closed { get("CloseDate") } else { None },
            sales_rep_id: get("OwnerId"),
            industry: get(&mapping.industry).map(|v| map_value(&mapping.values, "industry", v)),
            region: get(&mapping.region).map(|v| map_value(&mapping.values, "region", v)),
            product_type: mapping
                .product
                .as_deref()
                .and_then(get)
                .map(|v| map_value(&mapping.values, "product", v)),
            lead_source: get("LeadSource").map(|v| map_value(&mapping.values, "lead_source", v)),
            deal_stage: get("StageName"),
            amount: get("Amount"),
            sales_cycle_days: None,
            outcome,
            company: get("Account.Name"),
            deal_name: get("Name"),
            owner_email: get("OwnerId")
                .and_then(|o| owner_emails.get(o))
                .map(String::as_str),
            last_activity_date: get("LastActivityDate"),
            ..RawDeal::default()
        };
        let line = i as u64 + 1;
        match validate_row(&raw, as_of) {
            Err(rej) => report.reject(
                rej.rule,
                RowIssue {
                    line,
                    deal_id: get("Id").map(str::to_string),
                    detail: rej.detail,
                },
            ),
            Ok((mut deal, notes)) => {
                report.accepted += 1;
                for (dim, value, field) in [
                    ("lead_source", deal.lead_source.as_str(), "LeadSource"),
                    (
                        "industry",
                        deal.industry.as_str(),
                        mapping.industry.as_str(),
                    ),
                ] {
                    if let Some(segments) = super::picklists::model_segments(dim)
                        && value != "Unknown"
                        && !segments.contains(&value)
                    {
                        report.warn(
                            "segment_value_unmapped",
                            RowIssue {
                                line,
                                deal_id: Some(deal.deal_id.clone()),
                                detail: format!(
                                    "{field} {value:?} is none of the global model's {dim} segments ({}), so it scores as unseen; map it in the field mapping's \"values\" or train a tenant model on the org's own values",
                                    segments.join(", ")
                                ),
                            },
                        );
                    }
                }
                for (rule, detail) in notes {
                    report.warn(
                        rule,
                        RowIssue {
                            line,
                            deal_id: Some(deal.deal_id.clone()),
                            detail,
                        },
                    );
                }
                if !closed {
                    deal.closed_date = get("CloseDate")
                        .and_then(|c| NaiveDate::parse_from_str(c, "%Y-%m-%d").ok());
                }
                if let Some(h) = history.get(&deal.deal_id) {
                    deal.stage_entered_date = h.stage_entered;
                    deal.close_date_pushes = Some(h.close_date_pushes);
                    deal.amount_cut_pct = Some(h.amount_cut_pct);
                }
                deals.push(deal);
            }
        }
    }
    deals
}

/// User rows → users: manager when someone's ManagerId points at them, else rep.
pub fn to_users(rows: &[FlatRecord]) -> Vec<SfUser> {
    let get = |r: &FlatRecord, k: &str| r.get(k).cloned().flatten();
    let managers: HashSet<String> = rows.iter().filter_map(|r| get(r, "ManagerId")).collect();
    rows.iter()
        .filter_map(|r| {
            let id = get(r, "Id")?;
            Some(SfUser {
                role: if managers.contains(&id) {
                    "manager"
                } else {
                    "rep"
                },
                email: get(r, "Email"),
                name: get(r, "Name"),
                manager_id: get(r, "ManagerId"),
                time_zone: get(r, "TimeZoneSidKey")
                    .filter(|tz| tz.parse::<chrono_tz::Tz>().is_ok())
                    .unwrap_or_else(|| "UTC".into()),
                user_id: id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, &str)]) -> FlatRecord {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
    }

    #[test]
    fn history_gives_days_in_stage_pushes_and_amount_cuts() {
        let rows = vec![
            rec(&[
                ("OpportunityId", "006A"),
                ("StageName", "Prospecting"),
                ("Amount", "100"),
                ("CloseDate", "2026-03-01"),
                ("CreatedDate", "2026-01-01T10:00:00.000+0000"),
            ]),
            rec(&[
                ("OpportunityId", "006A"),
                ("StageName", "Proposal"),
                ("Amount", "100"),
                ("CloseDate", "2026-04-01"),
                ("CreatedDate", "2026-02-01T10:00:00.000+0000"),
            ]),
            rec(&[
                ("OpportunityId", "006A"),
                ("StageName", "Proposal"),
                ("Amount", "70"),
                ("CloseDate", "2026-05-01"),
                ("CreatedDate", "2026-02-10T10:00:00.000+0000"),
            ]),
        ];
        let s = &history_signals(&rows)["006A"];
        assert_eq!(s.stage_entered, NaiveDate::from_ymd_opt(2026, 2, 1));
        assert_eq!(s.close_date_pushes, 2);
        assert!((s.amount_cut_pct - 0.3).abs() < 1e-9);
    }

    #[test]
    fn a_missing_field_and_a_changed_type_are_both_named() {
        let m = FieldMapping::default();
        let mut opp: HashMap<String, String> = OPPORTUNITY_FIELDS
            .iter()
            .filter(|(f, _)| !f.contains('.'))
            .map(|(f, t)| (f.to_string(), t[0].to_string()))
            .collect();
        for (f, t) in [
            ("Risk_Score__c", "double"),
            ("Risk_Category__c", "picklist"),
            ("Win_Probability__c", "percent"),
            ("Risk_Factors__c", "textarea"),
            ("Risk_Scored_At__c", "datetime"),
            ("Risk_Model_Version__c", "string"),
        ] {
            opp.insert(f.into(), t.into());
        }
        let acc: HashMap<String, String> = [
            ("Name", "string"),
            ("Industry", "picklist"),
            ("BillingCountry", "string"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert!(schema_problems(&opp, &acc, &m).is_empty());
        opp.remove("StageName");
        opp.insert("Amount".into(), "string".into());
        let p = schema_problems(&opp, &acc, &m);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("Amount changed type to string"), "{p:?}");
        assert!(p[1].contains("StageName is missing"), "{p:?}");
        assert!(
            FieldMapping::parse(r#"{"region": "Region__c"}"#)
                .unwrap()
                .region
                == "Region__c"
        );
        assert!(FieldMapping::parse(r#"{"region": "x; DELETE"}"#).is_err());
    }
}
