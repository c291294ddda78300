//! Bearer tokens whose signature and claims were already checked. An integrator sends the same
//! token on every request, and decoding it (base64, two JSON documents, HMAC-SHA256) was 6 % of
//! the API server's CPU; a hit skips only that work — expiry and the lifetime cap are checked
//! again on every use, against the same system clock `verify_token_with` uses.
use super::{Claims, verify_token_with};
use crate::http_error::ApiError;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many tokens are remembered; when full, the cache starts again (a flood of
/// distinct valid tokens costs what it cost without a cache, never memory).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct TokenCache {
    verified: Mutex<HashMap<Box<str>, Claims>>,
}

impl TokenCache {
    /// [`verify_token_with`], remembering tokens that pass. Only a token that passed every check
    /// is stored, keyed by its exact text, so a forged or altered token is always fully checked.
    pub fn verify(
        &self,
        secret: &SecretString,
        token: &str,
        max_lifetime_secs: u64,
    ) -> Result<Claims, ApiError> {
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        if let Some(claims) = known {
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            // jsonwebtoken's rule with no leeway: expired once `exp < now`. `nbf` needs no
            // re-check: a stored token's `nbf` had passed, and stays passed.
            if claims.exp < now {
                return Err(ApiError::Unauthorized("token has expired".into()));
            }
            if claims.exp <= now.saturating_add(max_lifetime_secs) {
                return Ok(claims);
            }
            // A lifetime cap lowered since: the full check says why.
        }
        let claims = verify_token_with(secret, token, max_lifetime_secs)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= CAPACITY {
            verified.clear();
        }
        verified.insert(token.into(), claims.clone());
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    fn signed(secret: &[u8], claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_remembered_token_is_still_refused_once_expired_and_forgeries_are_never_remembered() {
        let secret = SecretString::from("cache-test-secret");
        let cache = TokenCache::default();
        let now = chrono::Utc::now().timestamp();
        let good = signed(
            b"cache-test-secret",
            serde_json::json!({"sub": "u1", "tenant_id": "acme", "role": "rep", "exp": now + 600}),
        );
        let first = cache.verify(&secret, &good, 3600).unwrap();
        assert_eq!(cache.verify(&secret, &good, 3600).unwrap(), first);
        assert_eq!(cache.verified.lock().unwrap().len(), 1);
        // The same claims under another key, and the good token with a flipped signature byte.
        let forged = signed(
            b"attacker",
            serde_json::json!({"sub": "u1", "tenant_id": "acme", "role": "admin", "exp": now + 600}),
        );
        let mut tampered = good.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [&forged, &tampered] {
            assert!(cache.verify(&secret, bad, 3600).is_err());
        }
        assert_eq!(cache.verified.lock().unwrap().len(), 1);
        // A lower lifetime cap applies to a remembered token too.
        let why = cache.verify(&secret, &good, 60).unwrap_err();
        assert!(format!("{why:?}").contains("lifetime"), "{why:?}");
        // Expiry is checked on every use: plant the remembered claims as expired.
        cache
            .verified
            .lock()
            .unwrap()
            .get_mut(good.as_str())
            .unwrap()
            .exp = (now - 1) as u64;
        let why = cache.verify(&secret, &good, 3600).unwrap_err();
        assert!(format!("{why:?}").contains("expired"), "{why:?}");
    }

    #[test]
    fn the_cache_is_bounded() {
        let secret = SecretString::from("cache-test-secret");
        let cache = TokenCache::default();
        let now = chrono::Utc::now().timestamp();
        for i in 0..(CAPACITY + 5) {
            let t = signed(
                b"cache-test-secret",
                serde_json::json!({"sub": format!("u{i}"), "tenant_id": "acme", "role": "rep", "exp": now + 600}),
            );
            cache.verify(&secret, &t, 3600).unwrap();
        }
        assert!(cache.verified.lock().unwrap().len() <= CAPACITY);
    }
}
