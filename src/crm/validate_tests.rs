//! The row rules, case by case.
use super::*;
use crate::crm::owners::owner_of;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

fn good<'a>() -> RawDeal<'a> {
    RawDeal {
        deal_id: Some("D1"),
        created_date: Some("2024-01-05"),
        deal_stage: Some("Proposal"),
        amount: Some("12000"),
        industry: Some("SaaS"),
        ..Default::default()
    }
}

#[test]
fn each_hard_rule_rejects_with_its_own_code() {
    let cases: Vec<(&str, RawDeal, &str)> = vec![
        (
            "empty id",
            RawDeal {
                deal_id: Some(" "),
                ..good()
            },
            "missing_required",
        ),
        (
            "won without amount",
            RawDeal {
                amount: None,
                outcome: Some("Won"),
                ..good()
            },
            "missing_required",
        ),
        (
            "no stage",
            RawDeal {
                deal_stage: Some(""),
                ..good()
            },
            "missing_required",
        ),
        (
            "negative amount",
            RawDeal {
                amount: Some("-5"),
                ..good()
            },
            "amount_out_of_range",
        ),
        (
            "text amount",
            RawDeal {
                amount: Some("abc"),
                ..good()
            },
            "bad_amount",
        ),
        (
            "won with zero amount",
            RawDeal {
                amount: Some("0"),
                outcome: Some("won"),
                ..good()
            },
            "amount_out_of_range",
        ),
        (
            "huge amount",
            RawDeal {
                amount: Some("10000000"),
                ..good()
            },
            "amount_out_of_range",
        ),
        (
            "bad date",
            RawDeal {
                created_date: Some("yesterday"),
                ..good()
            },
            "bad_date",
        ),
        (
            "too old",
            RawDeal {
                created_date: Some("2021-11-26"),
                ..good()
            },
            "created_date_out_of_range",
        ),
        (
            "future",
            RawDeal {
                created_date: Some("2026-12-01"),
                ..good()
            },
            "created_date_out_of_range",
        ),
        (
            "close<create",
            RawDeal {
                closed_date: Some("2023-01-01"),
                ..good()
            },
            "closed_before_created",
        ),
        (
            "outcome",
            RawDeal {
                outcome: Some("maybe"),
                ..good()
            },
            "bad_outcome",
        ),
        (
            "cycle",
            RawDeal {
                sales_cycle_days: Some("-3"),
                ..good()
            },
            "bad_cycle",
        ),
    ];
    for (name, raw, rule) in cases {
        let err = validate_row(&raw, as_of()).expect_err(name);
        assert_eq!(err.rule, rule, "{name}: {}", err.detail);
    }
}

#[test]
fn soft_rules_normalise_and_keep_the_row() {
    let raw = RawDeal {
        industry: Some("  software "),
        amount: Some("$12,500.50"),
        closed_date: Some("2024-02-04"),
        outcome: Some("Closed Won"),
        lead_source: Some("partner"),
        ..good()
    };
    let (deal, notes) = validate_row(&raw, as_of()).unwrap();
    assert_eq!(deal.industry, "SaaS");
    assert_eq!(deal.amount, 12_500.5);
    assert_eq!(deal.sales_cycle_days, Some(30));
    assert_eq!(deal.outcome, Some(Outcome::Won));
    assert_eq!(deal.product_type, "Core");
    assert_eq!(deal.lead_source, "Partner");
    let rules: Vec<_> = notes.iter().map(|n| n.0).collect();
    for r in ["industry_normalised", "cycle_derived", "product_defaulted"] {
        assert!(rules.contains(&r), "missing note {r} in {rules:?}");
    }
}

#[test]
fn plain_and_formatted_amounts_and_whitespace_take_the_same_rules() {
    for (raw, want) in [
        ("12000", Some(12_000.0)),
        ("1e3", Some(1_000.0)),
        ("USD 45,000", Some(45_000.0)),
        ("$1_000.5", Some(1_000.5)),
        ("inf", None),
        ("NaN", None),
        ("", None),
    ] {
        assert_eq!(parse_amount(raw), want, "{raw:?}");
    }
    for (raw, want) in [
        ("North America", "North America"),
        ("a\tb  c", "a b c"),
        ("é  x", "é x"),
    ] {
        assert_eq!(collapse_ws(raw), want, "{raw:?}");
    }
}

#[test]
fn industry_synonyms_and_case_map_to_seed_names() {
    for (raw, want) in [
        ("saas", "SaaS"),
        ("Software", "SaaS"),
        ("FINTECH", "FinTech"),
        ("E-commerce", "Ecommerce"),
        ("Space  Mining", "Space Mining"),
    ] {
        assert_eq!(normalise_industry(raw), want, "{raw}");
    }
}

