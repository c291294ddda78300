//! Batched, asynchronous audit writes for the API.
//!
//! A commit per request is what limited API throughput on PostgreSQL, so handlers hand their
//! audit entries to a bounded channel and return; one background task writes them in
//! batches: it waits for the first entry, then collects more for up to `linger` or until
//! `batch_max` entries, and writes each tenant's entries in one tenant-scoped transaction
//! (multi-row INSERT, row-level security unchanged). A full channel makes callers wait
//! (backpressure) — entries are never dropped for lack of room.
//!
//! [`AuditWriter::flush`] returns once every entry queued before it is written; the server
//! calls it after draining in-flight requests on shutdown, and tests call it before reading
//! the audit log. Entries are stamped with their time when queued, so `at` is the time of
//! the access, not of the write.
use super::PendingAudit;
use crate::domain::TenantId;
use crate::store::Store;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Entries the channel holds before callers wait.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Most entries written per batch.
pub const DEFAULT_BATCH_MAX: usize = 500;
/// How long a batch waits for more entries after its first one.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(50);
/// Attempts per batch before the batch is given up (and logged as an error).
const WRITE_ATTEMPTS: u32 = 3;

enum Msg {
    Entry(PendingAudit),
    Flush(oneshot::Sender<()>),
}

/// Handle to the background audit writer; cheap to share behind an `Arc`.
pub struct AuditWriter {
    tx: mpsc::Sender<Msg>,
    store: Store,
}

impl AuditWriter {
    /// Start the writer task with the default capacity, batch size and linger.
    pub fn spawn(store: Store) -> AuditWriter {
        AuditWriter::spawn_with(store, DEFAULT_CAPACITY, DEFAULT_BATCH_MAX, DEFAULT_LINGER)
    }

    pub fn spawn_with(
        store: Store,
        capacity: usize,
        batch_max: usize,
        linger: Duration,
    ) -> AuditWriter {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(store.clone(), rx, batch_max.max(1), linger));
        AuditWriter { tx, store }
    }

    /// Queue one entry; waits only when the queue is full. Should the writer task be gone
    /// (its runtime shut down), the entry is written directly instead.
    pub async fn record(&self, entry: PendingAudit) {
        if let Err(mpsc::error::SendError(Msg::Entry(entry))) =
            self.tx.send(Msg::Entry(entry)).await
        {
            write_with_retries(&self.store, &entry.tenant.clone(), &[entry]).await;
        }
    }

    /// Returns once every entry queued before this call has been written (or given up).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Msg>, batch_max: usize, linger: Duration) {
    let mut batch: Vec<PendingAudit> = Vec::with_capacity(batch_max);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut closed = false;
        match first {
            Msg::Entry(e) => batch.push(e),
            Msg::Flush(a) => acks.push(a),
        }
        if acks.is_empty() {
            let deadline = tokio::time::Instant::now() + linger;
            while batch.len() < batch_max {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(Msg::Entry(e)) => batch.push(e),
                        Some(Msg::Flush(a)) => { acks.push(a); break; }
                        None => { closed = true; break; }
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        write_batch(&store, &mut batch).await;
        for a in acks.drain(..) {
            let _ = a.send(());
        }
        if closed {
            break;
        }
    }
}

/// Write `batch` grouped by tenant (order kept within a tenant), leaving it empty.
async fn write_batch(store: &Store, batch: &mut Vec<PendingAudit>) {
    if batch.is_empty() {
        return;
    }
    metrics::histogram!("skygeni_audit_batch_rows").record(batch.len() as f64);
    let mut groups: Vec<(TenantId, Vec<PendingAudit>)> = Vec::new();
    for e in batch.drain(..) {
        match groups.iter_mut().find(|(t, _)| *t == e.tenant) {
            Some((_, g)) => g.push(e),
            None => groups.push((e.tenant.clone(), vec![e])),
        }
    }
    for (tenant, entries) in &groups {
        write_with_retries(store, tenant, entries).await;
    }
}

async fn write_with_retries(store: &Store, tenant: &TenantId, entries: &[PendingAudit]) {
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.record_audit_batch(tenant, entries).await {
            Ok(()) => return,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(error = %e, tenant = %tenant, rows = entries.len(), attempt, "audit write failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(e) if entries.len() > 1 => {
                // One row the database refuses must not take the rest of the batch with it:
                // write them one by one and lose only the rows that still fail.
                tracing::warn!(error = %e, tenant = %tenant, rows = entries.len(), "audit batch failed; writing rows one by one");
                for entry in entries {
                    if let Err(e) = store
                        .record_audit_batch(tenant, std::slice::from_ref(entry))
                        .await
                    {
                        metrics::counter!("skygeni_audit_rows_lost_total").increment(1);
                        tracing::error!(error = %e, tenant = %tenant, action = %entry.action, "audit row lost");
                    }
                }
            }
            Err(e) => {
                metrics::counter!("skygeni_audit_rows_lost_total").increment(entries.len() as u64);
                tracing::error!(error = %e, tenant = %tenant, rows = entries.len(), "audit write failed; entries lost");
            }
        }
    }
}
