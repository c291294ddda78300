//! Salesforce's standard picklist values (Opportunity.LeadSource, Account.Industry as a new org
//! ships them) mapped onto the segments the global model was trained on, with per-tenant
//! overrides from the field mapping (`"values": {"lead_source": {"Web": "Inbound"}}`). A value
//! that still matches no model segment is reported in the data-quality report, never silently
//! scored as an unseen segment.
use std::collections::BTreeMap;

/// Segment dimensions whose values can be mapped.
pub const DIMENSIONS: [&str; 4] = ["industry", "lead_source", "region", "product"];

/// The global model's lead-source segments.
pub const MODEL_LEAD_SOURCES: [&str; 4] = ["Inbound", "Outbound", "Referral", "Partner"];
/// The global model's industry segments.
pub const MODEL_INDUSTRIES: [&str; 5] = ["SaaS", "FinTech", "HealthTech", "EdTech", "Ecommerce"];

/// Standard LeadSource values (current default set and the older one still in many orgs).
const LEAD_SOURCES: [(&str, &str); 13] = [
    ("Web", "Inbound"),
    ("Phone Inquiry", "Inbound"),
    ("Advertisement", "Inbound"),
    ("Public Relations", "Inbound"),
    ("Seminar - Internal", "Inbound"),
    ("Partner Referral", "Partner"),
    ("Partner", "Partner"),
    ("Seminar - Partner", "Partner"),
    ("Purchased List", "Outbound"),
    ("Trade Show", "Outbound"),
    ("Employee Referral", "Referral"),
    ("External Referral", "Referral"),
    ("Word of mouth", "Referral"),
];

/// Standard Industry values that clearly belong to a model segment; the rest (Manufacturing,
/// Energy, Government, …) have no segment and are reported.
const INDUSTRIES: [(&str, &str); 8] = [
    ("Technology", "SaaS"),
    ("Banking", "FinTech"),
    ("Finance", "FinTech"),
    ("Insurance", "FinTech"),
    ("Healthcare", "HealthTech"),
    ("Biotechnology", "HealthTech"),
    ("Education", "EdTech"),
    ("Retail", "Ecommerce"),
];

/// Per-tenant overrides: dimension → org value → model value.
pub type ValueMap = BTreeMap<String, BTreeMap<String, String>>;

/// The model value for an org value: the tenant's override, else the standard mapping, else
/// the value itself (case-insensitive matches; the caller reports values left unmapped).
pub fn map_value<'a>(overrides: &'a ValueMap, dim: &str, raw: &'a str) -> &'a str {
    let t = raw.trim();
    if let Some(v) = overrides
        .get(dim)
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(t)))
    {
        return v.1.as_str();
    }
    let standard: &[(&str, &str)] = match dim {
        "lead_source" => &LEAD_SOURCES,
        "industry" => &INDUSTRIES,
        _ => &[],
    };
    standard
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(t))
        .map(|(_, v)| *v)
        .unwrap_or(raw)
}

/// The model's segments for a dimension (`None`: any value is a segment, e.g. regions).
pub fn model_segments(dim: &str) -> Option<&'static [&'static str]> {
    match dim {
        "lead_source" => Some(&MODEL_LEAD_SOURCES),
        "industry" => Some(&MODEL_INDUSTRIES),
        _ => None,
    }
}

/// Check overrides: known dimensions, non-empty values.
pub fn validate(overrides: &ValueMap) -> Result<(), String> {
    for (dim, m) in overrides {
        if !DIMENSIONS.contains(&dim.as_str()) {
            return Err(format!(
                "values: unknown dimension {dim:?} (use {})",
                DIMENSIONS.join(", ")
            ));
        }
        if m.iter()
            .any(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
        {
            return Err(format!("values.{dim}: empty org or model value"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_values_land_on_model_segments_and_overrides_win() {
        let none = ValueMap::new();
        assert_eq!(map_value(&none, "lead_source", "Web"), "Inbound");
        assert_eq!(
            map_value(&none, "lead_source", "partner referral"),
            "Partner"
        );
        assert_eq!(map_value(&none, "industry", "Technology"), "SaaS");
        assert_eq!(
            map_value(&none, "industry", "Manufacturing"),
            "Manufacturing"
        );
        let mut o = ValueMap::new();
        o.entry("lead_source".into())
            .or_default()
            .insert("Web".into(), "Outbound".into());
        assert_eq!(map_value(&o, "lead_source", "WEB"), "Outbound");
        for (_, v) in LEAD_SOURCES {
            assert!(MODEL_LEAD_SOURCES.contains(&v));
        }
        for (_, v) in INDUSTRIES {
            assert!(MODEL_INDUSTRIES.contains(&v));
        }
        assert!(validate(&o).is_ok());
        o.insert("colour".into(), BTreeMap::new());
        assert!(validate(&o).is_err());
    }
}
