//! JWT bearer authentication (HS256 with SKYGENI_JWT_SECRET) and role-based deal visibility.
//!
//! Claims: `sub` (user id), `tenant_id`, `role` (admin | manager | rep), `exp`. Anything other
//! than a valid, unexpired HS256 token signed with our secret — including `alg: none` — is 401.
mod token_cache;

use crate::domain::TenantId;
use crate::http_error::ApiError;
use crate::store::{DealScope, Store, UserRow};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
pub use token_cache::TokenCache;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Rep,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "rep" => Ok(Role::Rep),
            _ => Err(format!("invalid role {s:?}: use admin, manager or rep")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Rep => "rep",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant_id: TenantId,
    pub role: Role,
    pub exp: u64,
}

/// The authenticated caller of one request (a request extension set by the auth middleware).
#[derive(Debug, Clone)]
pub struct Caller {
    pub sub: String,
    pub tenant: TenantId,
    pub role: Role,
    pub request_id: String,
}

/// Sign a token for `sub` valid for `ttl_secs` from now.
pub fn issue_token(
    secret: &SecretString,
    tenant: &TenantId,
    role: Role,
    sub: &str,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    // System time, the clock `verify_token_with` (and jsonwebtoken) judge `exp` by.
    let exp = (chrono::Utc::now().timestamp() + ttl_secs).max(0) as u64;
    let claims = Claims {
        sub: sub.to_string(),
        tenant_id: tenant.clone(),
        role,
        exp,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )?)
}

/// Longest accepted token lifetime unless SKYGENI_JWT_MAX_LIFETIME_SECS says otherwise (30 days).
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 30 * 24 * 3600;

/// Verify a bearer token with the default maximum lifetime.
pub fn verify_token(secret: &SecretString, token: &str) -> Result<Claims, ApiError> {
    verify_token_with(secret, token, DEFAULT_MAX_LIFETIME_SECS)
}

/// Verify a bearer token. Besides signature, algorithm and expiry: a `nbf` in the future, an
/// `exp` further away than `max_lifetime_secs` (a stolen long-lived token is worth less), and
/// an empty or control-character `sub` are refused. The message says what was wrong, never
/// anything about the secret.
pub fn verify_token_with(
    secret: &SecretString,
    token: &str,
    max_lifetime_secs: u64,
) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.expose_secret().as_bytes()),
        &validation,
    )
    .map(|d| d.claims)
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "token has expired",
            ErrorKind::ImmatureSignature => "token is not valid yet (nbf is in the future)",
            ErrorKind::InvalidSignature => "token signature is invalid",
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                "token algorithm must be HS256"
            }
            _ => "token is malformed or its claims are invalid",
        };
        ApiError::Unauthorized(why.into())
    })?;
    if claims.sub.trim().is_empty()
        || claims.sub.len() > 128
        || claims.sub.chars().any(char::is_control)
    {
        return Err(ApiError::Unauthorized(
            "token sub must be a non-empty user id without control characters".into(),
        ));
    }
    // The system clock on purpose, not the app's `Clock`: jsonwebtoken checks `exp` and `nbf`
    // against the system time itself, and the lifetime cap must use the same "now".
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    if claims.exp > now.saturating_add(max_lifetime_secs) {
        return Err(ApiError::Unauthorized(format!(
            "token lifetime exceeds the maximum of {max_lifetime_secs} seconds; issue a shorter-lived token"
        )));
    }
    Ok(claims)
}

/// Tenants seen to exist recently, so a token's `tenant_id` is checked against the database
/// at most once a minute per tenant (the API's hot path stays query-free). Only positive
/// answers are kept: a tenant added a moment ago is found on its first request.
#[derive(Debug, Default)]
pub struct KnownTenants {
    seen: std::sync::Mutex<std::collections::HashMap<TenantId, std::time::Instant>>,
}

