//! Date parsing for CRM exports: ISO first, then the variants Salesforce, HubSpot and
//! spreadsheets commonly produce.
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parse a date cell. Slash dates are read month-first (US CRM exports) unless the first
/// number cannot be a month (`25/12/2024`), which is then read day-first.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(d) = parse_iso_fast(s) {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.date_naive());
    }
    // Salesforce's own datetime form carries "+0000" without a colon.
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.date_naive());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return Some(dt.date());
        }
    }
    if s.contains('/') {
        return parse_slash_date(s);
    }
    for f in [
        "%Y.%m.%d",
        "%d.%m.%Y",
        "%d-%b-%Y",
        "%d %b %Y",
        "%b %d, %Y",
        "%B %d, %Y",
        "%d %B %Y",
        "%Y%m%d",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(d);
        }
    }
    None
}

/// `YYYY-MM-DD` without chrono's format interpreter (the common case in exports and the
/// bulk of date-parsing time); anything else, or an impossible date, goes the general way.
fn parse_iso_fast(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

fn parse_slash_date(s: &str) -> Option<NaiveDate> {
    // Drop a time part such as "3/14/2024 10:30 AM".
    let date_part = s.split_whitespace().next()?;
    let parts: Vec<&str> = date_part.split('/').collect();
    if parts.len() != 3 {
        return None;
    }
    let nums: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (a, b, c) = (nums[0], nums[1], nums[2]);
    if parts[0].len() == 4 {
        return NaiveDate::from_ymd_opt(a as i32, b, c);
    }
    let year = match parts[2].len() {
        4 => c as i32,
        2 => 2000 + c as i32,
        _ => return None,
    };
    if a > 12 {
        NaiveDate::from_ymd_opt(year, b, a)
    } else {
        NaiveDate::from_ymd_opt(year, a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_crm_date_forms_parse_to_the_same_day() {
        let want = NaiveDate::from_ymd_opt(2024, 3, 14).unwrap();
        for s in [
            "2024-03-14",
            " 2024-03-14 ",
            "2024/03/14",
            "03/14/2024",
            "3/14/2024",
            "3/14/24",
            "14/03/2024",
            "14.03.2024",
            "14-Mar-2024",
            "14 Mar 2024",
            "Mar 14, 2024",
            "March 14, 2024",
            "2024-03-14T10:30:00Z",
            "2024-03-14T10:30:00.000+0000",
            "2024-03-14 10:30:00",
            "3/14/2024 10:30 AM",
            "20240314",
        ] {
            assert_eq!(parse_date(s), Some(want), "{s:?}");
        }
    }

    #[test]
    fn nonsense_and_impossible_dates_are_rejected() {
        for s in ["", "soon", "2024-02-30", "13/13/2024", "1/2", "2024-3"] {
            assert_eq!(parse_date(s), None, "{s:?}");
        }
    }
}
