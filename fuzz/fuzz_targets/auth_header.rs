//! Arbitrary `Authorization` header values through the REST API's bearer + JWT check: a clear
//! 401 error or valid claims, never a panic; a token the fuzzer invents never verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let secret = SecretString::from("fuzz-secret-with-enough-bytes-32!");
    if let Ok(token) = skygeni::auth::bearer(Some(&header)) {
        assert!(
            skygeni::auth::verify_token(&secret, token).is_err(),
            "forged token accepted: {token}"
        );
    }
});
