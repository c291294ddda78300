//! Connecting an org: the OAuth 2.0 web-server flow (authorization code + PKCE + single-use
//! state) through the `oauth2` crate over our reqwest client, the JWT bearer flow (RS256) for
//! server-to-server set-ups, and access tokens from a stored refresh token. Instance URL and
//! refresh token are sealed with the tenant-bound `SecretBox` before they reach the database.
use super::client::SfError;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::{Clock, SystemClock, TenantId};
use crate::store::{SfConnectionRow, Store};
use anyhow::Context;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long a `/salesforce/connect` state stays usable.
pub const STATE_TTL_MINUTES: i64 = 10;

/// Salesforce's additions to the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SfTokenFields {
    pub instance_url: String,
    /// Identity URL `https://login.salesforce.com/id/<orgId>/<userId>`.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub issued_at: Option<String>,
}
impl oauth2::ExtraTokenFields for SfTokenFields {}

type SfTokenResponse = StandardTokenResponse<SfTokenFields, BasicTokenType>;
type SfOAuthClient = oauth2::Client<
    BasicErrorResponse,
    SfTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

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

/// A token endpoint answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub instance_url: Option<String>,
    pub refresh_token: Option<String>,
    pub id: Option<String>,
}

/// The JWT bearer `aud`: Salesforce accepts only `https://login.salesforce.com` (production),
/// `https://test.salesforce.com` (sandboxes) or an Experience Cloud site URL (the override),
/// never the My Domain login URL the token request itself goes to.
pub fn jwt_audience(login_url: &str, override_url: Option<&str>) -> String {
    if let Some(site) = override_url.map(str::trim).filter(|s| !s.is_empty()) {
        return site.trim_end_matches('/').to_string();
    }
    let host = reqwest::Url::parse(login_url.trim())
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    // test.salesforce.com, enhanced sandbox My Domains (x--sb.sandbox.my.salesforce.com) and
    // legacy ones (x--sb.my.salesforce.com) are sandboxes.
    let sandbox = host == "test.salesforce.com"
        || host.ends_with(".sandbox.my.salesforce.com")
        || (host.contains("--") && host.ends_with(".my.salesforce.com"));
    if sandbox {
        "https://test.salesforce.com".into()
    } else {
        "https://login.salesforce.com".into()
    }
}

/// `…/id/<orgId>/<userId>` → orgId.
pub fn org_id_from_identity(id: &str) -> Option<String> {
    let mut parts = id.trim_end_matches('/').rsplit('/');
    let _user = parts.next()?;
    parts.next().map(str::to_string)
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// The RS256 assertion of the JWT bearer flow (valid 3 minutes, Salesforce's maximum).
pub fn jwt_assertion(
    client_id: &str,
    username: &str,
    audience: &str,
    private_key_pem: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
        .context("SALESFORCE_JWT_PRIVATE_KEY is not an RSA private key in PEM format")?;
    let claims = JwtClaims {
        iss: client_id,
        sub: username,
        aud: audience,
        exp: now.timestamp() + 170,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .context("failed to sign the JWT bearer assertion")
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

fn oauth_client(settings: &Settings) -> anyhow::Result<SfOAuthClient> {
    let id = settings
        .salesforce_client_id
        .clone()
        .context("SALESFORCE_CLIENT_ID is not set")?;
    let secret = settings
        .salesforce_client_secret
        .as_ref()
        .context("SALESFORCE_CLIENT_SECRET is not set")?;
    let login = settings.salesforce_login_url.trim_end_matches('/');
    Ok(oauth2::Client::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new(secret.expose_secret().to_string()))
        // Salesforce reads the client credentials from the form body.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(format!("{login}/services/oauth2/authorize"))?)
        .set_token_uri(TokenUrl::new(format!("{login}/services/oauth2/token"))?)
        .set_redirect_uri(RedirectUrl::new(format!(
            "{}/salesforce/oauth/callback",
            settings.public_url.trim_end_matches('/')
        ))?))
}

/// Start the web-server flow for `tenant`: store a single-use state with the sealed PKCE
/// verifier and return the Salesforce login URL to redirect the admin to.
pub async fn start_connect(
    settings: &Settings,
    store: &Store,
    secrets: &SecretBox,
    tenant: &TenantId,
) -> anyhow::Result<String> {
    let client = oauth_client(settings)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // The tenant rides in the state so the callback knows whose (RLS-scoped) row to read.
    let state = format!("{}.{}", tenant.as_str(), CsrfToken::new_random().secret());
    let (url, _) = client
        .authorize_url(|| CsrfToken::new(state.clone()))
        .add_scope(Scope::new("api".into()))
        .add_scope(Scope::new("refresh_token".into()))
        .set_pkce_challenge(challenge)
        .url();
    store
        .save_oauth_state(
            tenant,
            &state,
            &secrets.seal(tenant.as_str(), verifier.secret()),
        )
        .await?;
    Ok(url.to_string())
}

/// Why a callback was refused (all of them mean "start again from /salesforce/connect").
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("unknown, used or expired state; start again from /salesforce/connect")]
    BadState,
    #[error("Salesforce refused the authorization code: {0}")]
    Exchange(String),
    #[error("the org is connected, but {0:#}; fix that and connect again")]
    Setup(anyhow::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Finish the web-server flow: check the state (once), exchange the code with the PKCE
/// verifier, and store the sealed instance URL and refresh token.
pub async fn finish_connect(
    settings: &Settings,
    store: &Store,
    secrets: &SecretBox,
    http: &reqwest::Client,
    code: &str,
    state: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<TenantId, CallbackError> {
    let tenant = state
        .split_once('.')
        .and_then(|(t, _)| TenantId::parse(t).ok())
        .ok_or(CallbackError::BadState)?;
    let sealed = store
        .take_oauth_state(
            &tenant,
            state,
            now,
            chrono::Duration::minutes(STATE_TTL_MINUTES),
        )
        .await
        .map_err(|e| CallbackError::Other(e.into()))?
        .ok_or(CallbackError::BadState)?;
    let verifier = secrets
        .open(tenant.as_str(), &sealed)
        .map_err(|_| CallbackError::BadState)?;
    let client = oauth_client(settings)?;
    let exchange_http = http.clone();
    let send = move |req: oauth2::HttpRequest| {
        let http = exchange_http.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = oauth2::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                out = out.header(k, v);
            }
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>(
                out.body(bytes.to_vec())
                    .expect("status and headers come from a valid response"),
            )
        }
    };
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&send)
        .await
        .map_err(|e| CallbackError::Exchange(format!("{e}")))?;
    let refresh = token.refresh_token().ok_or_else(|| {
        CallbackError::Exchange(
            "no refresh token granted: the connected app must allow the refresh_token scope".into(),
        )
    })?;
    let extra = token.extra_fields();
    let org_id = extra
        .id
        .as_deref()
        .and_then(org_id_from_identity)
        .ok_or_else(|| CallbackError::Exchange("token response has no identity URL".into()))?;
    store
        .save_sf_connection(
            &tenant,
            &SfConnectionRow {
                org_id,
                auth_flow: "web_server".into(),
                instance_url_sealed: secrets.seal(tenant.as_str(), &extra.instance_url),
                refresh_token_sealed: Some(secrets.seal(tenant.as_str(), refresh.secret())),
                jwt_username: None,
                field_mapping: "{}".into(),
            },
        )
        .await
        .map_err(|e| CallbackError::Other(e.into()))?;
    super::org_secret::after_connect(settings, store, secrets, http, &tenant)
        .await
        .map_err(CallbackError::Setup)?;
    Ok(tenant)
}

