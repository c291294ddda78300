//! The JWT bearer flow (RS256): a pre-authorized integration user and the connected app's
//! key get tokens without a person in the loop; `connect_jwt` proves the key and user work.
use super::{Credentials, Grant, fetch_access_token, jwt_key, org_id_from_identity};
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::TenantId;
use crate::store::{SfConnectionRow, Store};
use anyhow::Context;
use serde::Serialize;

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
    let creds = Credentials::from_settings(
        settings,
        Grant::Jwt {
            username: username.to_string(),
            private_key_pem: jwt_key(settings)?,
        },
    )?;
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
    crate::crm::salesforce::org_secret::after_connect(settings, store, secrets, http, tenant)
        .await?;
    Ok(org_id)
}

#[cfg(test)]
mod tests {
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
