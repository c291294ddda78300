//! Tenant identifiers: a short slug such as `default` or `acme-eu`.
use std::fmt;

/// A validated tenant id. It ends up in SQL settings and file names, so only a small,
/// safe alphabet is allowed: lowercase ASCII letters, digits, `-` and `_`, 1–64 chars.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, String> {
        // A leading '_' is reserved for shared scopes such as the global model ("_global").
        let ok = !s.is_empty()
            && !s.starts_with('_')
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(TenantId(s.to_string()))
        } else {
            Err(format!(
                "invalid tenant id {s:?}: use 1-64 lowercase letters, digits, '-' or '_'"
            ))
        }
    }

    pub fn default_tenant() -> Self {
        TenantId("default".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose model: one tenant's, or the global model trained on every tenant's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelScope {
    Tenant(TenantId),
    Global,
}

impl ModelScope {
    /// The value stored in `models.tenant_id` (and used as the RLS scope).
    pub fn as_str(&self) -> &str {
        match self {
            ModelScope::Tenant(t) => t.as_str(),
            ModelScope::Global => "_global",
        }
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TenantId::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TenantId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_accept_slugs_and_reject_everything_else() {
        for ok in ["default", "acme-eu", "t_1", "a"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            "Acme",
            "a b",
            "x'; drop table deals;--",
            &"a".repeat(65),
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
