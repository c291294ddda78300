//! Which deals a `/deal-risk <query>` means: exact id first, then names containing the query,
//! then near-misses (typos) by string similarity. Pure, so the ranking is tested directly.
use crate::domain::Deal;

/// Below this Jaro-Winkler similarity a name is not offered as a match: at 0.85 "acne" still
/// finds "Acme" but "globex" does not find "Initech".
pub const MIN_SIMILARITY: f64 = 0.85;

/// Matching deals, best first: exact `deal_id` (case-insensitive), then `company`/`deal_name`/
/// `deal_id` containing the query (names starting with it first), then similar names. Ties go
/// by `deal_id`, so the order is stable between calls.
pub fn match_deals<'a>(query: &str, deals: &'a [Deal]) -> Vec<&'a Deal> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let mut ranked: Vec<(Rank, &Deal)> = deals
        .iter()
        .filter_map(|d| rank(&q, d).map(|r| (r, d)))
        .collect();
    ranked.sort_by(|(ra, a), (rb, b)| {
        rb.cmp_key()
            .partial_cmp(&ra.cmp_key())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.deal_id.cmp(&b.deal_id))
    });
    ranked.into_iter().map(|(_, d)| d).collect()
}

#[derive(Debug, Clone, Copy)]
enum Rank {
    ExactId,
    Contains { prefix: bool },
    Similar(f64),
}

impl Rank {
    /// (tier, within-tier score): higher is better.
    fn cmp_key(self) -> (u8, f64) {
        match self {
            Rank::ExactId => (3, 1.0),
            Rank::Contains { prefix } => (2, if prefix { 1.0 } else { 0.0 }),
            Rank::Similar(s) => (1, s),
        }
    }
}

fn rank(q: &str, d: &Deal) -> Option<Rank> {
    if d.deal_id.to_lowercase() == q {
        return Some(Rank::ExactId);
    }
    let names: Vec<String> = [d.company.as_deref(), d.deal_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::to_lowercase)
        .collect();
    if names.iter().any(|n| n.starts_with(q)) {
        return Some(Rank::Contains { prefix: true });
    }
    if names.iter().any(|n| n.contains(q)) || d.deal_id.to_lowercase().contains(q) {
        return Some(Rank::Contains { prefix: false });
    }
    // Compare with the whole name and each word, so a typo in one word of "Acme Corp" still hits.
    let best = names
        .iter()
        .flat_map(|n| std::iter::once(n.as_str()).chain(n.split_whitespace()))
        .map(|w| strsim::jaro_winkler(q, w))
        .fold(0.0, f64::max);
    (best >= MIN_SIMILARITY).then_some(Rank::Similar(best))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(id: &str, company: Option<&str>, name: Option<&str>) -> Deal {
        let mut d = Deal::example(id);
        d.company = company.map(String::from);
        d.deal_name = name.map(String::from);
        d
    }

    fn ids(query: &str, deals: &[Deal]) -> Vec<String> {
        match_deals(query, deals)
            .iter()
            .map(|d| d.deal_id.clone())
            .collect()
    }

    fn book() -> Vec<Deal> {
        vec![
            deal("D3", Some("Big Acme Holdings"), None),
            deal("D2", Some("Acme Corp"), Some("Acme renewal 2026")),
            deal("ACME", Some("Initech"), None),
            deal("D4", Some("Globex"), Some("Globex expansion")),
            deal("D5", Some("Müller GmbH"), None),
            deal("D6", None, None),
        ]
    }

    #[test]
    fn matches_rank_exact_id_then_prefix_then_contains_then_similar() {
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("acme", vec!["ACME", "D2", "D3"]),
            ("ACME corp", vec!["D2", "D3"]),
            ("d4", vec!["D4"]),
            ("globex", vec!["D4"]),
            ("acne", vec!["D2", "D3"]),
            ("MÜLLER", vec!["D5"]),
            ("mueller", vec![]),
            ("zzz", vec![]),
            ("", vec![]),
            ("   ", vec![]),
            ("%' OR 1=1 --", vec![]),
        ];
        for (query, want) in cases {
            assert_eq!(ids(query, &book()), want, "query {query:?}");
        }
    }

    #[test]
    fn an_id_fragment_matches_by_containment() {
        let deals = vec![deal("D0000042", None, None), deal("D0000043", None, None)];
        assert_eq!(ids("0042", &deals), vec!["D0000042"]);
        assert_eq!(
            ids("d00000", &deals),
            vec!["D0000042", "D0000043"],
            "ties sorted by id"
        );
    }

    #[test]
    fn typos_rank_closer_names_first() {
        let deals = vec![
            deal("A", Some("Initrode"), None),
            deal("B", Some("Initech"), None),
        ];
        assert_eq!(ids("initeck", &deals), vec!["B", "A"]);
    }
}
