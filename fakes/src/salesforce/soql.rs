//! Just enough SOQL for what SkyGeni sends: `SELECT f, Rel.f | COUNT() FROM Obj [WHERE c AND c …]
//! [ORDER BY …] [LIMIT n]` with conditions `F = v`, `F != v`, `F > v`, `F >= v`, `F < v`,
//! `F IN (v, …)`; values are quoted strings, numbers, booleans, `null` or unquoted datetimes;
//! `Opportunity.X` on OpportunityHistory reads the parent Opportunity.
use super::{Org, Record};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
pub struct Soql {
    pub fields: Vec<String>,
    pub count_only: bool,
    pub object: String,
    pub conds: Vec<(String, String, Vec<String>)>,
    pub limit: Option<usize>,
    pub order_by_modstamp: bool,
}

fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let mut lit = String::from("'");
                while let Some(n) = chars.next() {
                    if n == '\\' {
                        if let Some(e) = chars.next() {
                            lit.push(e);
                        }
                        continue;
                    }
                    lit.push(n);
                    if n == '\'' {
                        break;
                    }
                }
                out.push(lit);
            }
            ' ' | '\n' | '\t' | ',' | '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if matches!(c, '(' | ')') {
                    out.push(c.to_string());
                }
            }
            '>' | '<' | '=' | '!' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                let mut op = c.to_string();
                if chars.peek() == Some(&'=') {
                    op.push('=');
                    chars.next();
                }
                out.push(op);
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn parse(text: &str) -> Result<Soql, String> {
    let t = tokens(text);
    let up = |i: usize| t.get(i).map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    if up(0) != "SELECT" {
        return Err("unexpected token: query must start with SELECT".into());
    }
    let from = (0..t.len())
        .find(|&i| up(i) == "FROM")
        .ok_or("missing FROM")?;
    let mut fields: Vec<String> = t[1..from]
        .iter()
        .filter(|s| *s != "(" && *s != ")")
        .cloned()
        .collect();
    let count_only = fields.len() == 1 && fields[0].eq_ignore_ascii_case("COUNT");
    if count_only {
        fields.clear();
    } else if fields.is_empty() {
        return Err("no fields selected".into());
    }
    let object = t.get(from + 1).cloned().ok_or("missing object")?;
    let mut i = from + 2;
    let mut conds = Vec::new();
    let mut limit = None;
    let mut order_by_modstamp = false;
    while i < t.len() {
        match up(i).as_str() {
            "WHERE" | "AND" => {
                let field = t.get(i + 1).cloned().ok_or("missing field")?;
                let op = up(i + 2);
                if op == "IN" {
                    if t.get(i + 3).map(String::as_str) != Some("(") {
                        return Err("IN needs a list".into());
                    }
                    let mut j = i + 4;
                    let mut vals = Vec::new();
                    while j < t.len() && t[j] != ")" {
                        vals.push(t[j].clone());
                        j += 1;
                    }
                    conds.push((field, op, vals));
                    i = j + 1;
                } else {
                    let v = t.get(i + 3).cloned().ok_or("missing value")?;
                    conds.push((field, op, vec![v]));
                    i += 4;
                }
            }
            "ORDER" => {
                order_by_modstamp = up(i + 2) == "SYSTEMMODSTAMP";
                i += 3;
                while i < t.len() && !matches!(up(i).as_str(), "LIMIT") {
                    i += 1;
                }
            }
            "LIMIT" => {
                limit = Some(
                    t.get(i + 1)
                        .and_then(|v| v.parse().ok())
                        .ok_or("bad LIMIT")?,
                );
                i += 2;
            }
            other => return Err(format!("unexpected token: {other}")),
        }
    }
    Ok(Soql {
        fields,
        count_only,
        object,
        conds,
        limit,
        order_by_modstamp,
    })
}

