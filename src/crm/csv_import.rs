//! CSV import: structural checks on the file, then the row rules of [`super::validate`].
//!
//! Structural problems (empty, binary, not UTF-8, missing required column) stop the import
//! with one clear error; row problems reject just that row, with its line number.
use super::columns::{ColumnIndex, resolve};
use super::mapping::ColumnMapping;
use super::owners::owner_of;
use super::report::{QualityReport, RowIssue};
use super::validate::{DateRules, RawDeal, validate_row};
use crate::domain::{Deal, DealOwner};
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
    #[error(
        "missing required column(s): {missing}; the file's headers: {found}. Map a header with \
         --map COLUMN=\"Header\" (repeatable) or --mapping FILE.toml"
    )]
    MissingColumns { missing: String, found: String },
    #[error(
        "the mapping names header {header:?} for {column}, but the file has no such header \
         (closest: {closest:?}); the file's headers: {found}"
    )]
    MappedHeaderMissing {
        column: String,
        header: String,
        found: String,
        closest: String,
    },
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
    /// Deal owners named in the file (owner email and/or name columns), one per user id.
    pub owners: Vec<DealOwner>,
    /// The CRM preset recognised from the header, if any.
    pub preset: Option<&'static str>,
    /// Seed column → the file's headers that were used (what a saved mapping replays).
    pub mapping: ColumnMapping,
}

/// How to read a file: the date window of the rules and an explicit column mapping.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub rules: DateRules,
    /// Empty: presets and the seed spellings alone.
    pub mapping: ColumnMapping,
}

impl ReadOptions {
    pub fn new(rules: impl Into<DateRules>, mapping: ColumnMapping) -> Self {
        ReadOptions {
            rules: rules.into(),
            mapping,
        }
    }
}

pub fn read_csv_file(path: &Path, as_of: NaiveDate) -> Result<ParsedFile, StructuralError> {
    read_csv_file_with(path, &ReadOptions::new(as_of, ColumnMapping::default()))
}

pub fn read_csv_file_with(path: &Path, opts: &ReadOptions) -> Result<ParsedFile, StructuralError> {
    let bytes = std::fs::read(path).map_err(|e| StructuralError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_csv_with(&bytes, opts)
}

/// Check the bytes, map the header, apply the rules (dated `as_of`) to every row.
pub fn parse_csv_bytes(bytes: &[u8], as_of: NaiveDate) -> Result<ParsedFile, StructuralError> {
    parse_csv_with(bytes, &ReadOptions::new(as_of, ColumnMapping::default()))
}

/// The header of a CSV (after the structural checks), for looking up a saved mapping.
pub fn read_header(bytes: &[u8]) -> Result<csv::StringRecord, StructuralError> {
    let text = decode(bytes)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    Ok(rdr.headers().map_err(|e| syntax(&e))?.clone())
}

/// Check the bytes, map the header (explicit mapping, preset, seed spellings), apply the rules.
pub fn parse_csv_with(bytes: &[u8], opts: &ReadOptions) -> Result<ParsedFile, StructuralError> {
    let text = decode(bytes)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr.headers().map_err(|e| syntax(&e))?.clone();
    let resolved = resolve(&header, &opts.mapping)?;
    let idx = resolved.index;
    let mut owners: HashMap<String, DealOwner> = HashMap::new();

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
        match validate_row(&raw, opts.rules) {
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
                if let Some(owner) = owner_of(&raw, &deal) {
                    owners.insert(owner.user_id.clone(), owner);
                }
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
    let mut owners: Vec<DealOwner> = owners.into_values().collect();
    owners.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    Ok(ParsedFile {
        deals: deals.into_iter().map(|(_, d)| d).collect(),
        report,
        owners,
        preset: resolved.preset,
        mapping: resolved.used,
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
    // `contains` on bytes is memchr; the offset is looked for only when there is one.
    if bytes.contains(&0) {
        let offset = bytes.iter().position(|&b| b == 0).unwrap_or_default();
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

/// The cells of one record by meaning (shared by every CSV reader so the mapping is one).
/// A seed column fed by several file columns takes the first non-empty cell.
pub(crate) fn raw_deal<'a>(idx: &ColumnIndex, record: &'a csv::StringRecord) -> RawDeal<'a> {
    let get = |i: usize| match idx[i].as_slice() {
        [] => None,
        [c] => record.get(*c),
        cols => cols
            .iter()
            .filter_map(|&c| record.get(c))
            .find(|v| !v.trim().is_empty()),
    };
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
        owner_name: get(16),
        won_flag: get(17),
        closed_flag: get(18),
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

/// Amounts more than 3 standard deviations from the mean are kept but flagged.
fn flag_amount_outliers(deals: &[(u64, Deal)], report: &mut QualityReport) {
    // Deals kept without an amount (stored as 0) are already flagged and would skew the mean.
    let priced = || deals.iter().filter(|(_, d)| d.amount > 0.0);
    let n = priced().count() as f64;
    if n < 3.0 {
        return;
    }
    let mean = priced().map(|(_, d)| d.amount).sum::<f64>() / n;
    let sd = (priced()
        .map(|(_, d)| (d.amount - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    if sd == 0.0 {
        return;
    }
    for (line, d) in priced() {
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
