//! The Slack app manifest must agree with the code: command name, request paths and scopes.
use super::*;
use serde_norway::Value;

const MANIFEST: &str = include_str!("../../app_manifest/manifest.yaml");

fn manifest() -> Value {
    serde_norway::from_str(MANIFEST).expect("manifest.yaml is valid YAML")
}

fn path_of(url: &Value) -> String {
    let url = url.as_str().expect("url is a string");
    let rest = url
        .strip_prefix("https://SKYGENI_PUBLIC_URL")
        .unwrap_or_else(|| panic!("{url} uses the placeholder host over https"));
    rest.to_string()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .collect()
}

#[test]
fn the_manifest_declares_the_deal_risk_command_at_the_commands_path() {
    let m = manifest();
    let cmds = m["features"]["slash_commands"].as_sequence().unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["command"].as_str(), Some(SLASH_COMMAND));
    assert_eq!(path_of(&cmds[0]["url"]), COMMANDS_PATH);
    assert_eq!(
        cmds[0]["should_escape"].as_bool(),
        Some(true),
        "the parser expects escaped mentions"
    );
    let hint = cmds[0]["usage_hint"].as_str().unwrap();
    for sub in ["top", "pipeline", "rep", "settings", "help"] {
        assert!(hint.contains(sub), "usage hint lacks {sub}");
    }
}

#[test]
fn manifest_urls_point_at_the_paths_the_server_serves() {
    let m = manifest();
    let s = &m["settings"];
    assert_eq!(
        path_of(&s["interactivity"]["request_url"]),
        INTERACTIONS_PATH
    );
    assert_eq!(s["interactivity"]["is_enabled"].as_bool(), Some(true));
    assert_eq!(
        path_of(&s["event_subscriptions"]["request_url"]),
        EVENTS_PATH
    );
    let redirects: Vec<String> = m["oauth_config"]["redirect_urls"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(path_of)
        .collect();
    assert_eq!(redirects, [OAUTH_CALLBACK_PATH]);
}

#[test]
fn manifest_bot_scopes_are_exactly_the_ones_the_code_needs() {
    let m = manifest();
    let mut declared = strings(&m["oauth_config"]["scopes"]["bot"]);
    let mut needed = BOT_SCOPES.to_vec();
    declared.sort();
    needed.sort();
    assert_eq!(
        declared, needed,
        "asking for more scopes than we use makes admins refuse the install"
    );
}

#[test]
fn the_manifest_enables_app_home_and_subscribes_to_lifecycle_events() {
    let m = manifest();
    let home = &m["features"]["app_home"];
    assert_eq!(home["home_tab_enabled"].as_bool(), Some(true));
    assert_eq!(home["messages_tab_enabled"].as_bool(), Some(true));
    let events = strings(&m["settings"]["event_subscriptions"]["bot_events"]);
    for e in ["app_home_opened", "tokens_revoked", "app_uninstalled"] {
        assert!(events.contains(&e), "{e} not subscribed");
    }
    let desc = m["display_information"]["description"].as_str().unwrap();
    assert!(
        !desc.is_empty() && desc.chars().count() <= 140,
        "Slack caps the short description at 140"
    );
}

#[test]
fn the_messages_tab_is_read_only_because_no_message_handler_exists() {
    let m = manifest();
    let home = &m["features"]["app_home"];
    assert_eq!(home["messages_tab_enabled"].as_bool(), Some(true));
    assert_eq!(home["messages_tab_read_only_enabled"].as_bool(), Some(true));
    let events = strings(&m["settings"]["event_subscriptions"]["bot_events"]);
    assert!(!events.contains(&"message.im"), "{events:?}");
}
