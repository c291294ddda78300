//! The lifecycle part of `skygeni model list`: retrain decisions (why a version is in
//! staging) and the daily calibration checks (and any automatic rollback).
use crate::service::lifecycle::LifecycleHistory;
use serde_json::Value;

/// Attach each version's latest retrain decision to its entry of `model list --json`.
pub fn annotate(models: &mut Value, l: &LifecycleHistory) {
    for m in models.as_array_mut().into_iter().flatten() {
        let version = m["version"].as_str().unwrap_or_default().to_string();
        let eval = l.evaluations.iter().find(|e| e.version == version);
        m["evaluation"] = serde_json::to_value(eval).unwrap_or(Value::Null);
    }
}

pub fn text(l: &LifecycleHistory) -> String {
    let mut out = String::new();
    if !l.evaluations.is_empty() {
        out.push_str("\nMonthly retrain decisions (newest first):\n");
        for e in &l.evaluations {
            out.push_str(&format!(
                "  {}  {:<48} {:<15} {}\n",
                &e.evaluated_at[..10.min(e.evaluated_at.len())],
                e.version,
                e.decision.replace('_', " "),
                e.reason
            ));
        }
    }
    if !l.calibration_checks.is_empty() {
        out.push_str(
            "\nDaily calibration checks (newest first; > 10 % three days running rolls back):\n",
        );
        for c in &l.calibration_checks {
            out.push_str(&format!(
                "  {}  {:<48} {:>4} deals  {:>7}  {}{}\n",
                c.checked_on,
                c.model_version.as_deref().unwrap_or("-"),
                c.deals,
                c.calibration_error
                    .map_or("no verdict".to_string(), |e| format!("{:.1} %", e * 100.0)),
                if c.breached { "BAD" } else { "ok" },
                match (&c.rolled_back_from, &c.rolled_back_to) {
                    (Some(f), Some(t)) => format!("  rolled back {f} → {t}"),
                    _ => String::new(),
                }
            ));
        }
    }
    out
}
