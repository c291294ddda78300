//! The data-quality report: per rule, how many rows and a few example rows.
use serde::Serialize;
use std::collections::BTreeMap;

/// Example rows kept per rule: enough to find the problem, small enough to print.
const MAX_EXAMPLES: usize = 5;

/// One row that broke (or tripped) a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowIssue {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub deal_id: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleCount {
    pub count: u64,
    pub examples: Vec<RowIssue>,
}

/// Outcome of checking one file. `rejected` rules dropped the row; `warnings` kept it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualityReport {
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rejections: BTreeMap<&'static str, RuleCount>,
    pub warnings: BTreeMap<&'static str, RuleCount>,
}

impl QualityReport {
    pub fn reject(&mut self, rule: &'static str, issue: RowIssue) {
        self.rejected += 1;
        push(self.rejections.entry(rule).or_default(), issue);
    }

    pub fn warn(&mut self, rule: &'static str, issue: RowIssue) {
        push(self.warnings.entry(rule).or_default(), issue);
    }

    /// Adds a report of a later part of the same file (parallel readers check a file in
    /// chunks); `line_offset` turns the part's line numbers into the file's. Merging parts in
    /// file order keeps the examples the first ones in the file.
    pub fn merge(&mut self, part: QualityReport, line_offset: u64) {
        self.rows_read += part.rows_read;
        self.accepted += part.accepted;
        self.rejected += part.rejected;
        for (mine, theirs) in [
            (&mut self.rejections, part.rejections),
            (&mut self.warnings, part.warnings),
        ] {
            for (rule, rc) in theirs {
                let into = mine.entry(rule).or_default();
                into.count += rc.count;
                let room = MAX_EXAMPLES.saturating_sub(into.examples.len());
                into.examples
                    .extend(rc.examples.into_iter().take(room).map(|mut ex| {
                        ex.line += line_offset;
                        ex
                    }));
            }
        }
    }

    /// Human-readable text for the terminal.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "Data quality: {} rows read, {} accepted, {} rejected\n",
            self.rows_read, self.accepted, self.rejected
        );
        for (title, rules) in [
            ("Rejected", &self.rejections),
            ("Warnings (rows kept)", &self.warnings),
        ] {
            if rules.is_empty() {
                continue;
            }
            out.push_str(&format!("{title}:\n"));
            for (rule, rc) in rules {
                out.push_str(&format!("  {rule}: {} row(s)\n", rc.count));
                for ex in &rc.examples {
                    let id = ex.deal_id.as_deref().unwrap_or("-");
                    out.push_str(&format!("    line {} ({id}): {}\n", ex.line, ex.detail));
                }
            }
        }
        out
    }
}

fn push(rc: &mut RuleCount, issue: RowIssue) {
    rc.count += 1;
    if rc.examples.len() < MAX_EXAMPLES {
        rc.examples.push(issue);
    }
}
