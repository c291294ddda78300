//! `skygeni score --csv IN --out OUT`: score a CRM export straight to a CSV, no database —
//! for analysts and batch pipelines.
//!
//! **Input** gets the importer's structural checks (empty, binary, UTF-16, not UTF-8, missing or
//! duplicate columns → one clear error, nothing written) and its row rules
//! (`crm::validate::validate_row`, the single source of truth); a rejected row writes no output
//! line but is counted in the summary's report with its line number and reason.
//!
//! **Which deals are scored:** deals that were open on `as_of` (`Deal::was_open_on`). Open deals
//! are scored at `as_of`; with a past `--as-of`, a deal that closed later is scored as it looked
//! then (a backtest). A deal already closed by `as_of` has nothing left to predict: it is valid
//! but skipped, and counted in `skipped_closed` (scoring it would use an age that runs past its
//! close and read as nonsense, e.g. a won deal flagged critical). Duplicate deal ids are scored
//! once per row: each row is scored on its own, so unlike the importer nothing is overwritten.
//!
//! **Output** columns: `deal_id,risk_score,risk_category,win_probability,factor_1,factor_2,
//! factor_3`, in input order. `risk_score` is 0–100 (`round(100 × P(lost))`), `risk_category`
//! low/medium/high/critical, `win_probability` 0–1 with 4 decimals. Each factor is
//! `code:±N.Npp`: the `FactorCode` and its impact on the **win probability** in percentage
//! points (`RiskFactor::impact_pp`; negative = costs win probability), most risk-raising first,
//! e.g. `industry:-3.2pp`. Numbers are rounded half away from zero.
//!
//! **Speed** (issue target: 100k deals file-to-file in ≤ 100 ms on 2 cores): the file is read
//! whole, split at record boundaries into ~256 KiB chunks, and each chunk is parsed, checked,
//! scored (`Scorer::score_core`, no sentences) and rendered into its own buffer on the rayon
//! pool; the buffers are written in chunk order, so output order is input order.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Serialize, Serializer};

use csv_out::write_row;
#[cfg(test)]
use csv_out::{push_fixed, write_factor, write_field};

use crate::crm::columns::{ColumnIndex, resolve};
use crate::crm::csv_import::{
    self, ReadOptions, StructuralError, field_count_detail, is_blank, raw_deal,
};
use crate::crm::mapping::ColumnMapping;
use crate::crm::report::{QualityReport, RowIssue};
use crate::crm::validate::DateRules;
use crate::crm::validate::validate_row;
use crate::domain::Deal;
use crate::engine::{Model, Scorer, SegmentStats, TrainConfig, train};

/// The output file's header line.
pub const OUTPUT_HEADER: &str =
    "deal_id,risk_score,risk_category,win_probability,factor_1,factor_2,factor_3\n";

/// Bytes per parallel chunk: big enough that per-chunk setup is noise, small enough (≈ 2,300
/// rows) that two cores stay balanced to the end.
const CHUNK_BYTES: usize = 256 * 1024;

