//! Slack request verification on arbitrary headers and bodies: never a panic, and nothing but
//! the correctly signed body passes.
#![no_main]
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
const NOW: i64 = 1_531_420_618;

fuzz_target!(|data: &[u8]| {
    // First line: signature header, second: timestamp header, rest: body.
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let sig = parts.next().map(String::from_utf8_lossy);
    let ts = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    let ok = skygeni::slack::signature::verify(SECRET, sig.as_deref(), ts.as_deref(), body, NOW);
    if ok.is_ok() {
        let ts: i64 = ts.unwrap().trim().parse().unwrap();
        // Hex case is encoding, not content: `v0=A2…` carries the same MAC bytes as `v0=a2…`
        // (the fuzzer found an upper-case digit verifying, which is correct).
        assert_eq!(
            sig.unwrap().to_ascii_lowercase(),
            skygeni::slack::signature::sign(SECRET, ts, body),
            "only a correct signature verifies"
        );
    }
});