/// Server-to-server set-up: get a first token with the JWT bearer flow (proving the key and
/// user work) and store the connection.
pub async fn connect_jwt(
    settings: &Settings,
    store: &Store,
    secrets: &SecretBox,
    http: &reqwest::Client,
    tenant: &TenantId,
    username: &str,
) -> anyhow::Result<String> {
    let creds = Credentials {
        login_url: settings.salesforce_login_url.clone(),
        jwt_audience: audience(settings),
        client_id: settings
            .salesforce_client_id
            .clone()
            .context("SALESFORCE_CLIENT_ID is not set")?,
        client_secret: settings.salesforce_client_secret.clone(),
        grant: Grant::Jwt {
            username: username.to_string(),
            private_key_pem: jwt_key(settings)?,
        },
    };
    let grant = fetch_access_token(http, &creds).await?;
    let instance = grant
        .instance_url
        .context("token response has no instance_url")?;
    let org_id = grant
        .id
        .as_deref()
        .and_then(org_id_from_identity)
        .context("token response has no identity URL")?;
    store
        .save_sf_connection(
            tenant,
            &SfConnectionRow {
                org_id: org_id.clone(),
                auth_flow: "jwt_bearer".into(),
                instance_url_sealed: secrets.seal(tenant.as_str(), &instance),
                refresh_token_sealed: None,
                jwt_username: Some(username.to_string()),
                field_mapping: "{}".into(),
            },
        )
        .await?;
    super::org_secret::after_connect(settings, store, secrets, http, tenant).await?;
    Ok(org_id)
}

fn audience(settings: &Settings) -> String {
    jwt_audience(
        &settings.salesforce_login_url,
        settings.salesforce_jwt_audience.as_deref(),
    )
}

/// The connected app's private key: PEM text, or a path to a PEM file.
fn jwt_key(settings: &Settings) -> anyhow::Result<SecretString> {
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
    Ok((
        Credentials {
            login_url: settings.salesforce_login_url.clone(),
            jwt_audience: audience(settings),
            client_id: settings
                .salesforce_client_id
                .clone()
                .context("SALESFORCE_CLIENT_ID is not set")?,
            client_secret: settings.salesforce_client_secret.clone(),
            grant,
        },
        instance,
    ))
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

    #[test]
    fn the_jwt_audience_is_login_or_test_never_the_my_domain_url() {
        let aud = |login: &str, site: Option<&str>| super::jwt_audience(login, site);
        let prod = "https://login.salesforce.com";
        let test = "https://test.salesforce.com";
        assert_eq!(aud("https://login.salesforce.com/", None), prod);
        assert_eq!(aud("https://acme.my.salesforce.com", None), prod);
        assert_eq!(aud("https://test.salesforce.com", None), test);
        assert_eq!(
            aud("https://acme--uat.sandbox.my.salesforce.com/", None),
            test
        );
        assert_eq!(aud("https://acme--uat.my.salesforce.com", None), test);
        assert_eq!(
            aud(
                "https://acme.my.salesforce.com",
                Some("https://acme.my.site.com/partners/")
            ),
            "https://acme.my.site.com/partners",
            "an Experience Cloud site is configured, not guessed"
        );
    }
}
