//! Users brought in from outside: deal owners named by a CSV export, and users of the
//! connected Salesforce org. Both link to an existing user by email rather than duplicate one.
use crate::domain::{DealOwner, TenantId};
use crate::store::{Store, StoreResult, format_ts, storable_text};
use std::collections::{HashMap, HashSet};

/// A user from the org, with the columns `users` keeps for Salesforce.
#[derive(Debug, Clone, PartialEq)]
pub struct SfUser {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: &'static str,
    pub manager_id: Option<String>,
    pub time_zone: String,
}

impl Store {
    /// Insert or update users from the org in one transaction. A user already known by email
    /// under another id (e.g. an admin added by hand) is linked instead of duplicated, and an
    /// admin keeps the admin role.
    pub async fn upsert_sf_users(&self, tenant: &TenantId, users: &[SfUser]) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let t = tenant.as_str().to_string();
        let by_email: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT lower(email), user_id FROM users WHERE tenant_id = $1 AND email IS NOT NULL",
        )
        .bind(t.clone())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let now = format_ts(self.now());
        for u in users {
            let email = u.email.as_ref().map(|e| e.to_ascii_lowercase());
            let linked = email
                .as_ref()
                .and_then(|e| by_email.get(e))
                .filter(|id| **id != u.user_id);
            if let Some(existing) = linked {
                sqlx::query(
                    "UPDATE users SET salesforce_user_id = $3, manager_id = $4, time_zone = $5 \
                     WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(t.clone())
                .bind(existing.clone())
                .bind(u.user_id.clone())
                .bind(u.manager_id.clone())
                .bind(u.time_zone.clone())
                .execute(&mut *tx)
                .await?;
                continue;
            }
            sqlx::query(
                "INSERT INTO users (tenant_id, user_id, email, name, role, salesforce_user_id, manager_id, time_zone, created_at) \
                 VALUES ($1,$2,$3,$4,$5,$2,$6,$7,$8) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
                 email = excluded.email, name = excluded.name, \
                 role = CASE WHEN users.role = 'admin' THEN 'admin' ELSE excluded.role END, \
                 salesforce_user_id = excluded.salesforce_user_id, manager_id = excluded.manager_id, \
                 time_zone = excluded.time_zone",
            )
            .bind(t.clone())
            .bind(u.user_id.clone())
            .bind(email)
            .bind(u.name.clone())
            .bind(u.role.to_string())
            .bind(u.manager_id.clone())
            .bind(u.time_zone.clone())
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(users.len() as u64)
    }

    /// Makes each owner a user of the tenant (role `rep`) in one transaction. Existing users
    /// keep their role and anything already set: an owner whose email another user already has
    /// is that user (nothing is changed), and a known user id only gains a missing email/name.
    /// Returns how many users were created.
    pub async fn upsert_deal_owners(
        &self,
        tenant: &TenantId,
        owners: &[DealOwner],
    ) -> StoreResult<u64> {
        if owners.is_empty() {
            return Ok(0);
        }
        let t = tenant.as_str().to_string();
        let mut tx = self.begin_tenant(tenant).await?;
        let known: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT user_id, lower(email) FROM users WHERE tenant_id = $1")
                .bind(t.clone())
                .fetch_all(&mut *tx)
                .await?;
        let by_email: HashMap<String, String> = known
            .iter()
            .filter_map(|(id, e)| e.clone().map(|e| (e, id.clone())))
            .collect();
        let ids: HashSet<&str> = known.iter().map(|(id, _)| id.as_str()).collect();
        let now = format_ts(self.now());
        let mut created = 0;
        let mut claimed = HashSet::new();
        for o in owners {
            let email = o.email.as_ref().map(|e| e.to_ascii_lowercase());
            // An address belongs to one user: an owner whose address another user has is that
            // user (alerts find a deal's owner by email too), so nothing is written for them.
            if let Some(e) = &email
                && by_email.get(e).is_some_and(|id| *id != o.user_id)
            {
                continue;
            }
            let email = email.filter(|e| claimed.insert(e.clone()));
            let name = o.name.as_deref().map(storable_text);
            let inserted = sqlx::query(
                "INSERT INTO users (tenant_id, user_id, email, name, role, created_at) \
                 VALUES ($1, $2, $3, $4, 'rep', $5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
                 email = COALESCE(users.email, excluded.email), \
                 name = COALESCE(users.name, excluded.name)",
            )
            .bind(t.clone())
            .bind(storable_text(&o.user_id))
            .bind(email)
            .bind(name)
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() > 0 && !ids.contains(o.user_id.as_str()) {
                created += 1;
            }
        }
        tx.commit().await?;
        Ok(created)
    }
}
