//! Model registry: versions per tenant and a global one, aliases production/staging,
//! promotion history for rollback, and pruning to the last 3 production versions. What the
//! model lifecycle records about them (retrain evaluations, calibration checks) is in
//! `evaluations`.
mod evaluations;

pub use evaluations::{CalibrationCheck, ClosedPrediction, ModelEvaluation};

use crate::domain::ModelScope;
use crate::store::{Store, StoreError, StoreResult, format_ts};

/// Production versions kept for rollback (older ones are pruned on promotion).
pub const KEEP_PRODUCTION_VERSIONS: usize = 3;

/// A model to store. The artifact is the engine's JSON; the store does not look inside.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    pub version: &'a str,
    pub kind: &'a str,
    pub training_from: Option<String>,
    pub training_to: Option<String>,
    pub metrics_json: String,
    pub artifact_json: String,
}

/// A `models` row as listed (the artifact stays in the database); metrics as JSON text.
#[derive(sqlx::FromRow)]
struct ModelRecord {
    version: String,
    kind: String,
    created_at: String,
    training_from: Option<String>,
    training_to: Option<String>,
    metrics: String,
}

/// A stored model version with the aliases that point at it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelRow {
    pub version: String,
    pub kind: String,
    pub created_at: String,
    pub training_from: Option<String>,
    pub training_to: Option<String>,
    pub metrics: serde_json::Value,
    pub aliases: Vec<String>,
}

