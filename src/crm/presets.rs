//! CRM export presets: the column names Salesforce, HubSpot and Pipedrive put in their deal
//! exports, detected from the header row so those files import with no flags.
//!
//! Names come from each CRM's documented export: the Salesforce "Opportunities" report, the
//! HubSpot deals export ("Export view"), and the Pipedrive deals export ("Deal - " prefixed).

/// One preset: how to recognise it and which of its headers feed which seed column.
#[derive(Debug)]
pub struct Preset {
    /// Stable name shown to the user and stored with a remembered mapping.
    pub name: &'static str,
    /// Every one of these headers must be present for the preset to apply.
    pub signature: &'static [&'static str],
    /// (seed column, the export's headers in priority order: the first non-empty cell wins).
    pub columns: &'static [(&'static str, &'static [&'static str])],
}

pub const SALESFORCE: Preset = Preset {
    name: "salesforce_opportunity_report",
    signature: &["Opportunity Name", "Stage"],
    columns: &[
        ("deal_id", &["Opportunity ID", "Opportunity ID (18)"]),
        ("deal_name", &["Opportunity Name"]),
        ("company", &["Account Name"]),
        ("deal_amount", &["Amount"]),
        ("deal_stage", &["Stage"]),
        ("closed_date", &["Close Date"]),
        ("created_date", &["Created Date"]),
        ("lead_source", &["Lead Source"]),
        ("industry", &["Industry"]),
        ("owner_name", &["Opportunity Owner"]),
        ("owner_email", &["Opportunity Owner Email", "Owner Email"]),
        ("won_flag", &["Won"]),
        ("closed_flag", &["Closed"]),
        ("region", &["Billing Country", "Region"]),
        ("product_type", &["Product Name", "Product Family"]),
        ("last_activity_date", &["Last Activity"]),
    ],
};

pub const HUBSPOT: Preset = Preset {
    name: "hubspot_deals_export",
    signature: &["Deal Name", "Deal Stage"],
    columns: &[
        ("deal_id", &["Record ID", "Deal ID"]),
        ("deal_name", &["Deal Name"]),
        ("deal_amount", &["Amount"]),
        ("deal_stage", &["Deal Stage"]),
        ("created_date", &["Create Date"]),
        ("closed_date", &["Close Date"]),
        ("owner_name", &["Deal owner", "Deal Owner"]),
        ("company", &["Associated Company", "Company name"]),
        ("lead_source", &["Original Source Type", "Original Source"]),
        // HubSpot exports carry no region; the pipeline is the segment they do carry.
        ("region", &["Pipeline"]),
        ("last_activity_date", &["Last Activity Date"]),
    ],
};

pub const PIPEDRIVE: Preset = Preset {
    name: "pipedrive_deals_export",
    signature: &["Deal - Title", "Deal - Status"],
    columns: &[
        ("deal_id", &["Deal - ID"]),
        ("deal_name", &["Deal - Title"]),
        ("deal_amount", &["Deal - Value"]),
        // Older exports have no stage column; the status (open/won/lost) then stands in.
        ("deal_stage", &["Deal - Stage", "Deal - Status"]),
        ("outcome", &["Deal - Status"]),
        ("created_date", &["Deal - Deal created"]),
        // A closed deal carries exactly one of the two; an open one its expected close date.
        (
            "closed_date",
            &[
                "Deal - Won time",
                "Deal - Lost time",
                "Deal - Expected close date",
            ],
        ),
        ("owner_name", &["Deal - Owner"]),
        ("company", &["Deal - Organization"]),
        ("region", &["Deal - Pipeline"]),
        ("lead_source", &["Deal - Source", "Deal - Source origin"]),
        ("last_activity_date", &["Deal - Last activity date"]),
    ],
};

pub const ALL: [&Preset; 3] = [&SALESFORCE, &HUBSPOT, &PIPEDRIVE];

/// Header names compare trimmed and case-insensitively (exports differ in case between versions).
pub fn same_header(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The preset whose signature headers are all in `header`, if any.
pub fn detect<'h>(header: impl Iterator<Item = &'h str> + Clone) -> Option<&'static Preset> {
    ALL.into_iter().find(|p| {
        p.signature
            .iter()
            .all(|s| header.clone().any(|h| same_header(h, s)))
    })
}

/// A preset by its name (a remembered mapping names the preset it was made from).
pub fn by_name(name: &str) -> Option<&'static Preset> {
    ALL.into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_preset_is_detected_from_its_own_headers_only() {
        for p in ALL {
            let headers: Vec<&str> = p.signature.to_vec();
            assert_eq!(
                detect(headers.iter().copied()).map(|d| d.name),
                Some(p.name)
            );
        }
        let seed = ["deal_id", "created_date", "deal_stage", "deal_amount"];
        assert!(detect(seed.iter().copied()).is_none());
        assert_eq!(
            by_name("hubspot_deals_export").map(|p| p.name),
            Some(HUBSPOT.name)
        );
    }
}
