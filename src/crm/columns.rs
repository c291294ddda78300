//! Which file column feeds which deal field: an explicit mapping first, then a CRM preset
//! detected from the header row, then the seed spellings. Unmapped required columns are an
//! error that lists the file's headers and suggests the closest one.
use super::csv_import::StructuralError;
use super::mapping::ColumnMapping;
use super::presets::{self, same_header};

/// Seed column names and the spellings accepted for them without a preset or mapping.
pub const COLUMNS: [(&str, &[&str]); 19] = [
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
    ("owner_name", &["owner_name", "owner", "deal_owner"]),
    ("won_flag", &["won", "is_won", "iswon"]),
    ("closed_flag", &["closed", "is_closed", "isclosed"]),
];
pub const REQUIRED: [&str; 4] = ["deal_id", "created_date", "deal_stage", "deal_amount"];

/// For each seed column (in `COLUMNS` order), the file columns that feed it, in priority order.
pub type ColumnIndex = [Vec<usize>; COLUMNS.len()];

/// How a file's header was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub index: ColumnIndex,
    /// The CRM preset recognised from the header, if any.
    pub preset: Option<&'static str>,
    /// Seed column → header names actually used (what a saved mapping replays).
    pub used: ColumnMapping,
}

pub fn position(column: &str) -> Option<usize> {
    COLUMNS.iter().position(|(c, _)| *c == column)
}

fn normalise(name: &str) -> String {
    name.trim()
        .to_ascii_lowercase()
        .replace([' ', '-', '.'], "_")
}

/// Reads the header with `explicit` (may be empty) over any detected preset over the seed
/// spellings. Errors: a mapped header the file does not have, a seed column found twice,
/// required columns missing.
pub fn resolve(
    header: &csv::StringRecord,
    explicit: &ColumnMapping,
) -> Result<Resolved, StructuralError> {
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let find = |h: &str| names.iter().position(|n| same_header(n, h));
    let mut index: ColumnIndex = Default::default();
    // Columns settled by the mapping or the preset; the seed spellings only fill the rest.
    let mut settled = [false; COLUMNS.len()];
    for (column, headers) in &explicit.columns {
        let i = position(column).ok_or_else(|| StructuralError::MissingColumns {
            missing: format!("{column} (not a SkyGeni column)"),
            found: names.join(", "),
        })?;
        for h in headers {
            let at = find(h).ok_or_else(|| StructuralError::MappedHeaderMissing {
                column: column.clone(),
                header: h.clone(),
                found: names.join(", "),
                closest: closest(&names, &[h.as_str()], &[]).unwrap_or_default(),
            })?;
            index[i].push(at);
        }
        settled[i] = true;
    }
    let preset = presets::detect(names.iter().copied());
    if let Some(p) = preset {
        for (column, headers) in p.columns {
            let i = position(column).expect("presets name seed columns");
            if settled[i] {
                continue;
            }
            index[i] = headers.iter().filter_map(|h| find(h)).collect();
            settled[i] = !index[i].is_empty();
        }
    }
    for (at, name) in names.iter().enumerate() {
        let norm = normalise(name);
        let Some(i) = COLUMNS.iter().position(|(_, a)| a.contains(&norm.as_str())) else {
            continue;
        };
        if settled[i] {
            continue;
        }
        if !index[i].is_empty() {
            return Err(StructuralError::DuplicateColumn(name.to_string()));
        }
        index[i].push(at);
    }
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|c| index[position(c).expect("required columns are seed columns")].is_empty())
        .map(|c| {
            let (_, aliases) = COLUMNS[position(c).expect("seed column")];
            let used: Vec<usize> = index.iter().flatten().copied().collect();
            match closest(&names, aliases, &used) {
                Some(h) => format!("{c} (closest header: {h:?})"),
                None => c.to_string(),
            }
        })
        .collect();
    if !missing.is_empty() {
        return Err(StructuralError::MissingColumns {
            missing: missing.join(", "),
            found: names.join(", "),
        });
    }
    let mut used = ColumnMapping::default();
    for (i, cols) in index.iter().enumerate() {
        if !cols.is_empty() {
            let headers = cols.iter().map(|&c| names[c].to_string()).collect();
            used.columns.insert(COLUMNS[i].0.to_string(), headers);
        }
    }
    Ok(Resolved {
        index,
        preset: preset.map(|p| p.name),
        used,
    })
}

/// The header (not in `taken`) most like any of `targets` by Jaro-Winkler on normalised
/// names, if it is at all close (≥ 0.7: below that the "suggestion" is noise).
fn closest(names: &[&str], targets: &[&str], taken: &[usize]) -> Option<String> {
    names
        .iter()
        .enumerate()
        .filter(|(i, n)| !taken.contains(i) && !n.is_empty())
        .map(|(_, n)| {
            let score = targets
                .iter()
                .map(|t| strsim::jaro_winkler(&normalise(n), &normalise(t)))
                .fold(0.0, f64::max);
            (score, *n)
        })
        .filter(|(s, _)| *s >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(h: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(h.to_vec())
    }

    #[test]
    fn a_missing_required_column_lists_the_headers_and_suggests_the_closest() {
        let header = rec(&["deal_id", "create_dt", "deal_stage", "amount", "region"]);
        let err = resolve(&header, &ColumnMapping::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("created_date (closest header: \"create_dt\")"),
            "{text}"
        );
        assert!(
            text.contains("create_dt, deal_stage, amount, region"),
            "{text}"
        );
        assert!(text.contains("--map"), "{text}");
    }

    #[test]
    fn an_explicit_mapping_wins_and_a_mapped_header_must_exist() {
        let header = rec(&["Opp #", "Engaged", "Phase", "Value", "created_date"]);
        let m = ColumnMapping::from_args(&[
            "deal_id=Opp #".into(),
            "created_date=engaged".into(),
            "deal_stage=Phase".into(),
            "deal_amount=Value".into(),
        ])
        .unwrap();
        let r = resolve(&header, &m).unwrap();
        assert_eq!(r.index[position("created_date").unwrap()], vec![1]);
        assert_eq!(r.used.columns["deal_amount"], vec!["Value".to_string()]);
        let bad = ColumnMapping::from_args(&["deal_id=Opp No".into()]).unwrap();
        let err = resolve(&header, &bad).unwrap_err().to_string();
        assert!(
            err.contains("\"Opp No\"") && err.contains("Opp #, Engaged"),
            "{err}"
        );
    }
}