/// What one run did. `rejections` is the importer's data-quality report (rejected rows with
/// line numbers and reasons, plus soft-rule warnings on kept rows).
#[derive(Debug, Clone, Serialize)]
pub struct ScoreFileSummary {
    /// Non-blank data rows in the file.
    pub rows_read: u64,
    /// Rows written to the output.
    pub scored: u64,
    pub rejected: u64,
    /// Valid deals already closed on `as_of`: nothing to score (see the module docs).
    pub skipped_closed: u64,
    pub rejections: QualityReport,
    pub model_version: String,
    /// True when no model was available and scores came from segment win rates alone.
    pub degraded: bool,
    /// Wall time from reading the input to the last output byte (serialised as seconds).
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// `rows_read / elapsed`: deals taken through read, check, score and write per second.
    pub deals_per_sec: f64,
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreFileError {
    /// The input is not a deal CSV at all; nothing was written.
    #[error(transparent)]
    Structural(#[from] StructuralError),
    #[error("failed to write the scored CSV: {0}")]
    Write(#[from] std::io::Error),
}

/// Scores `input` into `output`. The output appears atomically (written beside it, then
/// renamed), so a failed run never leaves a half-written file for a pipeline to pick up.
pub fn score_csv_file(
    input: &Path,
    output: &Path,
    scorer: &Scorer,
    as_of: NaiveDate,
) -> anyhow::Result<ScoreFileSummary> {
    let opts = ReadOptions::new(as_of, ColumnMapping::default());
    score_csv_file_with(input, output, scorer, &opts)
}

/// [`score_csv_file`] with a column mapping (presets are always detected); deals are scored
/// as of `opts.rules.as_of`.
pub fn score_csv_file_with(
    input: &Path,
    output: &Path,
    scorer: &Scorer,
    opts: &ReadOptions,
) -> anyhow::Result<ScoreFileSummary> {
    let started = Instant::now();
    let bytes =
        std::fs::read(input).with_context(|| format!("failed to read {}", input.display()))?;
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial: PathBuf = output.with_file_name(name);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("failed to write {}", output.display()))?;
    // Chunks are written as they are scored (in file order), into the partial file that is
    // renamed only when the whole run succeeded.
    let scored =
        score_chunks(&bytes, scorer, opts, &mut std::io::BufWriter::new(file)).and_then(|scored| {
            std::fs::rename(&partial, output)?;
            Ok(scored)
        });
    match scored {
        Ok(scored) => Ok(scored.summary(scorer, started)),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(match e {
                ScoreFileError::Structural(e) => anyhow::anyhow!("{}: {e}", input.display()),
                ScoreFileError::Write(e) => {
                    anyhow::Error::new(e).context(format!("failed to write {}", output.display()))
                }
            })
        }
    }
}

/// Scores CSV bytes into `out` (header plus one line per scored deal).
pub fn score_csv_bytes(
    input: &[u8],
    out: &mut impl Write,
    scorer: &Scorer,
    as_of: NaiveDate,
) -> Result<ScoreFileSummary, ScoreFileError> {
    let started = Instant::now();
    let opts = ReadOptions::new(as_of, ColumnMapping::default());
    // Buffered whole, so a file with a structural error writes nothing to `out`.
    let mut buf = Vec::with_capacity(input.len() + input.len() / 8);
    let scored = score_chunks(input, scorer, &opts, &mut buf)?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(scored.summary(scorer, started))
}

/// The scorer for a run: a saved model, or one trained on `history_csv` (deals closed before
/// `as_of`). Too little history for a model falls back to that history's segment win rates:
/// a warning is logged and every score is marked degraded.
pub fn scorer_for(
    model_file: Option<&Path>,
    history_csv: Option<&Path>,
    as_of: NaiveDate,
) -> anyhow::Result<Scorer> {
    scorer_with(model_file, history_csv, as_of, &ColumnMapping::default())
}

/// [`scorer_for`] reading the history with `mapping` (the same `--map` as the scored file).
pub fn scorer_with(
    model_file: Option<&Path>,
    history_csv: Option<&Path>,
    as_of: NaiveDate,
    mapping: &ColumnMapping,
) -> anyhow::Result<Scorer> {
    match (model_file, history_csv) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read the model file {}", path.display()))?;
            let model = Model::from_json(&text).with_context(|| {
                format!("{} is not a usable SkyGeni model file", path.display())
            })?;
            let stats = model.segments.clone();
            Ok(Scorer::new(Some(model), stats))
        }
        (None, Some(path)) => {
            let opts = ReadOptions::new(as_of, mapping.clone());
            let parsed = csv_import::read_csv_file_with(path, &opts)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let closed: Vec<Deal> = parsed
                .deals
                .into_iter()
                .filter(|d| d.outcome.is_some() && d.closed_date.is_some_and(|c| c < as_of))
                .collect();
            if closed.is_empty() {
                bail!(
                    "{} has no deals closed (with an outcome and a closed_date) before {as_of} \
                     to learn from",
                    path.display()
                );
            }
            let cfg = TrainConfig::default();
            let report = train(&closed, &cfg);
            match report.model {
                Some(model) => {
                    tracing::info!(history = %path.display(), "{}", report.reason);
                    let stats = model.segments.clone();
                    Ok(Scorer::new(Some(model), stats))
                }
                None => {
                    tracing::warn!(
                        history = %path.display(),
                        "{}; scores are DEGRADED (segment win rates only)",
                        report.reason
                    );
                    let stats = SegmentStats::from_closed(&closed, cfg.min_segment_deals);
                    Ok(Scorer::new(None, stats))
                }
            }
        }
        (Some(_), Some(_)) => bail!("pass either --model or --train, not both"),
        (None, None) => bail!(
            "no model to score with: pass --model FILE (a saved model JSON) or \
             --train HISTORY.csv (a CRM export with closed deals to learn from)"
        ),
    }
}

