//! Table-driven cases for the `/deal-risk` parser.
use super::*;
use DealRiskCommand::*;

fn user(id: &str) -> DealRiskCommand {
    Rep(SlackUserId(id.to_string()))
}

#[test]
fn subcommands_parse_case_insensitively_and_tolerate_whitespace() {
    let cases: Vec<(&str, DealRiskCommand)> = vec![
        ("", Help),
        ("   \t ", Help),
        ("help", Help),
        ("HELP", Help),
        ("?", Help),
        ("top", Top(5)),
        ("  Top   10  ", Top(10)),
        ("TOP 25", Top(25)),
        ("top 1", Top(1)),
        ("pipeline", Pipeline),
        ("PiPeLiNe", Pipeline),
        ("settings", Settings),
        ("rep <@U123ABC|maria>", user("U123ABC")),
        ("rep <@U123ABC>", user("U123ABC")),
        ("Rep   W0ENTERPRISE", user("W0ENTERPRISE")),
        ("link Maria@Acme.com", Link("maria@acme.com".into())),
        (
            "link <mailto:maria@acme.com|maria@acme.com>",
            Link("maria@acme.com".into()),
        ),
        ("share acme", Share("acme".into())),
        ("acme", Lookup("acme".into())),
        ("  Acme    Corp  ", Lookup("Acme Corp".into())),
        ("D0000042", Lookup("D0000042".into())),
        ("deal pipeline", Lookup("pipeline".into())),
        ("lookup Settings Inc", Lookup("Settings Inc".into())),
        (
            "pipeline review corp",
            Lookup("pipeline review corp".into()),
        ),
        ("AT&amp;T &lt;renewal&gt;", Lookup("AT&T <renewal>".into())),
        ("Müller GmbH", Lookup("Müller GmbH".into())),
        ("株式会社トヨタ", Lookup("株式会社トヨタ".into())),
        ("🚀 rocket co", Lookup("🚀 rocket co".into())),
        (
            "acme'; DROP TABLE deals;--",
            Lookup("acme'; DROP TABLE deals;--".into()),
        ),
        ("%' OR 1=1 --", Lookup("%' OR 1=1 --".into())),
        ("!!! ???", Unknown("!!! ???".into())),
        ("'; --", Unknown("'; --".into())),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), Ok(want), "input {text:?}");
    }
}

#[test]
fn bad_arguments_give_a_usage_message_instead_of_a_command() {
    let cases: Vec<(&str, CommandError)> = vec![
        ("top 0", CommandError::BadTop("0".into())),
        ("top 26", CommandError::BadTop("26".into())),
        ("top -3", CommandError::BadTop("-3".into())),
        ("top ten", CommandError::BadTop("ten".into())),
        (
            "top 99999999999999999999999",
            CommandError::BadTop("99999999999999999999999".into()),
        ),
        ("top 5 6", CommandError::BadTop("5 6".into())),
        ("rep", CommandError::BadRep),
        ("rep maria", CommandError::BadRep),
        ("rep <#C123|general>", CommandError::BadRep),
        ("link", CommandError::BadEmail("".into())),
        ("link maria", CommandError::BadEmail("maria".into())),
        (
            "link maria@acme",
            CommandError::BadEmail("maria@acme".into()),
        ),
        ("link a@b@c.com", CommandError::BadEmail("a@b@c.com".into())),
        (
            "link maria@acme.com; DROP",
            CommandError::BadEmail("maria@acme.com; DROP".into()),
        ),
        ("share", CommandError::MissingDeal("share")),
        ("deal ???", CommandError::MissingDeal("deal")),
    ];
    for (text, want) in cases {
        let got = parse(text);
        assert_eq!(got, Err(want), "input {text:?}");
    }
    let msg = parse("top lots").unwrap_err().to_string();
    assert!(
        msg.contains("1 to 25") && msg.contains("/deal-risk top 10"),
        "{msg}"
    );
}

#[test]
fn very_long_input_is_capped_at_500_characters_without_panicking() {
    let long = "ü".repeat(10_000);
    match parse(&long) {
        Ok(Lookup(q)) => assert_eq!(q.chars().count(), MAX_TEXT_CHARS),
        other => panic!("expected a capped lookup, got {other:?}"),
    }
    let huge_top = format!("top {}", "9".repeat(5_000));
    assert!(matches!(parse(&huge_top), Err(CommandError::BadTop(s)) if s.len() <= 40));
}

#[test]
fn the_usage_text_names_every_subcommand() {
    for sub in [
        "top", "pipeline", "rep", "share", "link", "settings", "help",
    ] {
        assert!(
            USAGE.contains(&format!("/deal-risk {sub}")),
            "{sub} missing from usage"
        );
    }
}

#[test]
fn nul_and_other_control_characters_get_a_clear_answer() {
    for text in ["D123\0", "acme\u{1b}[31m", "\u{7}bell", "link a@b.co\0"] {
        let e = parse(text).unwrap_err();
        assert_eq!(e, CommandError::ControlCharacters, "{text:?}");
        assert!(e.to_string().contains("control characters"));
    }
    // Tabs and newlines are only whitespace.
    assert_eq!(
        parse("acme\trockets").unwrap(),
        Lookup("acme rockets".into())
    );
}

#[test]
fn link_takes_both_email_forms_and_confirm_takes_the_mailed_code() {
    assert_eq!(parse("link a@b.co").unwrap(), Link("a@b.co".into()));
    assert_eq!(
        parse("link <mailto:A@B.co|A@B.co>").unwrap(),
        Link("a@b.co".into())
    );
    assert_eq!(
        parse("link confirm abcd-efgh").unwrap(),
        ConfirmLink("ABCDEFGH".into())
    );
    assert_eq!(parse("link confirm").unwrap_err(), CommandError::BadCode);
    assert_eq!(
        parse("link confirm <b>").unwrap_err(),
        CommandError::BadCode
    );
}
