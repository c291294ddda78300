//! CSV import: structural checks on the file, then the row rules of [`super::validate`].
//!
//! Structural problems (empty, binary, not UTF-8, missing required column) stop the import
//! with one clear error; row problems reject just that row, with its line number.
use super::report::{QualityReport, RowIssue};
use super::validate::{RawDeal, validate_row};
use crate::domain::Deal;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::path::Path;

/// Why a file could not be read as a deal CSV at all.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StructuralError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("the file is empty")]
    Empty,
    #[error("this looks like a binary file, not a CSV (NUL byte at byte offset {offset})")]
    Binary { offset: usize },
    #[error("the file is UTF-16 encoded; save it as UTF-8 CSV and try again")]
    Utf16,
    #[error(
        "the file is not valid UTF-8 (first bad byte at offset {offset}); save it as UTF-8 CSV"
    )]
    NotUtf8 { offset: usize },
    #[error("missing required column(s): {missing}; found: {found}")]
    MissingColumns { missing: String, found: String },
    #[error("column {0:?} appears twice in the header")]
    DuplicateColumn(String),
    #[error("the file has a header but no data rows")]
    NoRows,
    #[error("CSV syntax error at line {line}: {reason}")]
    Syntax { line: u64, reason: String },
}

/// The deals a file holds after the rules, and the report of what was rejected or flagged.
#[derive(Debug)]
pub struct ParsedFile {
    pub deals: Vec<Deal>,
    pub report: QualityReport,
}

/// Seed column names and the CRM spellings accepted for them.
const COLUMNS: [(&str, &[&str]); 16] = [
    ("deal_id", &["deal_id", "id", "opportunity_id"]),
    ("created_date", &["created_date", "createddate", "created"]),
    ("closed_date", &["closed_date", "close_date", "closedate"]),
    (
        "sales_rep_id",
        &["sales_rep_id", "owner_id", "ownerid", "sales_rep"],
    ),
    ("industry", &["industry"]),
    ("region", &["region"]),
    ("product_type", &["product_type", "product"]),
    ("lead_source", &["lead_source", "leadsource"]),
    (
        "deal_stage",
        &["deal_stage", "stage", "stagename", "stage_name"],
    ),
    ("deal_amount", &["deal_amount", "amount"]),
    ("sales_cycle_days", &["sales_cycle_days"]),
    ("outcome", &["outcome"]),
    ("company", &["company", "account", "account_name"]),
    ("deal_name", &["deal_name", "name", "opportunity_name"]),
    ("owner_email", &["owner_email", "email"]),
    (
        "last_activity_date",
        &["last_activity_date", "lastactivitydate"],
    ),
];
const REQUIRED: [&str; 4] = ["deal_id", "created_date", "deal_stage", "deal_amount"];

pub fn read_csv_file(path: &Path, as_of: NaiveDate) -> Result<ParsedFile, StructuralError> {
    let bytes = std::fs::read(path).map_err(|e| StructuralError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_csv_bytes(&bytes, as_of)
}

/// Check the bytes, map the header, apply the rules to every row.
pub fn parse_csv_bytes(bytes: &[u8], as_of: NaiveDate) -> Result<ParsedFile, StructuralError> {
    let text = decode(bytes)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr.headers().map_err(|e| syntax(&e))?.clone();
    let idx = column_index(&header)?;

    let mut report = QualityReport::default();
    let mut deals = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut lines = PhysicalLines::new(text.as_bytes());
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(syntax(&e)),
        }
        // The line an editor shows: csv's own count skips blank lines.
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if is_blank(&record) {
            continue;
        }
        report.rows_read += 1;
        let raw = raw_deal(&idx, &record);
        let issue = |detail: String| RowIssue {
            line,
            deal_id: raw.deal_id.map(|s| s.trim().to_string()),
            detail,
        };
        if record.len() != header.len() {
            report.reject(
                "wrong_field_count",
                issue(field_count_detail(&record, &header)),
            );
            continue;
        }
        match validate_row(&raw, as_of) {
            Err(rej) => report.reject(rej.rule, issue(rej.detail)),
            Ok((deal, notes)) => {
                if let Some(first) = seen.get(&deal.deal_id) {
                    report.reject(
                        "duplicate_deal_id",
                        issue(format!("deal_id already on line {first}")),
                    );
                    continue;
                }
                seen.insert(deal.deal_id.clone(), line);
                for (rule, detail) in notes {
                    report.warn(rule, issue(detail));
                }
                deals.push((line, deal));
            }
        }
    }
    if report.rows_read == 0 {
        return Err(StructuralError::NoRows);
    }
    flag_amount_outliers(&deals, &mut report);
    report.accepted = deals.len() as u64;
    Ok(ParsedFile {
        deals: deals.into_iter().map(|(_, d)| d).collect(),
        report,
    })
}

