//! The Web API calls that carry no bot token: `oauth.v2.access` (install and token rotation; a
//! form POST with the client credentials in HTTP Basic auth, as Slack recommends) and posts to
//! an interaction's `response_url` (the URL is the credential).
use super::api::SlackApi;
use super::error::{SlackError, retry_after};
use serde_json::Value;

/// A bot token granted by oauth.v2.access (install or refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    pub access_token: String,
    pub team_id: String,
    pub team_name: String,
    pub bot_user_id: Option<String>,
    pub authed_user_id: Option<String>,
    pub scope: String,
    /// With token rotation: seconds until `access_token` expires, and the single-use refresh token.
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
}

impl SlackApi {
    /// `oauth.v2.access` with an authorization `code` (install). Client credentials go in HTTP
    /// Basic auth, as Slack recommends.
    pub async fn oauth_exchange(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<OAuthGrant, SlackError> {
        self.oauth(
            client_id,
            client_secret,
            &[("code", code), ("redirect_uri", redirect_uri)],
        )
        .await
    }

    /// `oauth.v2.access` with `grant_type=refresh_token` (token rotation).
    pub async fn oauth_refresh(
        &self,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Result<OAuthGrant, SlackError> {
        self.oauth(
            client_id,
            client_secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    async fn oauth(
        &self,
        client_id: &str,
        client_secret: &str,
        form: &[(&str, &str)],
    ) -> Result<OAuthGrant, SlackError> {
        let url = format!("{}/oauth.v2.access", self.base);
        let mut attempt = 1;
        let v = loop {
            let req = self
                .http
                .post(&url)
                .basic_auth(client_id, Some(client_secret))
                .form(form);
            match self.send_once(req).await {
                Ok(v) => break v,
                Err(e) => match self.wait_before_retry(&e, attempt) {
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    None => return Err(e),
                },
            }
        };
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        Ok(OAuthGrant {
            access_token: s("/access_token")
                .ok_or_else(|| SlackError::Permanent("missing_access_token".into()))?,
            team_id: s("/team/id").ok_or_else(|| SlackError::Permanent("missing_team".into()))?,
            team_name: s("/team/name").unwrap_or_default(),
            bot_user_id: s("/bot_user_id"),
            authed_user_id: s("/authed_user/id"),
            scope: s("/scope").unwrap_or_default(),
            expires_in: v["expires_in"].as_u64(),
            refresh_token: s("/refresh_token"),
        })
    }

    /// POSTs a message to a `response_url` (no token: the URL is the credential). `body` is a
    /// message plus `response_type` / `replace_original` as wanted. Retried like Web API calls.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        let mut attempt = 1;
        loop {
            let res = self
                .http
                .post(response_url)
                .json(body)
                .send()
                .await
                .map_err(|e| SlackError::Transient(format!("connection: {e}")));
            let err = match res {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().as_u16() == 429 => SlackError::RateLimited {
                    retry_after: retry_after(r.headers()),
                },
                Ok(r) if r.status().is_server_error() => {
                    SlackError::Transient(format!("http_{}", r.status().as_u16()))
                }
                // response_url errors come back as text (`expired_url`, `used_url`…).
                Ok(r) => SlackError::Permanent(
                    r.text()
                        .await
                        .unwrap_or_default()
                        .trim()
                        .chars()
                        .take(100)
                        .collect(),
                ),
                Err(e) => e,
            };
            match self.wait_before_retry(&err, attempt) {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(err),
            }
        }
    }
}
