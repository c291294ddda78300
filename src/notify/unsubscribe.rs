//! One-click unsubscribe for digests and weekly summaries (RFC 8058): each email carries
//! `List-Unsubscribe: <mailto:…>, <https://…/unsubscribe/TOKEN>` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The link works without login, so the
//! token is the credential: HMAC-SHA256 over (tenant, user, list, expiry) with a key used for
//! nothing else, valid for [`TOKEN_DAYS`]. A changed byte, another key, another tenant or an
//! expired token is refused.
use crate::domain::TenantId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long an unsubscribe link works (mail stays in inboxes; older links get a page that
/// says so and points at the settings).
pub const TOKEN_DAYS: i64 = 60;

/// The mailing lists a user can leave (the outbox kinds they are sent as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum List {
    #[serde(rename = "digest")]
    Digest,
    #[serde(rename = "weekly_summary")]
    Weekly,
}

impl List {
    pub fn as_str(self) -> &'static str {
        match self {
            List::Digest => "digest",
            List::Weekly => "weekly_summary",
        }
    }

    pub fn parse(s: &str) -> Option<List> {
        [List::Digest, List::Weekly]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// "the daily digest", for pages and emails.
    pub fn title(self) -> &'static str {
        match self {
            List::Digest => "the daily Pipeline Health Report",
            List::Weekly => "the weekly pipeline summary",
        }
    }
}

/// What a verified token grants: removing `user` of `tenant` from `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant: TenantId,
    pub user_id: String,
    pub list: List,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid or tampered unsubscribe link")]
    Invalid,
    #[error("this unsubscribe link has expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    t: String,
    u: String,
    l: List,
    e: i64,
}

/// Signs unsubscribe links; holds the key and where mail replies go.
#[derive(Clone)]
pub struct UnsubscribeSigner {
    key: Vec<u8>,
    public_url: String,
    /// The `mailto:` target of List-Unsubscribe (the sender address: replies to it with the
    /// subject below reach whoever handles the sender mailbox).
    mailto: String,
}

impl std::fmt::Debug for UnsubscribeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeSigner")
            .field("public_url", &self.public_url)
            .field("mailto", &self.mailto)
            .finish_non_exhaustive()
    }
}

impl PartialEq for UnsubscribeSigner {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.public_url == o.public_url && self.mailto == o.mailto
    }
}

/// The key for unsubscribe tokens, derived from the chart-link key (itself
/// `SKYGENI_CHART_URL_SECRET` or derived from the JWT secret), so no extra setting is needed
/// and the two kinds of link cannot be swapped. `None`: no secret configured, no links.
pub fn derive_key(url_secret: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(url_secret).expect("HMAC accepts any key");
    m.update(b"skygeni unsubscribe key v1");
    m.finalize().into_bytes().to_vec()
}

impl UnsubscribeSigner {
    pub fn new(key: Vec<u8>, public_url: &str, mailto: &str) -> UnsubscribeSigner {
        UnsubscribeSigner {
            key,
            public_url: public_url.trim_end_matches('/').to_string(),
            mailto: mailto.to_string(),
        }
    }

    /// From the service settings; `None` when no signing secret is configured.
    pub fn from_settings(s: &crate::config::Settings) -> Option<UnsubscribeSigner> {
        let secret = crate::notify::chart_route::url_secret(s)?;
        Some(UnsubscribeSigner::new(
            derive_key(&secret),
            &s.public_url,
            &s.email_from,
        ))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key");
        m.update(payload.as_bytes());
        m
    }