/// How long a "this tenant exists" answer is trusted.
pub const KNOWN_TENANT_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl KnownTenants {
    /// `Ok(())` when `tenant` exists; 401 when it does not; 503 when the database is down.
    pub async fn check(&self, store: &Store, tenant: &TenantId) -> Result<(), ApiError> {
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .is_some_and(|at| at.elapsed() < KNOWN_TENANT_TTL);
        if fresh {
            return Ok(());
        }
        match store.get_tenant(tenant).await {
            Ok(_) => {
                self.seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(tenant.clone(), std::time::Instant::now());
                Ok(())
            }
            Err(crate::store::StoreError::NotFound) => Err(ApiError::Unauthorized(
                "token tenant_id does not name an existing tenant".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, ApiError> {
    let h = header.ok_or_else(|| ApiError::Unauthorized("missing Authorization header".into()))?;
    match h.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(ApiError::Unauthorized(
            "Authorization must be `Bearer <token>`".into(),
        )),
    }
}

/// Which deals the caller may see: admin the tenant; a rep deals whose `sales_rep_id` is their
/// id or whose owner email is theirs; a manager that plus their direct reports' deals.
pub async fn deal_scope(store: &Store, caller: &Caller) -> Result<DealScope, ApiError> {
    if caller.role == Role::Admin {
        return Ok(DealScope::All);
    }
    let me = store.get_user(&caller.tenant, &caller.sub).await?;
    let team = if caller.role == Role::Manager {
        store.team_of(&caller.tenant, &caller.sub).await?
    } else {
        Vec::new()
    };
    Ok(scope_from(caller, me, team))
}

/// The scope of a non-admin caller from their user row and direct reports (empty for reps).
pub fn scope_from(caller: &Caller, me: Option<UserRow>, team: Vec<UserRow>) -> DealScope {
    if caller.role == Role::Admin {
        return DealScope::All;
    }
    let mut rep_ids = vec![caller.sub.clone()];
    let mut emails: Vec<String> = me.and_then(|u| u.email).into_iter().collect();
    for u in team {
        rep_ids.push(u.user_id);
        emails.extend(u.email);
    }
    DealScope::Owners { rep_ids, emails }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_a_wrong_secret_is_rejected() {
        let secret = SecretString::from("s3cret");
        let t = TenantId::parse("acme").unwrap();
        let tok = issue_token(&secret, &t, Role::Manager, "u1", 60).unwrap();
        let c = verify_token(&secret, &tok).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.role, c.tenant_id),
            ("u1", Role::Manager, t)
        );
        let err = verify_token(&SecretString::from("other"), &tok).unwrap_err();
        assert!(matches!(err, ApiError::Unauthorized(m) if m.contains("signature")));
    }

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap()
    }

    #[test]
    fn future_nbf_overlong_exp_and_empty_sub_are_unauthorized() {
        let secret = SecretString::from("s3cret");
        let now = chrono::Utc::now().timestamp();
        let base =
            serde_json::json!({"sub": "u1", "tenant_id": "acme", "role": "rep", "exp": now + 600});
        assert!(verify_token_with(&secret, &signed(base.clone()), 3600).is_ok());
        let cases = [
            ("nbf", serde_json::json!(now + 300), "not valid yet"),
            ("exp", serde_json::json!(now + 7200), "lifetime"),
            ("sub", serde_json::json!(""), "sub"),
            ("sub", serde_json::json!("u\u{0}1"), "sub"),
        ];
        for (claim, value, why) in cases {
            let mut c = base.clone();
            c[claim] = value.clone();
            let err = verify_token_with(&secret, &signed(c), 3600).unwrap_err();
            assert!(
                matches!(&err, ApiError::Unauthorized(m) if m.contains(why)),
                "{claim}={value}: {err:?}"
            );
        }
    }

    #[test]
    fn bearer_header_must_name_the_scheme() {
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), "abc");
        assert!(bearer(Some("Basic abc")).is_err());
        assert!(bearer(None).is_err());
    }
}