#[test]
fn outcome_comes_from_the_stage_or_the_report_flags_when_there_is_no_outcome_column() {
    let cases: Vec<(&str, RawDeal, Option<Outcome>)> = vec![
        (
            "Closed Won",
            RawDeal {
                deal_stage: Some("Closed Won"),
                ..good()
            },
            Some(Outcome::Won),
        ),
        (
            "closedwon",
            RawDeal {
                deal_stage: Some("closedwon"),
                ..good()
            },
            Some(Outcome::Won),
        ),
        (
            "Won",
            RawDeal {
                deal_stage: Some("Won"),
                ..good()
            },
            Some(Outcome::Won),
        ),
        (
            "won",
            RawDeal {
                deal_stage: Some("won"),
                ..good()
            },
            Some(Outcome::Won),
        ),
        (
            "closedlost",
            RawDeal {
                deal_stage: Some("closedlost"),
                ..good()
            },
            Some(Outcome::Lost),
        ),
        (
            "Closed Lost - No Decision",
            RawDeal {
                deal_stage: Some("Closed Lost - No Decision"),
                ..good()
            },
            Some(Outcome::Lost),
        ),
        (
            "Negotiation",
            RawDeal {
                deal_stage: Some("Negotiation"),
                ..good()
            },
            None,
        ),
        (
            "Lost Cause Inc. stage?",
            RawDeal {
                deal_stage: Some("Lostandfound"),
                ..good()
            },
            None,
        ),
        (
            "flags closed+won",
            RawDeal {
                closed_flag: Some("1"),
                won_flag: Some("1"),
                ..good()
            },
            Some(Outcome::Won),
        ),
        (
            "flags closed, not won",
            RawDeal {
                closed_flag: Some("TRUE"),
                won_flag: Some("false"),
                ..good()
            },
            Some(Outcome::Lost),
        ),
        (
            "flags open beat a stage",
            RawDeal {
                closed_flag: Some("0"),
                deal_stage: Some("Closed Won"),
                ..good()
            },
            None,
        ),
        (
            "pipedrive status open",
            RawDeal {
                outcome: Some("open"),
                ..good()
            },
            None,
        ),
        (
            "outcome column beats stage",
            RawDeal {
                outcome: Some("Lost"),
                deal_stage: Some("Closed Won"),
                ..good()
            },
            Some(Outcome::Lost),
        ),
    ];
    for (name, raw, want) in cases {
        let (deal, _) = validate_row(&raw, as_of()).expect(name);
        assert_eq!(deal.outcome, want, "{name}");
    }
}

#[test]
fn lost_without_amount_and_open_without_amount_are_kept_as_zero_and_flagged() {
    for (name, raw, rule) in [
        (
            "lost 0",
            RawDeal {
                amount: Some("0"),
                deal_stage: Some("Closed Lost"),
                ..good()
            },
            "lost_without_amount",
        ),
        (
            "lost empty",
            RawDeal {
                amount: Some(" "),
                outcome: Some("Lost"),
                ..good()
            },
            "lost_without_amount",
        ),
        (
            "open empty",
            RawDeal {
                amount: None,
                ..good()
            },
            "open_without_amount",
        ),
        (
            "open 0",
            RawDeal {
                amount: Some("$0"),
                ..good()
            },
            "open_without_amount",
        ),
    ] {
        let (deal, notes) = validate_row(&raw, as_of()).expect(name);
        assert_eq!(deal.amount, 0.0, "{name}");
        assert!(notes.iter().any(|n| n.0 == rule), "{name}: {notes:?}");
    }
}

#[test]
fn the_age_rule_is_relative_to_the_as_of_date_and_a_replay_accepts_later_history() {
    let old = RawDeal {
        created_date: Some("2016-03-01"),
        ..good()
    };
    let err = validate_row(&old, as_of()).unwrap_err();
    assert!(err.detail.contains("--as-of"), "{}", err.detail);
    let then = NaiveDate::from_ymd_opt(2017, 6, 30).unwrap();
    assert!(validate_row(&old, then).is_ok());
    let later = RawDeal {
        created_date: Some("2017-09-01"),
        ..good()
    };
    assert_eq!(
        validate_row(&later, then).unwrap_err().rule,
        "created_date_out_of_range"
    );
    assert!(validate_row(&later, DateRules::replay(then, as_of())).is_ok());
}

#[test]
fn owners_are_read_from_name_and_address_forms_and_markup_is_never_an_address() {
    for (cell, name, email) in [
        ("Jane Doe", Some("Jane Doe"), None),
        ("jane@acme.com", None, Some("jane@acme.com")),
        (
            "Jane Doe <Jane@Acme.com>",
            Some("Jane Doe"),
            Some("jane@acme.com"),
        ),
        (
            "Jane Doe (jane@acme.com)",
            Some("Jane Doe"),
            Some("jane@acme.com"),
        ),
        ("<script>@x.com", Some("<script>@x.com"), None),
    ] {
        let raw = RawDeal {
            owner_name: Some(cell),
            ..good()
        };
        let (deal, _) = validate_row(&raw, as_of()).unwrap();
        let owner = owner_of(&raw, &deal).expect(cell);
        assert_eq!(owner.name.as_deref(), name, "{cell}");
        assert_eq!(owner.email.as_deref(), email, "{cell}");
        assert_eq!(deal.sales_rep_id, email.or(name).unwrap(), "{cell}");
    }
    let with_rep = RawDeal {
        sales_rep_id: Some("rep_9"),
        owner_name: Some("Jo"),
        ..good()
    };
    let (deal, _) = validate_row(&with_rep, as_of()).unwrap();
    assert_eq!(owner_of(&with_rep, &deal).unwrap().user_id, "rep_9");
    assert!(owner_of(&good(), &validate_row(&good(), as_of()).unwrap().0).is_none());
}
