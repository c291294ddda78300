//! Checks that an email's HTML follows the rules real clients impose (issue 17): a head with
//! charset and viewport, a preheader, a 600 px centred container table, no styles on
//! `<body>` (Gmail drops them), a font on every table cell (Outlook does not inherit), images
//! with explicit sizes and `max-width:100%`, links to http(s), and WCAG AA text contrast
//! (≥ 4.5:1) for every colour/background pair the markup sets. Used by the tests; a tiny tag
//! scanner is enough because the templates are ours (comments, incl. Outlook's conditional
//! ones, are skipped).

/// WCAG 2 minimum contrast for normal text.
pub const MIN_CONTRAST: f64 = 4.5;

type Rgb = (u8, u8, u8);

/// `#RRGGBB` or `#RGB`.
pub fn parse_hex(s: &str) -> Option<Rgb> {
    let h = s.trim().strip_prefix('#')?;
    let h: String = match h.len() {
        3 => h.chars().flat_map(|c| [c, c]).collect(),
        6 => h.to_string(),
        _ => return None,
    };
    let v = u32::from_str_radix(&h, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

fn luminance((r, g, b): Rgb) -> f64 {
    let f = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
}

/// WCAG 2 contrast ratio of two colours (1.0 ..= 21.0).
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// One start or end tag: name (lower case), attributes text, closing?
struct Tag<'a> {
    name: String,
    attrs: &'a str,
    closing: bool,
}

fn tags(html: &str) -> Vec<Tag<'_>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |j| &after[j + 3..]);
            continue;
        }
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[1..end];
        rest = &rest[end + 1..];
        if inner.starts_with('!') {
            continue;
        }
        let closing = inner.starts_with('/');
        let inner = inner.trim_start_matches('/');
        let name_end = inner
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(inner.len());
        out.push(Tag {
            name: inner[..name_end].to_ascii_lowercase(),
            attrs: &inner[name_end..],
            closing,
        });
    }
    out
}

/// The value of attribute `name` (double-quoted, as our templates write them).
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(i) = attrs[from..].find(&needle) {
        let at = from + i;
        // A whole attribute name, not the tail of another (`bgcolor` vs `color`).
        let whole = at == 0 || attrs[..at].ends_with(char::is_whitespace);
        let start = at + needle.len();
        if whole {
            return attrs[start..].find('"').map(|j| &attrs[start..start + j]);
        }
        from = start;
    }
    None
}

/// The value of CSS property `prop` in an inline style.
fn style_prop<'a>(style: &'a str, prop: &str) -> Option<&'a str> {
    style.split(';').find_map(|decl| {
        let (k, v) = decl.split_once(':')?;
        (k.trim().eq_ignore_ascii_case(prop)).then(|| v.trim())
    })
}

const VOID: [&str; 8] = ["img", "br", "meta", "hr", "input", "link", "col", "source"];

/// Every (text colour, background) pair the markup sets, with its contrast: text colour and
/// background are inherited down the element tree like a browser does.
pub fn color_pairs(html: &str) -> Vec<(String, String, f64)> {
    let mut stack: Vec<(String, Rgb, Rgb)> = vec![("root".into(), (0, 0, 0), (255, 255, 255))];
    let mut pairs: Vec<(String, String, f64)> = Vec::new();
    let hex = |c: Rgb| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
    for t in tags(html) {
        if t.closing {
            if let Some(pos) = stack.iter().rposition(|(n, ..)| *n == t.name) {
                stack.truncate(pos.max(1));
            }
            continue;
        }
        let (_, fg0, bg0) = stack.last().cloned().expect("root stays");
        let style = attr(t.attrs, "style").unwrap_or("");
        let fg = style_prop(style, "color").and_then(parse_hex);
        let bg = style_prop(style, "background-color")
            .or_else(|| style_prop(style, "background"))
            .or_else(|| attr(t.attrs, "bgcolor"))
            .and_then(parse_hex);
        let (f, b) = (fg.unwrap_or(fg0), bg.unwrap_or(bg0));
        if fg.is_some() || bg.is_some() {
            let p = (hex(f), hex(b), contrast(f, b));
            if !pairs.iter().any(|q| q.0 == p.0 && q.1 == p.1) {
                pairs.push(p);
            }
        }
        if !VOID.contains(&t.name.as_str()) && !t.attrs.trim_end().ends_with('/') {
            stack.push((t.name, f, b));
        }
    }
    pairs
}