/// The structural checks on raw bytes (empty, UTF-16, binary, not UTF-8); strips a BOM.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, StructuralError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(StructuralError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(StructuralError::Utf16);
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(StructuralError::Binary { offset });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| StructuralError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

pub(crate) fn syntax(e: &csv::Error) -> StructuralError {
    let line = e.position().map_or(0, |p| p.line());
    StructuralError::Syntax {
        line,
        reason: e.to_string(),
    }
}

/// For each seed column (in `COLUMNS` order), its position in the file, if present.
pub(crate) type ColumnIndex = [Option<usize>; COLUMNS.len()];

/// Maps the header onto the seed columns; missing required or duplicate columns are errors.
pub(crate) fn column_index(header: &csv::StringRecord) -> Result<ColumnIndex, StructuralError> {
    let index = map_header(header)?;
    Ok(COLUMNS.map(|(name, _)| index.get(name).copied()))
}

/// The cells of one record by meaning (shared by every CSV reader so the mapping is one).
pub(crate) fn raw_deal<'a>(idx: &ColumnIndex, record: &'a csv::StringRecord) -> RawDeal<'a> {
    let get = |i: usize| idx[i].and_then(|c| record.get(c));
    RawDeal {
        deal_id: get(0),
        created_date: get(1),
        closed_date: get(2),
        sales_rep_id: get(3),
        industry: get(4),
        region: get(5),
        product_type: get(6),
        lead_source: get(7),
        deal_stage: get(8),
        amount: get(9),
        sales_cycle_days: get(10),
        outcome: get(11),
        company: get(12),
        deal_name: get(13),
        owner_email: get(14),
        last_activity_date: get(15),
    }
}

/// Maps byte offsets (visited in increasing order) to 1-based physical line numbers,
/// counting newlines incrementally so the whole file is scanned once.
struct PhysicalLines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> PhysicalLines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        PhysicalLines {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// `byte` is where csv started reading the record, which is before any blank lines it
    /// skipped; the record itself starts after them.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut end = (byte as usize).min(self.bytes.len());
        while end < self.bytes.len() && matches!(self.bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        if end > self.offset {
            self.line += self.bytes[self.offset..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = end;
        }
        self.line
    }
}

/// Blank lines in spreadsheet exports (`,,,,`) are noise, not rows: skipped, not counted.
pub(crate) fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|c| c.trim().is_empty())
}

/// The `wrong_field_count` rejection's sentence.
pub(crate) fn field_count_detail(record: &csv::StringRecord, header: &csv::StringRecord) -> String {
    format!("{} fields, the header has {}", record.len(), header.len())
}

/// Header names → seed column names, via the accepted spellings.
fn map_header(header: &csv::StringRecord) -> Result<HashMap<&'static str, usize>, StructuralError> {
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let norm = name
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-', '.'], "_");
        let canon = COLUMNS
            .iter()
            .find(|(_, aliases)| aliases.contains(&norm.as_str()));
        if let Some((canon, _)) = canon
            && index.insert(*canon, i).is_some()
        {
            return Err(StructuralError::DuplicateColumn(name.trim().to_string()));
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| !index.contains_key(c))
        .collect();
    if !missing.is_empty() {
        let found: Vec<&str> = header.iter().map(str::trim).collect();
        return Err(StructuralError::MissingColumns {
            missing: missing.join(", "),
            found: found.join(", "),
        });
    }
    Ok(index)
}

/// Amounts more than 3 standard deviations from the mean are kept but flagged.
fn flag_amount_outliers(deals: &[(u64, Deal)], report: &mut QualityReport) {
    let n = deals.len() as f64;
    if n < 3.0 {
        return;
    }
    let mean = deals.iter().map(|(_, d)| d.amount).sum::<f64>() / n;
    let sd = (deals
        .iter()
        .map(|(_, d)| (d.amount - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    if sd == 0.0 {
        return;
    }
    for (line, d) in deals {
        let z = (d.amount - mean) / sd;
        if z.abs() > 3.0 {
            let detail = format!(
                "amount {} is {z:.1} standard deviations from the mean {mean:.0}",
                d.amount
            );
            report.warn(
                "amount_outlier",
                RowIssue {
                    line: *line,
                    deal_id: Some(d.deal_id.clone()),
                    detail,
                },
            );
        }
    }
}