fn literal(v: &str) -> Value {
    if let Some(s) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return json!(s);
    }
    match v.to_ascii_lowercase().as_str() {
        "true" => return json!(true),
        "false" => return json!(false),
        "null" => return Value::Null,
        _ => {}
    }
    v.parse::<f64>()
        .map(|n| json!(n))
        .unwrap_or_else(|_| json!(v))
}

fn as_time(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let s = v.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    if let (Some(x), Some(y)) = (as_time(a), as_time(b)) {
        return Some(x.cmp(&y));
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

/// A field of a record; `Opportunity.X` on a child row (OpportunityHistory) is read from its
/// parent Opportunity, other relationship fields are stored flat on the record.
pub fn value_of(org: &Org, object: &str, r: &Record, f: &str) -> Option<Value> {
    if object != "Opportunity"
        && let Some(field) = f.strip_prefix("Opportunity.")
    {
        let parent = r.get("OpportunityId")?.as_str()?;
        return org
            .records
            .get("Opportunity")?
            .get(parent)?
            .get(field)
            .cloned();
    }
    r.get(f).cloned()
}

/// Matching records (soft-deleted ones only when `all`), or an INVALID_FIELD message.
pub fn execute(org: &Org, q: &Soql, all: bool) -> Result<Vec<Record>, String> {
    if !org.schema.contains_key(&q.object) {
        return Err(format!("sObject type '{}' is not supported.", q.object));
    }
    for f in q.fields.iter().chain(q.conds.iter().map(|c| &c.0)) {
        if org.field_type(&q.object, f).is_none() {
            return Err(format!("No such column '{f}' on entity '{}'.", q.object));
        }
    }
    let empty = Default::default();
    let recs = org.records.get(&q.object).unwrap_or(&empty);
    let mut out: Vec<Record> = recs
        .values()
        .filter(|r| all || r.get("IsDeleted") != Some(&Value::Bool(true)))
        .filter(|r| {
            q.conds.iter().all(|(f, op, vals)| {
                let have = value_of(org, &q.object, r, f).unwrap_or(Value::Null);
                let want: Vec<Value> = vals.iter().map(|v| literal(v)).collect();
                use std::cmp::Ordering::*;
                match op.as_str() {
                    "IN" => want.iter().any(|w| compare(&have, w) == Some(Equal)),
                    "=" => compare(&have, &want[0]) == Some(Equal),
                    "!=" => compare(&have, &want[0]) != Some(Equal),
                    ">" => compare(&have, &want[0]) == Some(Greater),
                    ">=" => matches!(compare(&have, &want[0]), Some(Greater | Equal)),
                    "<" => compare(&have, &want[0]) == Some(Less),
                    _ => false,
                }
            })
        })
        .cloned()
        .collect();
    if q.order_by_modstamp {
        out.sort_by(|a, b| {
            compare(&a["SystemModstamp"], &b["SystemModstamp"])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a["Id"].as_str().cmp(&b["Id"].as_str()))
        });
    }
    if let Some(n) = q.limit {
        out.truncate(n);
    }
    Ok(out)
}

/// A record as the REST API returns it: `attributes`, selected fields, relationships nested.
pub fn to_json(q: &Soql, r: &Record) -> Value {
    let id = r.get("Id").and_then(Value::as_str).unwrap_or("");
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        json!({"type": q.object, "url": format!("/services/data/{}/sobjects/{}/{id}", super::API_VERSION, q.object)}),
    );
    for f in &q.fields {
        let v = r.get(f).cloned().unwrap_or(Value::Null);
        match f.split_once('.') {
            Some((rel, field)) => {
                let entry = m
                    .entry(rel.to_string())
                    .or_insert_with(|| json!({"attributes": {"type": rel}}));
                if let Some(o) = entry.as_object_mut() {
                    o.insert(field.to_string(), v);
                }
            }
            None => {
                m.insert(f.clone(), v);
            }
        }
    }
    Value::Object(m)
}

/// A value as a Bulk API CSV cell (empty = null).
pub fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}
