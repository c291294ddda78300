//! Any `/deal-risk` text: parsed into a command or a usage error, never a panic; an error always
//! has a message for the user.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = skygeni::slack::handlers::command::parse(&text) {
        assert!(!e.to_string().is_empty());
    }
});
