//! JWT bearer authentication (HS256 with SKYGENI_JWT_SECRET) and role-based deal visibility.
//!
//! Claims: `sub` (user id), `tenant_id`, `role` (admin | manager | rep), `exp`. Anything other
//! than a valid, unexpired HS256 token signed with our secret — including `alg: none` — is 401.
use super::error::ApiError;
use crate::domain::TenantId;
use crate::store::{DealScope, Store, UserRow};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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

/// Verify a bearer token. The message says what was wrong, never anything about the secret.
pub fn verify_token(secret: &SecretString, token: &str) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.expose_secret().as_bytes()),
        &validation,
    )
    .map(|d| d.claims)
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "token has expired",
            ErrorKind::InvalidSignature => "token signature is invalid",
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                "token algorithm must be HS256"
            }
            _ => "token is malformed or its claims are invalid",
        };
        ApiError::Unauthorized(why.into())
    })
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

    #[test]
    fn bearer_header_must_name_the_scheme() {
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), "abc");
        assert!(bearer(Some("Basic abc")).is_err());
        assert!(bearer(None).is_err());
    }
}
