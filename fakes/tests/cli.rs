//! The `skygeni-fakes` binary as the load kit and the conformance witnesses start it. Having an
//! integration test also makes `cargo test --workspace --no-run` build this binary, which
//! `scripts/conformance` relies on (one build for the suite and the witnesses).
use std::process::Command;

fn fakes() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skygeni-fakes"))
}

#[test]
fn help_lists_the_ports_and_the_known_slack_users_flag() {
    let out = fakes().arg("--help").output().expect("run skygeni-fakes");
    assert!(out.status.success(), "--help exits 0");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--slack-port",
        "--salesforce-port",
        "--sendgrid-port",
        "--slack-user",
    ] {
        assert!(text.contains(flag), "--help mentions {flag}:\n{text}");
    }
}

#[test]
fn an_oversized_seed_is_refused_before_any_port_is_opened() {
    let out = fakes()
        .args(["--sf-opportunities", "2000000"])
        .output()
        .expect("run skygeni-fakes");
    assert!(!out.status.success(), "a seed over the cap must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capped at 1,000,000"), "says why: {err}");
}
