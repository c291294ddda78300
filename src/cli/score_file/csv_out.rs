//! Rendering one scored deal as an output line, into a reused buffer without the float
//! formatter (see the parent module for the format).
use crate::engine::CoreScore;
use crate::engine::explain::FactorImpact;

pub(super) fn write_row(out: &mut Vec<u8>, deal_id: &str, core: &CoreScore) {
    write_field(out, deal_id);
    out.push(b',');
    push_uint(out, u64::from(core.risk_score));
    out.push(b',');
    out.extend_from_slice(core.category.as_str().as_bytes());
    out.push(b',');
    push_fixed(out, 1.0 - core.p_lost, 4, false);
    for f in &core.factors {
        out.push(b',');
        write_factor(out, f);
    }
    out.push(b'\n');
}

/// `code:±N.Npp` (see the module docs).
pub(super) fn write_factor(out: &mut Vec<u8>, f: &FactorImpact) {
    out.extend_from_slice(f.code.as_str().as_bytes());
    out.push(b':');
    push_fixed(out, f.impact_pp, 1, true);
    out.extend_from_slice(b"pp");
}

/// Does a spreadsheet read this text cell as a formula? (`=`, `+`, `-`, `@`, tab or CR
/// first: the OWASP "CSV injection" list.)
pub(super) fn looks_like_formula(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A text cell, quoted only when CSV needs it. A cell a spreadsheet would run as a formula
/// (a deal id like `=HYPERLINK(...)` from the CRM) gets a leading `'`, which makes it text;
/// numbers are written by `push_uint` / `push_fixed` and never pass through here.
pub(super) fn write_field(out: &mut Vec<u8>, s: &str) {
    let prefix = looks_like_formula(s);
    if !s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        if prefix {
            out.push(b'\'');
        }
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    if prefix {
        out.push(b'\'');
    }
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn push_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Fixed-point decimal, cheaper than the `{:.4}` float formatter; rounds half
/// away from zero. A value that rounds to zero prints unsigned (or `+` when `signed`).
pub(super) fn push_fixed(out: &mut Vec<u8>, v: f64, decimals: u32, signed: bool) {
    let scale = 10u64.pow(decimals);
    let v = if v.is_finite() { v } else { 0.0 };
    let scaled = (v.abs() * scale as f64).round() as u64;
    if v < 0.0 && scaled != 0 {
        out.push(b'-');
    } else if signed {
        out.push(b'+');
    }
    push_uint(out, scaled / scale);
    if decimals > 0 {
        out.push(b'.');
        let frac = scaled % scale;
        let mut div = scale / 10;
        while div > 0 {
            out.push(b'0' + ((frac / div) % 10) as u8);
            div /= 10;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(s: &str) -> String {
        let mut out = Vec::new();
        write_field(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formula_cells_get_a_quote_prefix_and_plain_text_and_numbers_do_not() {
        let cases = [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2", "'-2"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("D-1", "D-1"),
            ("a,b", "\"a,b\""),
        ];
        for (input, want) in cases {
            assert_eq!(cell(input), want, "{input:?}");
        }
        let mut out = Vec::new();
        push_fixed(&mut out, -0.25, 2, false);
        assert_eq!(out, b"-0.25", "numbers stay plain, sign and all");
    }
}
