//! An explicit column mapping — seed column → the file's header(s) — from `--map`, a
//! `--mapping` TOML file, or the one a tenant saved at its last import of the same export.
use super::columns::COLUMNS;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Seed column → the file's headers in priority order (the first non-empty cell wins, so
/// `closed_date = ["Won time", "Lost time"]` reads whichever the row has).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ColumnMapping {
    pub columns: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MappingError {
    #[error("{0:?} is not a SkyGeni column; the columns are: {known}", known = known_columns())]
    UnknownColumn(String),
    #[error("--map {0:?} is not COLUMN=HEADER (e.g. --map created_date=\"Engage Date\")")]
    BadArg(String),
    #[error("the mapping file is not valid: {0}")]
    BadFile(String),
}

fn known_columns() -> String {
    COLUMNS.map(|(c, _)| c).join(", ")
}

impl ColumnMapping {
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Adds one `column → headers` entry after checking the column is one of ours.
    pub fn insert(&mut self, column: &str, headers: Vec<String>) -> Result<(), MappingError> {
        let column = column.trim();
        if !COLUMNS.iter().any(|(c, _)| *c == column) {
            return Err(MappingError::UnknownColumn(column.to_string()));
        }
        let headers: Vec<String> = headers
            .into_iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        if headers.is_empty() {
            return Err(MappingError::BadArg(format!("{column}=")));
        }
        self.columns.insert(column.to_string(), headers);
        Ok(())
    }

    /// `--map column=header`, repeatable; a later `--map` for the same column replaces it.
    pub fn from_args(args: &[String]) -> Result<Self, MappingError> {
        let mut m = ColumnMapping::default();
        for a in args {
            let (col, header) = a
                .split_once('=')
                .ok_or_else(|| MappingError::BadArg(a.clone()))?;
            m.insert(col, vec![header.to_string()])?;
        }
        Ok(m)
    }

    /// A TOML file: `column = "Header"` or `column = ["Header A", "Header B"]`, at the top
    /// level or under `[columns]`.
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| MappingError::BadFile(e.to_string()))?;
        let table = match table.get("columns") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => table,
        };
        let mut m = ColumnMapping::default();
        for (col, v) in table {
            let headers = match v {
                toml::Value::String(s) => vec![s],
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s),
                        other => Err(MappingError::BadFile(format!(
                            "{col}: {other} is not a header name"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(MappingError::BadFile(format!(
                        "{col}: {other} is not a header name"
                    )));
                }
            };
            m.insert(&col, headers)?;
        }
        Ok(m)
    }

    /// `other`'s entries win (flags over the file, both over a remembered mapping).
    pub fn overlay(mut self, other: ColumnMapping) -> Self {
        self.columns.extend(other.columns);
        self
    }
}

/// Identifies "the same export" across imports: a hash of its header names (trimmed,
/// case-folded, sorted), so a re-ordered or re-cased export still finds its saved mapping.
pub fn header_key(header: &csv::StringRecord) -> String {
    let mut names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    names.sort();
    hex::encode(Sha256::digest(names.join("\n").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_flags_and_toml_give_the_same_mapping_and_unknown_columns_are_named() {
        let flags = ColumnMapping::from_args(&[
            "deal_id=Opportunity Number".into(),
            "created_date = Engage Date".into(),
        ])
        .unwrap();
        let file = ColumnMapping::from_toml(
            "[columns]\ndeal_id = \"Opportunity Number\"\ncreated_date = [\"Engage Date\"]\n",
        )
        .unwrap();
        assert_eq!(flags, file);
        assert_eq!(
            flags.columns["created_date"],
            vec!["Engage Date".to_string()]
        );
        let err = ColumnMapping::from_args(&["deal_idd=X".into()]).unwrap_err();
        assert!(err.to_string().contains("deal_id, created_date"), "{err}");
        assert!(matches!(
            ColumnMapping::from_args(&["deal_id".into()]),
            Err(MappingError::BadArg(_))
        ));
        assert!(matches!(
            ColumnMapping::from_toml("deal_id = 3"),
            Err(MappingError::BadFile(_))
        ));
    }

    #[test]
    fn the_header_key_ignores_order_case_and_padding() {
        let a = csv::StringRecord::from(vec!["Deal Name", "Amount "]);
        let b = csv::StringRecord::from(vec!["amount", "deal name"]);
        let c = csv::StringRecord::from(vec!["amount", "deal title"]);
        assert_eq!(header_key(&a), header_key(&b));
        assert_ne!(header_key(&a), header_key(&c));
    }
}
