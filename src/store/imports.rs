//! What CSV imports remember per tenant: the column mapping given for an export (by header
//! key) and the deal owners the export names, as users.
use super::{Store, StoreResult, format_ts, storable_text};
use crate::domain::{DealOwner, TenantId};
use std::collections::{HashMap, HashSet};

impl Store {
    /// Saves (or replaces) the mapping JSON for the export whose header hashes to `header_key`.
    pub async fn save_import_mapping(
        &self,
        tenant: &TenantId,
        header_key: &str,
        mapping_json: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "INSERT INTO import_mappings (tenant_id, header_key, mapping, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, header_key) DO UPDATE SET \
             mapping = excluded.mapping, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str().to_string())
        .bind(header_key.to_string())
        .bind(mapping_json.to_string())
        .bind(format_ts(chrono::Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The mapping JSON saved for this export's header, if any.
    pub async fn import_mapping(
        &self,
        tenant: &TenantId,
        header_key: &str,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT mapping FROM import_mappings WHERE tenant_id = $1 AND header_key = $2",
        )
        .bind(tenant.as_str().to_string())
        .bind(header_key.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.0))
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
        let now = format_ts(chrono::Utc::now());
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
