//! Every column that holds a value sealed with `SKYGENI_ENCRYPTION_KEY`, read and rewritten
//! together for key rotation (`skygeni rotate-key`). Short-lived OAuth `state` rows are left
//! out: they expire within minutes, before the old key is retired.
use crate::domain::TenantId;
use crate::store::{Store, StoreResult};

/// (table, row-key column, sealed columns). Each table is keyed by (tenant_id, key column).
const SEALED: &[(&str, &str, &[&str])] = &[
    ("slack_installs", "team_id", &["bot_token", "refresh_token"]),
    (
        "salesforce_connections",
        "org_id",
        &["instance_url_sealed", "refresh_token_sealed"],
    ),
];

/// One sealed value and where it lives.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub table: &'static str,
    pub key_column: &'static str,
    pub key: String,
    pub column: &'static str,
    pub sealed: String,
}

impl Store {
    /// Every sealed value of the tenant.
    pub async fn sealed_values(&self, tenant: &TenantId) -> StoreResult<Vec<SealedValue>> {
        let mut tx = self.begin_tenant(tenant).await?;
        let mut out = Vec::new();
        for (table, key_column, columns) in SEALED {
            for column in *columns {
                let sql = format!(
                    "SELECT {key_column}, {column} FROM {table} \
                     WHERE tenant_id = $1 AND {column} IS NOT NULL"
                );
                let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.as_str().to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                out.extend(rows.into_iter().map(|(key, sealed)| SealedValue {
                    table,
                    key_column,
                    key,
                    column,
                    sealed,
                }));
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Replace sealed values (each only if it still holds the value read), in one transaction.
    /// Returns how many rows changed.
    pub async fn reseal_values(
        &self,
        tenant: &TenantId,
        updates: &[(SealedValue, String)],
    ) -> StoreResult<u64> {
        let mut tx = self.begin_tenant(tenant).await?;
        let mut changed = 0;
        for (v, resealed) in updates {
            let sql = format!(
                "UPDATE {} SET {col} = $1 WHERE tenant_id = $2 AND {} = $3 AND {col} = $4",
                v.table,
                v.key_column,
                col = v.column
            );
            changed += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(resealed.clone())
                .bind(tenant.as_str().to_string())
                .bind(v.key.clone())
                .bind(v.sealed.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }
}