/// What a run wrote, for its summary.
struct Scored {
    report: QualityReport,
    scored: u64,
    skipped_closed: u64,
}

impl Scored {
    fn summary(self, scorer: &Scorer, started: Instant) -> ScoreFileSummary {
        let elapsed = started.elapsed();
        ScoreFileSummary {
            rows_read: self.report.rows_read,
            scored: self.scored,
            rejected: self.report.rejected,
            skipped_closed: self.skipped_closed,
            deals_per_sec: self.report.rows_read as f64 / elapsed.as_secs_f64().max(1e-9),
            rejections: self.report,
            model_version: scorer.version().to_string(),
            degraded: scorer.model().is_none(),
            elapsed,
        }
    }
}

/// One chunk's work; line numbers in `report` are relative to the chunk's first line.
#[derive(Default)]
struct ChunkResult {
    out: Vec<u8>,
    report: QualityReport,
    scored: u64,
    skipped_closed: u64,
    newlines: u64,
    syntax_error: Option<(u64, String)>,
}

fn score_chunks(
    input: &[u8],
    scorer: &Scorer,
    opts: &ReadOptions,
    out: &mut impl Write,
) -> Result<Scored, ScoreFileError> {
    let text = csv_import::decode(input)?.as_bytes();
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let header = rdr.headers().map_err(|e| csv_import::syntax(&e))?.clone();
    let idx = resolve(&header, &opts.mapping)?.index;
    let rules = opts.rules;
    let body_start = (rdr.position().byte() as usize).min(text.len());
    let chunks = split_records(&text[body_start..]);

    let mut line_base = count_newlines(&text[..body_start]);
    let mut scored = Scored {
        report: QualityReport::default(),
        scored: 0,
        skipped_closed: 0,
    };
    out.write_all(OUTPUT_HEADER.as_bytes())?;
    // The rayon pool scores chunks; this thread writes each one as soon as every chunk before
    // it is written, so writing overlaps scoring and a written chunk's buffer is freed early.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, ChunkResult)>();
    let mut failed: Option<ScoreFileError> = None;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            chunks
                .par_iter()
                .enumerate()
                .for_each_with(tx, |tx, (i, chunk)| {
                    // A send fails only when the writer stopped on an error: nothing to do.
                    let _ = tx.send((i, score_chunk(chunk, &header, &idx, scorer, rules)));
                });
        });
        let mut waiting: Vec<Option<ChunkResult>> = Vec::new();
        waiting.resize_with(chunks.len(), || None);
        let mut next = 0;
        for (i, r) in rx.iter() {
            waiting[i] = Some(r);
            while let Some(r) = waiting.get_mut(next).and_then(Option::take) {
                next += 1;
                if let Some((line, reason)) = r.syntax_error {
                    let line = line_base + line;
                    failed = Some(StructuralError::Syntax { line, reason }.into());
                    return;
                }
                scored.report.merge(r.report, line_base);
                scored.scored += r.scored;
                scored.skipped_closed += r.skipped_closed;
                line_base += r.newlines;
                if let Err(e) = out.write_all(&r.out) {
                    failed = Some(e.into());
                    return;
                }
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    out.flush()?;
    if scored.report.rows_read == 0 {
        return Err(StructuralError::NoRows.into());
    }
    Ok(scored)
}

/// Splits the body after the header into chunks that each hold whole records. Without any
/// quote character every newline ends a record; with quotes (a field may hold a newline) a
/// sequential csv pass finds the record ends, which costs a little but keeps exact CSV rules.
fn split_records(body: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(body.len() / CHUNK_BYTES + 1);
    let mut start = 0;
    if !body.contains(&b'"') {
        while body.len() - start > CHUNK_BYTES {
            let target = start + CHUNK_BYTES;
            let end = body[target..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| target + i + 1);
            chunks.push(&body[start..end]);
            start = end;
        }
    } else if body.len() > CHUNK_BYTES {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body);
        let mut rec = csv::ByteRecord::new();
        while let Ok(true) = rdr.read_byte_record(&mut rec) {
            let end = (rdr.position().byte() as usize).min(body.len());
            if end - start >= CHUNK_BYTES {
                chunks.push(&body[start..end]);
                start = end;
            }
        }
    }
    if start < body.len() || chunks.is_empty() {
        chunks.push(&body[start..]);
    }
    chunks
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Parse, check and score one chunk, mirroring `csv_import::parse_csv_bytes` row by row.
fn score_chunk(
    chunk: &[u8],
    header: &csv::StringRecord,
    idx: &ColumnIndex,
    scorer: &Scorer,
    rules: DateRules,
) -> ChunkResult {
    let as_of = rules.as_of;
    let mut res = ChunkResult {
        // Output rows run a little longer than input rows; no regrowth (copy) mid-chunk.
        out: Vec::with_capacity(chunk.len() + chunk.len() / 4),
        ..ChunkResult::default()
    };
    // Physical line numbers (what an editor shows). csv's own `Position::line` is taken before
    // skipping blank lines, so it undercounts after them; count newlines up to the record.
    let (mut counted_to, mut newlines) = (0usize, 0u64);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(chunk);
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                res.syntax_error = Some((line, e.to_string()));
                break;
            }
        }
        if is_blank(&record) {
            continue;
        }
        let from = record
            .position()
            .map_or(0, |p| p.byte() as usize)
            .min(chunk.len());
        let start = from
            + chunk[from..]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        newlines += count_newlines(&chunk[counted_to..start.max(counted_to)]);
        counted_to = start.max(counted_to);
        let line = newlines + 1;
        res.report.rows_read += 1;
        let raw = raw_deal(idx, &record);
        let issue = |detail: String| RowIssue {
            line,
            deal_id: raw.deal_id.map(|s| s.trim().to_string()),
            detail,
        };
        if record.len() != header.len() {
            let detail = field_count_detail(&record, header);
            res.report.reject("wrong_field_count", issue(detail));
            continue;
        }
        match validate_row(&raw, rules) {
            Err(rej) => res.report.reject(rej.rule, issue(rej.detail)),
            Ok((deal, notes)) => {
                res.report.accepted += 1;
                for (rule, detail) in notes {
                    res.report.warn(rule, issue(detail));
                }
                if !deal.was_open_on(as_of) {
                    res.skipped_closed += 1;
                    continue;
                }
                let core = scorer.score_core(&deal, as_of);
                write_row(&mut res.out, &deal.deal_id, &core);
                res.scored += 1;
            }
        }
    }
    res.newlines = newlines + count_newlines(&chunk[counted_to..]);
    res
}

mod csv_out;

#[cfg(test)]
mod tests;
