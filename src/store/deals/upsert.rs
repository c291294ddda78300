//! The atomic bulk upsert of deals from imports and syncs, with a content hash per row so a
//! re-import rewrites only what changed.
use super::DEAL_COLUMNS;
use crate::domain::{Deal, TenantId};
use crate::store::sql::{bind_f64, values_sql};
use crate::store::{Backend, Store, StoreResult, format_ts};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Rows per INSERT on PostgreSQL: 400 × 23 binds stays below its 65,535 limit and keeps
/// round trips few.
const PG_CHUNK: usize = 400;

/// What an upsert did, so a re-import can say "0 new, 0 changed".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
}

/// A deal with the fingerprint of its content.
pub struct DealUpsert<'a> {
    pub deal: &'a Deal,
    pub row_hash: String,
}

/// Content fingerprint: equal for equal deals, so unchanged rows are not rewritten.
pub fn row_hash(deal: &Deal) -> String {
    let json = serde_json::to_vec(deal).expect("a Deal always serialises");
    hex::encode(&Sha256::digest(&json)[..16])
}

impl Store {
    /// Insert new deals and update changed ones in ONE transaction: either the whole batch
    /// lands or nothing does. `progress` is called with the number of rows handled so far.
    pub async fn upsert_deals(
        &self,
        tenant: &TenantId,
        deals: &[Deal],
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> StoreResult<ImportCounts> {
        let mut tx = self.begin_tenant(tenant).await?;
        let existing: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT deal_id, row_hash FROM deals WHERE tenant_id = $1",
        )
        .bind(tenant.as_str().to_string())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut counts = ImportCounts::default();
        let mut pending = Vec::new();
        for deal in deals {
            let hash = row_hash(deal);
            match existing.get(&deal.deal_id) {
                None => counts.new += 1,
                Some(h) if *h == hash => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(_) => counts.changed += 1,
            }
            pending.push(DealUpsert {
                deal,
                row_hash: hash,
            });
        }
        let now = format_ts(self.now());
        let mut done = counts.unchanged;
        progress(done);
        for chunk in self.insert_batches(&pending, PG_CHUNK) {
            let sql = upsert_sql(self.backend(), chunk.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for u in chunk {
                let d = u.deal;
                q = q
                    .bind(tenant.as_str().to_string())
                    .bind(d.deal_id.clone())
                    .bind(d.created_date.to_string())
                    .bind(d.closed_date.map(|x| x.to_string()))
                    .bind(d.sales_rep_id.clone())
                    .bind(d.industry.clone())
                    .bind(d.region.clone())
                    .bind(d.product_type.clone())
                    .bind(d.lead_source.clone())
                    .bind(d.deal_stage.clone())
                    .bind(d.amount)
                    .bind(d.sales_cycle_days)
                    .bind(d.outcome.map(|o| o.as_str().to_string()))
                    .bind(d.company.clone())
                    .bind(d.deal_name.clone())
                    .bind(d.owner_email.clone())
                    .bind(d.last_activity_date.map(|x| x.to_string()))
                    .bind(d.stage_entered_date.map(|x| x.to_string()))
                    .bind(d.close_date_pushes.map(i64::from));
                q = bind_f64(q, d.amount_cut_pct)
                    .bind(u.row_hash.clone())
                    .bind(now.clone())
                    .bind(now.clone());
            }
            q.execute(&mut *tx).await?;
            done += chunk.len() as u64;
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }
}

fn upsert_sql(backend: Backend, rows: usize) -> String {
    let ncols = DEAL_COLUMNS.len() + 4; // tenant_id first, then row_hash, imported_at, updated_at
    let mut sql = format!(
        "INSERT INTO deals (tenant_id, {}, row_hash, imported_at, updated_at) VALUES ",
        DEAL_COLUMNS.join(", ")
    );
    sql.push_str(&values_sql(backend, rows, ncols));
    sql.push_str(" ON CONFLICT (tenant_id, deal_id) DO UPDATE SET ");
    let sets: Vec<String> = DEAL_COLUMNS[1..]
        .iter()
        .chain(["row_hash", "updated_at"].iter())
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    sql.push_str(&sets.join(", "));
    sql
}