    /// `<payload base64url>.<hmac base64url>`, URL-safe as a path segment.
    pub fn token(
        &self,
        tenant: &TenantId,
        user_id: &str,
        list: List,
        expires_at: DateTime<Utc>,
    ) -> String {
        let claims = Claims {
            t: tenant.as_str().to_string(),
            u: user_id.to_string(),
            l: list,
            e: expires_at.timestamp(),
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// Check a token at `now`: what it grants.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Grant, TokenError> {
        let (payload, sig) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Invalid)?;
        // Constant-time comparison.
        self.mac(payload)
            .verify_slice(&sig)
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Invalid)?;
        let tenant = TenantId::parse(&claims.t).map_err(|_| TokenError::Invalid)?;
        if now.timestamp() >= claims.e {
            return Err(TokenError::Expired);
        }
        Ok(Grant {
            tenant,
            user_id: claims.u,
            list: claims.l,
        })
    }

    /// The https link for `user` (valid [`TOKEN_DAYS`] from `now`).
    pub fn url(&self, tenant: &TenantId, user_id: &str, list: List, now: DateTime<Utc>) -> String {
        format!(
            "{}/unsubscribe/{}",
            self.public_url,
            self.token(tenant, user_id, list, now + Duration::days(TOKEN_DAYS))
        )
    }

    /// The RFC 2369 / RFC 8058 headers for one recipient's email.
    pub fn headers(
        &self,
        tenant: &TenantId,
        user_id: &str,
        list: List,
        now: DateTime<Utc>,
    ) -> Vec<(String, String)> {
        let token = self.token(tenant, user_id, list, now + Duration::days(TOKEN_DAYS));
        vec![
            (
                "List-Unsubscribe".into(),
                format!(
                    "<mailto:{}?subject=unsubscribe%20{token}>, <{}/unsubscribe/{token}>",
                    self.mailto, self.public_url
                ),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn signer(key: &[u8]) -> UnsubscribeSigner {
        UnsubscribeSigner::new(key.to_vec(), "https://bot.example.com/", "bot@example.com")
    }

    #[test]
    fn a_token_grants_its_own_user_list_and_tenant_until_it_expires() {
        let acme = TenantId::parse("acme").unwrap();
        let s = signer(b"k");
        let tok = s.token(&acme, "mgr|1", List::Weekly, t("2026-03-01T00:00:00Z"));
        assert_eq!(
            s.verify(&tok, t("2026-02-28T23:59:59Z")),
            Ok(Grant {
                tenant: acme,
                user_id: "mgr|1".into(),
                list: List::Weekly
            })
        );
        assert_eq!(
            s.verify(&tok, t("2026-03-01T00:00:00Z")),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_tampered_and_other_tenant_tokens_are_refused() {
        let acme = TenantId::parse("acme").unwrap();
        let s = signer(b"k");
        let exp = t("2026-03-01T00:00:00Z");
        let now = t("2026-01-01T00:00:00Z");
        let tok = s.token(&acme, "u1", List::Digest, exp);
        let (payload, sig) = tok.split_once('.').unwrap();
        // The same claims for another tenant, user or list, re-encoded with the old signature.
        let forge = |json: &str| format!("{}.{sig}", URL_SAFE_NO_PAD.encode(json));
        let e = exp.timestamp();
        let cases = [
            (
                forge(&format!(
                    r#"{{"t":"globex","u":"u1","l":"digest","e":{e}}}"#
                )),
                "another tenant",
            ),
            (
                forge(&format!(r#"{{"t":"acme","u":"u2","l":"digest","e":{e}}}"#)),
                "another user",
            ),
            (
                forge(&format!(
                    r#"{{"t":"acme","u":"u1","l":"weekly_summary","e":{e}}}"#
                )),
                "another list",
            ),
            (
                forge(&format!(
                    r#"{{"t":"acme","u":"u1","l":"digest","e":{}}}"#,
                    e + 86400
                )),
                "a later expiry",
            ),
            (
                signer(b"guess").token(&acme, "u1", List::Digest, exp),
                "another key",
            ),
            (payload.to_string(), "no signature"),
            (format!("{payload}.{}", &sig[1..]), "a cut signature"),
            (format!("{payload}x.{sig}"), "a changed payload"),
            (String::new(), "empty"),
            ("../../etc/passwd".into(), "junk"),
        ];
        for (bad, why) in cases {
            assert_eq!(s.verify(&bad, now), Err(TokenError::Invalid), "{why}");
        }
    }

    #[test]
    fn the_headers_carry_mailto_and_https_and_the_one_click_post() {
        let s = signer(b"k");
        let h = s.headers(
            &TenantId::parse("acme").unwrap(),
            "u1",
            List::Digest,
            t("2026-01-01T00:00:00Z"),
        );
        assert_eq!(h[0].0, "List-Unsubscribe");
        assert!(
            h[0].1
                .starts_with("<mailto:bot@example.com?subject=unsubscribe%20"),
            "{}",
            h[0].1
        );
        assert!(
            h[0].1.contains(">, <https://bot.example.com/unsubscribe/"),
            "{}",
            h[0].1
        );
        assert_eq!(
            h[1],
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into()
            )
        );
    }
}
