//! The OAuth 2.0 web-server flow an admin goes through to connect an org: authorization code
//! + PKCE + a single-use state, through the `oauth2` crate over our reqwest client.
use super::org_id_from_identity;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::TenantId;
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
use secrecy::ExposeSecret;
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
    crate::crm::salesforce::org_secret::after_connect(settings, store, secrets, http, &tenant)
        .await
        .map_err(CallbackError::Setup)?;
    Ok(tenant)
}
