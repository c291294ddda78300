//! Input checks every v1 handler shares: ids and free text without control characters, and
//! dates inside a plausible window. A bad value is a `validation_error` naming the field,
//! never a 500 from deeper down (a NUL byte is refused by PostgreSQL's TEXT type).
use crate::http_error::{ApiError, ApiResult};
use chrono::NaiveDate;

/// Longest id (deal id, rep id) we accept, as the importer does.
pub const MAX_ID_LEN: usize = 128;
/// Longest free-text field (industry, company, stage, ...).
pub const MAX_TEXT_LEN: usize = 200;

/// An id: 1..=128 characters, not blank, no control characters.
pub fn id(field: &str, v: &str) -> ApiResult<()> {
    text_within(field, v, MAX_ID_LEN)
}

/// A free-text value: 1..=200 characters, not blank, no control characters.
pub fn text(field: &str, v: &str) -> ApiResult<()> {
    text_within(field, v, MAX_TEXT_LEN)
}

fn text_within(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() || v.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be 1-{max} characters and not blank"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Earliest and latest scoring date: fixed (not relative to today) so the OpenAPI document
/// can state the same rule as a pattern.
pub const AS_OF_RANGE: (NaiveDate, NaiveDate) = (
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date"),
    NaiveDate::from_ymd_opt(2099, 12, 31).expect("valid date"),
);

/// A scoring date in 2000-01-01..=2099-12-31.
pub fn as_of(v: NaiveDate) -> ApiResult<()> {
    date_between("as_of", v, AS_OF_RANGE.0, AS_OF_RANGE.1)
}

/// `v` must lie in `from..=to` (both inclusive); the message names both ends.
pub fn date_between(field: &str, v: NaiveDate, from: NaiveDate, to: NaiveDate) -> ApiResult<()> {
    if v < from || v > to {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} {v} must be between {from} and {to}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_blank_and_overlong_ids_are_validation_errors() {
        for bad in ["", "   ", "D\u{0}1", "D\n1", "D\u{7f}", &"x".repeat(129)] {
            let err = id("deal_id", bad).unwrap_err();
            assert_eq!(err.status().as_u16(), 422, "{bad:?}");
            assert_eq!(
                serde_json::to_value(err.body()).unwrap()["details"]["field"],
                "deal_id"
            );
        }
        assert!(id("deal_id", "D-12345 Ünïcode").is_ok());
    }
}
