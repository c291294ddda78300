//! The Salesforce webhook's authentication on arbitrary headers and bodies: never a panic, and
//! only the correctly signed body passes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use skygeni::crm::salesforce::webhook;

const SECRET: &[u8] = b"webhook-secret";
const NOW_MS: i64 = 1_709_251_200_000;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let ts = parts.next().map(String::from_utf8_lossy);
    let sig = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    if webhook::verify(SECRET, ts.as_deref(), sig.as_deref(), body, NOW_MS).is_ok() {
        let ts = ts.unwrap();
        assert_eq!(sig.unwrap().trim(), webhook::sign(SECRET, ts.trim(), body));
    }
});
