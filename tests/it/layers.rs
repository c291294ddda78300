//! The house's import rules (issue 19), checked from the source so they stay true: edges and
//! workers do not import the router (`http.rs`); only the composition (`cli/`, `app.rs`)
//! imports `jobs/`, which schedules and nothing else; no edge imports another edge (`slack/` ↔
//! `api/` ↔ `crm/`); `store/` imports only `domain/`; `engine/` only `domain/`; and `service/`
//! runs the CRM sync on the `crm::CrmSource` seam, never on Salesforce's own modules. Every
//! `crate::<room>` path counts, in `use` lines and inline, grouped imports (`crate::{a, b}`)
//! included; comment lines do not.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Breaks of the rules that are known and scheduled to go (none today: `record_scores` asks
/// the `domain::AlertPlanner` its caller passes in). The test fails when one of these
/// disappears, so the list only shrinks.
const KNOWN: &[(&str, &str)] = &[];

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A source text without its comment lines.
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules a source text names through `crate::`.
fn rooms_named(text: &str) -> BTreeSet<String> {
    let code = code_of(text);
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rooms = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            rooms.insert(ident(rest));
            continue;
        };
        // `crate::{a::X, b::{c, d}}`, on one line or many: the names at depth 0 are rooms.
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, ch) in group.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    rooms.insert(ident(&group[start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    rooms.insert(ident(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    rooms.remove("");
    rooms
}

/// Why `room` may not import `target`, if it may not.
fn rule(room: &str, target: &str) -> Option<&'static str> {
    let edges = ["slack", "api", "crm"];
    if target == room {
        return None;
    }
    if ["slack", "api", "crm", "notify", "jobs"].contains(&room) && target == "http" {
        return Some("edges and jobs take the state from app.rs, not the router");
    }
    if target == "jobs" && !["cli", "main", "app"].contains(&room) {
        return Some("jobs/ only schedules: edges, notify/ and service/ call service/");
    }
    if edges.contains(&room) && edges.contains(&target) {
        return Some("an edge does not import another edge");
    }
    if room == "store" && target != "domain" {
        return Some("store/ imports only domain/");
    }
    if room == "engine" && target != "domain" {
        return Some("engine/ imports only domain/");
    }
    None
}

#[test]
fn every_room_imports_only_what_the_layering_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    let mut known_seen = BTreeSet::new();
    for path in &files {
        let rel = path
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let room = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_string();
        let text = std::fs::read_to_string(path).expect("source is readable");
        for target in rooms_named(&text) {
            let Some(why) = rule(&room, &target) else {
                continue;
            };
            if KNOWN.contains(&(rel.as_str(), target.as_str())) {
                known_seen.insert((rel.clone(), target));
                continue;
            }
            broken.push(format!("{rel} imports crate::{target}: {why}"));
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
    let gone: Vec<_> = KNOWN
        .iter()
        .filter(|(f, t)| !known_seen.contains(&(f.to_string(), t.to_string())))
        .collect();
    assert!(
        gone.is_empty(),
        "these known exceptions are fixed; remove them from KNOWN: {gone:?}"
    );
}

/// The sync pipeline in `service/` is generic over `crm::CrmSource`: what is Salesforce's
/// (its client, errors, fields) stays behind the trait, so another CRM needs no second pipeline.
#[test]
fn service_reaches_salesforce_only_through_the_crm_source_trait() {
    let service = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
    let mut files = Vec::new();
    rs_files(&service, &mut files);
    assert!(!files.is_empty(), "src/service has sources");
    let named: Vec<String> = files
        .iter()
        .filter(|p| {
            let code = code_of(&std::fs::read_to_string(p).expect("source is readable"));
            // Any mention in code, so grouped imports (`crm::{source, salesforce}`) count too.
            code.contains("salesforce")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        named.is_empty(),
        "service/ names Salesforce's modules (go through crm::CrmSource): {named:?}"
    );
}

#[test]
fn the_import_reader_sees_grouped_inline_and_skips_comments() {
    let text = "use crate::{jobs::models, http};\n// crate::slack in a comment\n\
                let x = crate::api::auth::Role::Rep;\nuse crate::{\n    notify::{a, b},\n    store,\n};\n";
    let got: Vec<String> = rooms_named(text).into_iter().collect();
    assert_eq!(got, ["api", "http", "jobs", "notify", "store"]);
    assert!(rule("store", "notify").is_some());
    assert!(rule("slack", "crm").is_some());
    assert!(rule("slack", "service").is_none());
    assert!(rule("slack", "jobs").is_some(), "no edge starts a job");
    assert!(
        rule("service", "jobs").is_some(),
        "jobs/ calls service/, not back"
    );
    assert!(
        rule("cli", "jobs").is_none(),
        "`skygeni serve` starts the scheduler"
    );
    assert!(rule("engine", "domain").is_none());
}
