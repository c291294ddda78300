//! Secrets at rest: Slack bot tokens and Salesforce refresh tokens are stored sealed with
//! AES-256-GCM under `SKYGENI_ENCRYPTION_KEY` (32 bytes, base64 or 64 hex digits).
//!
//! A sealed value reads `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key id (first
//! 8 hex digits of SHA-256 of the key) lets a key rotation keep old rows readable: set the new
//! key as `SKYGENI_ENCRYPTION_KEY` and the old one as `SKYGENI_ENCRYPTION_KEY_PREVIOUS`, then
//! run `skygeni rotate-key` (re-seals every stored secret under the new key).
//! The tenant id is bound in as associated data, so a sealed token copied into another
//! tenant's row does not open.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "SKYGENI_ENCRYPTION_KEY is not set; it is needed to store Slack and Salesforce tokens \
         (generate one with `openssl rand -base64 32`)"
    )]
    MissingKey,
    #[error("{0} must be 32 bytes, as base64 (44 characters) or hex (64 digits)")]
    BadKey(&'static str),
    #[error("sealed value is malformed")]
    Malformed,
    #[error(
        "sealed with key {0}, which is neither SKYGENI_ENCRYPTION_KEY nor \
         SKYGENI_ENCRYPTION_KEY_PREVIOUS"
    )]
    UnknownKey(String),
    #[error("sealed value failed authentication (wrong key, wrong tenant, or tampered)")]
    Authentication,
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn parse(text: &str, var: &'static str) -> Result<Key, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::BadKey(var))?
        } else {
            B64.decode(text).map_err(|_| CryptoError::BadKey(var))?
        };
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey(var));
        }
        let id = hex::encode(&Sha256::digest(&bytes)[..4]);
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::BadKey(var))?;
        Ok(Key { id, cipher })
    }
}

/// Seals and opens secrets; cheap to share behind an `Arc`.
pub struct SecretBox {
    current: Key,
    previous: Option<Key>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBox(key {})", self.current.id)
    }
}

impl SecretBox {
    /// From the configured key (and the previous one during a rotation).
    pub fn new(current: Option<&str>, previous: Option<&str>) -> Result<SecretBox, CryptoError> {
        let current = Key::parse(
            current.ok_or(CryptoError::MissingKey)?,
            "SKYGENI_ENCRYPTION_KEY",
        )?;
        let previous = previous
            .map(|p| Key::parse(p, "SKYGENI_ENCRYPTION_KEY_PREVIOUS"))
            .transpose()?;
        Ok(SecretBox { current, previous })
    }

    /// Id of the key new values are sealed with.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Seal `plain` for `tenant` with a fresh random nonce.
    pub fn seal(&self, tenant: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: tenant.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}:{}:{}", self.current.id, B64.encode(out))
    }

    /// Open a value sealed by [`SecretBox::seal`] for the same tenant.
    pub fn open(&self, tenant: &str, sealed: &str) -> Result<String, CryptoError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))?;
        let bytes = B64.decode(body).map_err(|_| CryptoError::Malformed)?;
        if bytes.len() <= NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: tenant.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }

    /// True when `sealed` is under an older key and should be re-sealed.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        sealed.split(':').nth(1) != Some(self.current.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // base64 of 32 ASCII bytes
    const KEY_B: &str = "6162636465666768696a6b6c6d6e6f707172737475767778797a313233343536";

    #[test]
    fn sealed_tokens_round_trip_and_do_not_show_the_secret() {
        let b = SecretBox::new(Some(KEY_A), None).unwrap();
        let sealed = b.seal("acme", "xoxb-123-secret");
        assert!(!sealed.contains("xoxb"), "{sealed}");
        assert_eq!(b.open("acme", &sealed).unwrap(), "xoxb-123-secret");
        // Fresh nonce every time.
        assert_ne!(sealed, b.seal("acme", "xoxb-123-secret"));
    }

    #[test]
    fn another_tenant_a_tampered_value_or_a_wrong_key_cannot_open_it() {
        let b = SecretBox::new(Some(KEY_A), None).unwrap();
        let sealed = b.seal("acme", "refresh-token");
        assert!(matches!(
            b.open("globex", &sealed),
            Err(CryptoError::Authentication)
        ));
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(b.open("acme", &tampered).is_err());
        let other = SecretBox::new(Some(KEY_B), None).unwrap();
        assert!(matches!(
            other.open("acme", &sealed),
            Err(CryptoError::UnknownKey(_))
        ));
        assert!(matches!(
            b.open("acme", "plaintext"),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn rotation_reads_old_values_and_reseals_under_the_new_key() {
        let old = SecretBox::new(Some(KEY_A), None).unwrap();
        let sealed = old.seal("acme", "t");
        let rotated = SecretBox::new(Some(KEY_B), Some(KEY_A)).unwrap();
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(rotated.open("acme", &sealed).unwrap(), "t");
        let resealed = rotated.seal("acme", "t");
        assert!(!rotated.needs_reseal(&resealed));
    }

    #[test]
    fn missing_or_short_keys_are_explained() {
        assert!(
            SecretBox::new(None, None)
                .unwrap_err()
                .to_string()
                .contains("openssl rand")
        );
        assert!(matches!(
            SecretBox::new(Some("c2hvcnQ="), None),
            Err(CryptoError::BadKey("SKYGENI_ENCRYPTION_KEY"))
        ));
    }
}
