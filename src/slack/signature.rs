//! Verifies that a request really comes from Slack: HMAC-SHA256 over `v0:{timestamp}:{body}`
//! with the app's signing secret, compared in constant time, within a 5-minute replay window.
//!
//! Why not slack-morphism's `SlackEventSignatureVerifier`: it reads the system clock itself, so
//! neither Slack's published example (2018) nor a replay-window test can run against it. Time is
//! an input here (`now`), and the crate's own verifier uses the same hmac + sha2 crates.
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Slack's replay window: requests more than 5 minutes from now either way are refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("the request timestamp is not unix seconds")]
    BadTimestamp,
    #[error("the request timestamp is {age_secs} s from now, outside the 300 s window")]
    Stale { age_secs: i64 },
    #[error("the request signature does not match")]
    BadSignature,
}

/// Checks one request. `signature` and `timestamp` are the raw header values (`None` when the
/// header is absent); `body` is the raw body exactly as received, before any URL decoding.
pub fn verify(
    signing_secret: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
    let timestamp = timestamp.ok_or(SignatureError::MissingHeader(TIMESTAMP_HEADER))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let age_secs = now.saturating_sub(ts);
    if age_secs.abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale { age_secs });
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::BadSignature)?;
    // verify_slice compares in constant time, so timing does not leak how much of a guess matched.
    mac(signing_secret, timestamp.trim(), body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::BadSignature)
}

/// The `v0=<hex>` header value for a body: what Slack sends, and what test fakes of Slack use.
pub fn sign(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(signing_secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(tag))
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    m.update(b"v0:");
    m.update(timestamp.as_bytes());
    m.update(b":");
    m.update(body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's worked example (docs.slack.dev "Verifying requests from Slack"), see reference/slack.md §1.
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(
        secret: &[u8],
        sig: Option<&str>,
        ts: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        verify(secret, sig, ts, body, now)
    }

    #[test]
    fn slacks_own_worked_example_verifies_with_the_clock_frozen_at_its_timestamp() {
        assert_eq!(
            check(SECRET, Some(SIG), Some("1531420618"), BODY, TS),
            Ok(())
        );
        assert_eq!(
            sign(SECRET, TS, BODY),
            SIG,
            "sign() reproduces Slack's value"
        );
    }

    #[test]
    fn requests_are_rejected_for_each_kind_of_fault() {
        let ts = Some("1531420618");
        type Outcome = Result<(), SignatureError>;
        let cases: [(&str, Outcome, Outcome); 9] = [
            (
                "wrong secret",
                check(b"not-the-secret", Some(SIG), ts, BODY, TS),
                Err(SignatureError::BadSignature),
            ),
            (
                "altered body",
                check(SECRET, Some(SIG), ts, &[BODY, b"x"].concat(), TS),
                Err(SignatureError::BadSignature),
            ),
            (
                "six minutes old",
                check(SECRET, Some(SIG), ts, BODY, TS + 360),
                Err(SignatureError::Stale { age_secs: 360 }),
            ),
            (
                "six minutes ahead",
                check(SECRET, Some(SIG), ts, BODY, TS - 360),
                Err(SignatureError::Stale { age_secs: -360 }),
            ),
            (
                "missing signature",
                check(SECRET, None, ts, BODY, TS),
                Err(SignatureError::MissingHeader(SIGNATURE_HEADER)),
            ),
            (
                "missing timestamp",
                check(SECRET, Some(SIG), None, BODY, TS),
                Err(SignatureError::MissingHeader(TIMESTAMP_HEADER)),
            ),
            (
                "timestamp not a number",
                check(SECRET, Some(SIG), Some("yesterday"), BODY, TS),
                Err(SignatureError::BadTimestamp),
            ),
            (
                "no v0= prefix",
                check(SECRET, Some(&SIG[3..]), ts, BODY, TS),
                Err(SignatureError::BadSignature),
            ),
            (
                "signature not hex",
                check(SECRET, Some("v0=zz"), ts, BODY, TS),
                Err(SignatureError::BadSignature),
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_replay_window_is_inclusive_at_exactly_five_minutes() {
        assert_eq!(
            check(SECRET, Some(SIG), Some("1531420618"), BODY, TS + 300),
            Ok(())
        );
        assert_eq!(
            check(SECRET, Some(SIG), Some("1531420618"), BODY, TS - 300),
            Ok(())
        );
        assert!(check(SECRET, Some(SIG), Some("1531420618"), BODY, TS + 301).is_err());
    }

    #[test]
    fn a_signature_from_a_different_timestamp_does_not_verify() {
        // Replaying a body with a fresh timestamp header must fail: the timestamp is signed too.
        let ts = (TS + 10).to_string();
        assert_eq!(
            check(SECRET, Some(SIG), Some(&ts), BODY, TS + 10),
            Err(SignatureError::BadSignature)
        );
    }
}
