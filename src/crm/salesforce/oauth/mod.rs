//! Connecting an org and getting its access tokens. The two ways to connect live in their own
//! files: the OAuth 2.0 web-server flow (`web`: authorization code + PKCE + single-use state,
//! through the `oauth2` crate over our reqwest client) and the JWT bearer flow (`jwt`: RS256,
//! for server-to-server set-ups). This file holds what both share: the stored grant, access
//! tokens from it, and the credentials of a stored connection. Instance URL and refresh token
//! are sealed with the tenant-bound `SecretBox` before they reach the database.
mod jwt;
mod web;

pub use jwt::{connect_jwt, jwt_assertion, jwt_audience};
pub use web::{CallbackError, STATE_TTL_MINUTES, SfTokenFields, finish_connect, start_connect};

use super::client::SfError;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::{Clock, SystemClock, TenantId};
use crate::store::SfConnectionRow;
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How the client obtains access tokens.
#[derive(Clone)]
pub enum Grant {
    /// Web-server flow: a refresh token granted when an admin connected the org.
    Refresh(SecretString),
    /// JWT bearer flow: a pre-authorized integration user and the connected app's key.
    Jwt {
        username: String,
        private_key_pem: SecretString,
    },
}

#[derive(Clone)]
pub struct Credentials {
    pub login_url: String,
    /// `aud` of JWT bearer assertions (see [`jwt_audience`]).
    pub jwt_audience: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub grant: Grant,
}

impl Credentials {
    /// The connected app's settings with `grant`.
    pub(super) fn from_settings(settings: &Settings, grant: Grant) -> anyhow::Result<Credentials> {
        Ok(Credentials {
            login_url: settings.salesforce_login_url.clone(),
            jwt_audience: audience(settings),
            client_id: settings
                .salesforce_client_id
                .clone()
                .context("SALESFORCE_CLIENT_ID is not set")?,
            client_secret: settings.salesforce_client_secret.clone(),
            grant,
        })
    }
}

/// A token endpoint answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub instance_url: Option<String>,
    pub refresh_token: Option<String>,
    pub id: Option<String>,
}

/// `…/id/<orgId>/<userId>` → orgId.
pub fn org_id_from_identity(id: &str) -> Option<String> {
    let mut parts = id.trim_end_matches('/').rsplit('/');
    let _user = parts.next()?;
    parts.next().map(str::to_string)
}

/// Get an access token with the stored grant. A refused grant means an admin must reconnect.
pub async fn fetch_access_token(
    http: &reqwest::Client,
    creds: &Credentials,
) -> Result<TokenGrant, SfError> {
    let url = format!(
        "{}/services/oauth2/token",
        creds.login_url.trim_end_matches('/')
    );
    let secret = creds
        .client_secret
        .as_ref()
        .map(|s| s.expose_secret().to_string())
        .unwrap_or_default();
    let form: Vec<(&str, String)> = match &creds.grant {
        Grant::Refresh(token) => vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", token.expose_secret().to_string()),
            ("client_id", creds.client_id.clone()),
            ("client_secret", secret),
        ],
        Grant::Jwt {
            username,
            private_key_pem,
        } => vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
            ),
            (
                "assertion",
                // Salesforce checks `exp` against its own clock, so the assertion is stamped
                // with the system clock even where the app runs on another (a test's).
                jwt_assertion(
                    &creds.client_id,
                    username,
                    &creds.jwt_audience,
                    private_key_pem.expose_secret(),
                    SystemClock.now(),
                )?,
            ),
        ],
    };
    let resp = http
        .post(&url)
        .form(&form)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        // Unreachable or 5xx: an outage the caller retries and then defers, not a bad grant.
        .map_err(|e| SfError::Unavailable {
            attempts: 1,
            last: format!("token endpoint unreachable: {e}"),
        })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let why = format!(
            "{}: {}",
            v["error"].as_str().unwrap_or("token request refused"),
            v["error_description"].as_str().unwrap_or("")
        );
        return Err(if status.is_client_error() {
            SfError::Reconnect(why)
        } else {
            SfError::Unavailable {
                attempts: 1,
                last: format!("token endpoint answered {status}: {why}"),
            }
        });
    }
    serde_json::from_str(&text)
        .map_err(|e| SfError::Other(anyhow::anyhow!("unexpected token response: {e}")))
}

pub(super) fn audience(settings: &Settings) -> String {
    jwt_audience(
        &settings.salesforce_login_url,
        settings.salesforce_jwt_audience.as_deref(),
    )
}

/// The connected app's private key: PEM text, or a path to a PEM file.
pub(super) fn jwt_key(settings: &Settings) -> anyhow::Result<SecretString> {
    let raw = settings
        .salesforce_jwt_private_key
        .as_ref()
        .context("SALESFORCE_JWT_PRIVATE_KEY is not set (PEM text or a path to a PEM file)")?;
    let raw = raw.expose_secret();
    if raw.trim_start().starts_with("-----BEGIN") {
        return Ok(SecretString::from(raw.to_string()));
    }
    let pem = std::fs::read_to_string(raw)
        .with_context(|| format!("cannot read SALESFORCE_JWT_PRIVATE_KEY file {raw}"))?;
    Ok(SecretString::from(pem))
}

/// Credentials and instance URL of a stored connection, unsealed.
pub fn credentials_for(
    settings: &Settings,
    secrets: &SecretBox,
    tenant: &TenantId,
    row: &SfConnectionRow,
) -> anyhow::Result<(Credentials, String)> {
    let instance = secrets
        .open(tenant.as_str(), &row.instance_url_sealed)
        .context("cannot open the stored Salesforce instance URL (encryption key changed?)")?;
    let grant = match row.auth_flow.as_str() {
        "jwt_bearer" => Grant::Jwt {
            username: row
                .jwt_username
                .clone()
                .context("JWT connection without a username")?,
            private_key_pem: jwt_key(settings)?,
        },
        _ => {
            let sealed = row
                .refresh_token_sealed
                .as_ref()
                .context("connection has no refresh token; reconnect Salesforce")?;
            Grant::Refresh(SecretString::from(
                secrets
                    .open(tenant.as_str(), sealed)
                    .context("cannot open the stored refresh token (encryption key changed?)")?,
            ))
        }
    };
    Ok((Credentials::from_settings(settings, grant)?, instance))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_org_id_is_read_from_the_identity_url() {
        assert_eq!(
            super::org_id_from_identity(
                "https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001SwiU"
            ),
            Some("00Dxx0000001gPL".into())
        );
        assert_eq!(super::org_id_from_identity("nothing"), None);
    }
}
