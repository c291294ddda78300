//! Deal owners named in CRM exports ("Opportunity Owner", "Deal owner", "Deal - Owner",
//! `owner_email`): read into users the importer creates, so alerts find their rep.
use super::validate::{RawDeal, cell, collapse_ws};
use crate::domain::{Deal, DealOwner};

/// "Jane Doe <jane@x.com>", "Jane Doe (jane@x.com)", "jane@x.com" or "Jane Doe" →
/// (name, lower-cased email). Text that is not a plausible address is never taken as one.
pub(crate) fn split_owner(s: &str) -> (Option<String>, Option<String>) {
    let s = collapse_ws(s);
    let bracketed = s
        .strip_suffix('>')
        .and_then(|r| r.rsplit_once('<'))
        .or_else(|| s.strip_suffix(')').and_then(|r| r.rsplit_once('(')));
    let (name, email) = match bracketed {
        Some((n, e)) if is_email(e.trim()) => (n.trim().to_string(), Some(e.trim())),
        _ if is_email(&s) => (String::new(), Some(s.as_str())),
        _ => (s.clone(), None),
    };
    let name = (!name.is_empty()).then(|| name.chars().take(200).collect());
    (name, email.map(str::to_ascii_lowercase))
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "<>()\",;:[]\\@".contains(c);
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !local.chars().any(forbidden)
        && !domain.chars().any(forbidden)
}

/// The user a deal's owner columns name, if the file has any (the CSV importer creates them).
pub fn owner_of(raw: &RawDeal<'_>, deal: &Deal) -> Option<DealOwner> {
    if cell(raw.owner_name).is_none() && cell(raw.owner_email).is_none() {
        return None;
    }
    if deal.sales_rep_id == "Unknown" {
        return None;
    }
    let name = cell(raw.owner_name).and_then(|s| split_owner(s).0);
    Some(DealOwner {
        user_id: deal.sales_rep_id.clone(),
        email: deal.owner_email.clone().filter(|e| is_email(e)),
        name,
    })
}