/// Everything wrong with `html` as a client-proof email; empty when it passes.
pub fn lint(html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let head = html.split("</head>").next().unwrap_or("");
    for (want, why) in [
        ("<!DOCTYPE html>", "doctype"),
        ("<meta charset=\"utf-8\">", "charset in the head"),
        (
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "viewport in the head",
        ),
    ] {
        if !head.contains(want) {
            problems.push(format!("no {why}"));
        }
    }
    let all = tags(html);
    if let Some(body) = all.iter().find(|t| t.name == "body" && !t.closing)
        && attr(body.attrs, "style").is_some()
    {
        problems.push("styles on <body> (Gmail drops them): put them on elements".into());
    }
    let after_body = html.split("<body>").nth(1).unwrap_or("");
    if !after_body
        .trim_start()
        .starts_with("<div style=\"display:none;")
    {
        problems.push("no hidden preheader right after <body>".into());
    }
    let container = all.iter().any(|t| {
        t.name == "table"
            && attr(t.attrs, "width") == Some("600")
            && attr(t.attrs, "style").is_some_and(|s| style_prop(s, "max-width") == Some("600px"))
    });
    if !container {
        problems.push("no 600 px container table (width=\"600\", max-width:600px)".into());
    }
    for t in all.iter().filter(|t| !t.closing) {
        let style = attr(t.attrs, "style").unwrap_or("");
        match t.name.as_str() {
            "td" | "th" if style_prop(style, "font-family").is_none() => {
                problems.push(format!(
                    "<{}> without a font-family: {}",
                    t.name,
                    t.attrs.trim()
                ));
            }
            "img" => {
                let sized = attr(t.attrs, "width").is_some() && attr(t.attrs, "height").is_some();
                if !sized || style_prop(style, "max-width") != Some("100%") {
                    problems.push(format!(
                        "<img> needs width, height and max-width:100%: {}",
                        t.attrs.trim()
                    ));
                }
                if attr(t.attrs, "alt").is_none_or(str::is_empty) {
                    problems.push(format!("<img> without alt text: {}", t.attrs.trim()));
                }
            }
            "a" => {
                let href = attr(t.attrs, "href").unwrap_or("");
                if !(href.starts_with("https://")
                    || href.starts_with("http://")
                    || href.starts_with("mailto:"))
                {
                    problems.push(format!("link to {href:?}"));
                }
            }
            "style" | "script" | "link" => problems.push(format!("<{}> element", t.name)),
            _ => {}
        }
    }
    for (fg, bg, ratio) in color_pairs(html) {
        if ratio < MIN_CONTRAST {
            problems.push(format!(
                "contrast {ratio:.2}:1 < {MIN_CONTRAST} for {fg} on {bg}"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_wcag_reference_values() {
        let white = (255, 255, 255);
        assert!((contrast((0, 0, 0), white) - 21.0).abs() < 1e-9);
        assert!((contrast(white, white) - 1.0).abs() < 1e-9);
        // The old digest's orange text on white, as the issue measured it.
        let orange = parse_hex("#F2952F").unwrap();
        assert!(
            (contrast(orange, white) - 2.3).abs() < 0.1,
            "{}",
            contrast(orange, white)
        );
        assert_eq!(parse_hex("#abc"), Some((0xAA, 0xBB, 0xCC)));
        assert_eq!(parse_hex("red"), None);
    }

    #[test]
    fn pairs_inherit_colours_and_backgrounds_and_skip_comments() {
        let html = "<table bgcolor=\"#000000\"><tr><td style=\"color:#FFFFFF\">a</td>\
                    <!--[if mso]><td style=\"color:#111111\"><![endif]-->\
                    <td><span style=\"color:#444444\">b</span></td></tr></table>";
        let pairs = color_pairs(html);
        assert_eq!(pairs.len(), 3, "{pairs:?}");
        assert_eq!(
            (pairs[0].0.as_str(), pairs[0].1.as_str()),
            ("#000000", "#000000")
        );
        assert_eq!(
            (pairs[1].0.as_str(), pairs[1].1.as_str()),
            ("#FFFFFF", "#000000")
        );
        assert_eq!(
            (pairs[2].0.as_str(), pairs[2].1.as_str()),
            ("#444444", "#000000")
        );
        assert!(pairs[2].2 < MIN_CONTRAST, "grey on black fails");
    }

    #[test]
    fn a_bare_report_fails_the_lint_on_every_count() {
        let old = "<!DOCTYPE html><html><body style=\"font-family:Arial\"><h2 style=\"color:#F2952F\">x</h2>\
                   <table><tr><td>a</td></tr></table><img src=\"cid:x\" width=\"600\"></body></html>";
        let p = lint(old).join("\n");
        for want in [
            "charset",
            "viewport",
            "<body>",
            "preheader",
            "600 px container",
            "font-family",
            "max-width:100%",
            "alt text",
            "contrast 2.",
        ] {
            assert!(p.contains(want), "missing {want:?} in:\n{p}");
        }
    }
}
