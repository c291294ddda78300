//! Custom fields SkyGeni writes on Salesforce records, as the package in
//! `salesforce_package/` must define them (a test compares the two), and the webhook headers
//! the package's Apex callout sends.

/// A Salesforce field type, with the parts of its definition our writes depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Number(precision, scale).
    Number {
        precision: u8,
        scale: u8,
    },
    /// Restricted picklist with exactly these values.
    Picklist(&'static [&'static str]),
    /// Percent(precision, scale): we write 0–100.
    Percent {
        precision: u8,
        scale: u8,
    },
    LongTextArea {
        length: u32,
    },
    DateTime,
    Text {
        length: u32,
    },
    /// Unique external-id text field (upsert key).
    ExternalIdText {
        length: u32,
    },
}

/// One custom field: object, API name, type.
///
/// Task and Event custom fields are defined on the Activity object in metadata (the
/// package's `objects/Activity/fields/`), but read, written and permissioned as `Task.X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub object: &'static str,
    pub api_name: &'static str,
    pub kind: FieldKind,
}

/// Written on the Opportunity after each score (the write-back).
pub const OPPORTUNITY_RISK_FIELDS: [FieldSpec; 6] = [
    FieldSpec {
        object: "Opportunity",
        api_name: "Risk_Score__c",
        kind: FieldKind::Number {
            precision: 3,
            scale: 0,
        },
    },
    FieldSpec {
        object: "Opportunity",
        api_name: "Risk_Category__c",
        kind: FieldKind::Picklist(&["low", "medium", "high", "critical"]),
    },
    FieldSpec {
        object: "Opportunity",
        api_name: "Win_Probability__c",
        kind: FieldKind::Percent {
            precision: 5,
            scale: 2,
        },
    },
    FieldSpec {
        object: "Opportunity",
        api_name: "Risk_Factors__c",
        kind: FieldKind::LongTextArea { length: 32768 },
    },
    FieldSpec {
        object: "Opportunity",
        api_name: "Risk_Scored_At__c",
        kind: FieldKind::DateTime,
    },
    FieldSpec {
        object: "Opportunity",
        api_name: "Risk_Model_Version__c",
        kind: FieldKind::Text { length: 80 },
    },
];

/// Upsert key of the follow-up Tasks SkyGeni creates, so reruns never duplicate them.
pub const TASK_KEY_FIELD: FieldSpec = FieldSpec {
    object: "Task",
    api_name: "SkyGeni_Key__c",
    kind: FieldKind::ExternalIdText { length: 100 },
};

impl FieldSpec {
    /// The object directory the field's metadata lives under in the package.
    pub fn metadata_object(&self) -> &'static str {
        match self.object {
            "Task" | "Event" => "Activity",
            o => o,
        }
    }
}

/// Headers of the package's signed webhook callout (`SkyGeniWebhook.cls`).
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-SkyGeni-Signature";
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "X-SkyGeni-Timestamp";
/// Named Credential the Apex callout goes through (its URL is SKYGENI_PUBLIC_URL at deploy).
pub const NAMED_CREDENTIAL: &str = "SkyGeni_Webhook";
/// Opportunity fields whose change makes the trigger ask SkyGeni to rescore (what the model
/// reads). Risk fields are deliberately absent so our own write-back never re-triggers.
pub const RESCORE_ON_CHANGE: [&str; 8] = [
    "Amount",
    "StageName",
    "CloseDate",
    "LeadSource",
    "Type",
    "AccountId",
    "OwnerId",
    "IsClosed",
];