impl Store {
    pub async fn save_model(&self, scope: &ModelScope, m: &NewModel<'_>) -> StoreResult<()> {
        let mut tx = self.begin_scope(scope.as_str()).await?;
        sqlx::query(
            "INSERT INTO models (tenant_id, version, kind, created_at, training_from, training_to, metrics, artifact) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope.as_str().to_string())
        .bind(m.version.to_string())
        .bind(m.kind.to_string())
        .bind(format_ts(self.now()))
        .bind(m.training_from.clone())
        .bind(m.training_to.clone())
        .bind(m.metrics_json.clone())
        .bind(m.artifact_json.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Point `alias` at `version` (which must exist), record the promotion, prune old versions.
    pub async fn set_model_alias(
        &self,
        scope: &ModelScope,
        alias: &str,
        version: &str,
        reason: &str,
    ) -> StoreResult<()> {
        let s = scope.as_str().to_string();
        let mut tx = self.begin_scope(&s).await?;
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT version FROM models WHERE tenant_id = $1 AND version = $2")
                .bind(s.clone())
                .bind(version.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let now = format_ts(self.now());
        sqlx::query(
            "INSERT INTO model_aliases (tenant_id, alias, version, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        )
        .bind(s.clone())
        .bind(alias.to_string())
        .bind(version.to_string())
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO model_promotions (tenant_id, promoted_at, alias, version, reason) VALUES ($1, $2, $3, $4, $5)")
            .bind(s.clone())
            .bind(now)
            .bind(alias.to_string())
            .bind(version.to_string())
            .bind(reason.to_string())
            .execute(&mut *tx)
            .await?;
        prune(&mut tx, &s).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn model_alias(
        &self,
        scope: &ModelScope,
        alias: &str,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_scope(scope.as_str()).await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT version FROM model_aliases WHERE tenant_id = $1 AND alias = $2")
                .bind(scope.as_str().to_string())
                .bind(alias.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.0))
    }

    /// The stored artifact JSON of one version.
    pub async fn load_model_json(&self, scope: &ModelScope, version: &str) -> StoreResult<String> {
        let mut tx = self.begin_scope(scope.as_str()).await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT artifact FROM models WHERE tenant_id = $1 AND version = $2")
                .bind(scope.as_str().to_string())
                .bind(version.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        row.map(|r| r.0).ok_or(StoreError::NotFound)
    }

    /// Newest first.
    pub async fn list_models(&self, scope: &ModelScope) -> StoreResult<Vec<ModelRow>> {
        let s = scope.as_str().to_string();
        let mut tx = self.begin_scope(&s).await?;
        let rows: Vec<ModelRecord> = sqlx::query_as(
            "SELECT version, kind, created_at, training_from, training_to, metrics FROM models \
             WHERE tenant_id = $1 ORDER BY created_at DESC, version DESC",
        )
        .bind(s.clone())
        .fetch_all(&mut *tx)
        .await?;
        let aliases: Vec<(String, String)> = sqlx::query_as(
            "SELECT alias, version FROM model_aliases WHERE tenant_id = $1 ORDER BY alias",
        )
        .bind(s)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| ModelRow {
                aliases: aliases
                    .iter()
                    .filter(|(_, v)| *v == r.version)
                    .map(|(a, _)| a.clone())
                    .collect(),
                // Metrics are for reading: an unreadable blob shows as null, not an error.
                metrics: serde_json::from_str(&r.metrics).unwrap_or(serde_json::Value::Null),
                version: r.version,
                kind: r.kind,
                created_at: r.created_at,
                training_from: r.training_from,
                training_to: r.training_to,
            })
            .collect())
    }

    /// Put the previous production version back. Returns (from, to) versions.
    pub async fn rollback_production(&self, scope: &ModelScope) -> StoreResult<(String, String)> {
        let s = scope.as_str().to_string();
        let mut tx = self.begin_scope(&s).await?;
        // The promotion history is a stack: rolling back pops the current version off it.
        let history: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.promoted_at, p.version FROM model_promotions p \
             JOIN models m ON m.tenant_id = p.tenant_id AND m.version = p.version \
             WHERE p.tenant_id = $1 AND p.alias = 'production' ORDER BY p.promoted_at DESC",
        )
        .bind(s.clone())
        .fetch_all(&mut *tx)
        .await?;
        let current: Option<(String,)> = sqlx::query_as(
            "SELECT version FROM model_aliases WHERE tenant_id = $1 AND alias = 'production'",
        )
        .bind(s.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let current = current
            .map(|c| c.0)
            .ok_or_else(|| StoreError::Conflict("there is no production model".into()))?;
        let previous = history
            .iter()
            .map(|(_, v)| v)
            .find(|v| **v != current)
            .cloned()
            .ok_or_else(|| {
                StoreError::Conflict(format!(
                    "no earlier production version to roll back to from {current}"
                ))
            })?;
        sqlx::query("DELETE FROM model_promotions WHERE tenant_id = $1 AND alias = 'production' AND version = $2")
            .bind(s.clone())
            .bind(current.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE model_aliases SET version = $3, updated_at = $4 WHERE tenant_id = $1 AND alias = $2")
            .bind(s)
            .bind("production".to_string())
            .bind(previous.clone())
            .bind(format_ts(self.now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((current, previous))
    }
}

/// Keep the versions of the last few production promotions and whatever an alias points at.
async fn prune(tx: &mut sqlx::Transaction<'static, sqlx::Any>, scope: &str) -> StoreResult<()> {
    let promoted: Vec<(String,)> = sqlx::query_as(
        "SELECT version FROM model_promotions WHERE tenant_id = $1 AND alias = 'production' ORDER BY promoted_at DESC",
    )
    .bind(scope.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let mut keep: Vec<String> = Vec::new();
    for (v,) in promoted {
        if !keep.contains(&v) {
            keep.push(v);
        }
        if keep.len() == KEEP_PRODUCTION_VERSIONS {
            break;
        }
    }
    let aliased: Vec<(String,)> =
        sqlx::query_as("SELECT version FROM model_aliases WHERE tenant_id = $1")
            .bind(scope.to_string())
            .fetch_all(&mut **tx)
            .await?;
    keep.extend(aliased.into_iter().map(|r| r.0));
    let all: Vec<(String,)> = sqlx::query_as("SELECT version FROM models WHERE tenant_id = $1")
        .bind(scope.to_string())
        .fetch_all(&mut **tx)
        .await?;
    for (v,) in all.into_iter().filter(|(v,)| !keep.contains(v)) {
        for sql in [
            "DELETE FROM model_promotions WHERE tenant_id = $1 AND version = $2",
            "DELETE FROM models WHERE tenant_id = $1 AND version = $2",
        ] {
            sqlx::query(sql)
                .bind(scope.to_string())
                .bind(v.clone())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
