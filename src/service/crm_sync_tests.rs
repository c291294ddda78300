//! The pipeline on a CRM that is not Salesforce: an in-memory source proves the seam carries
//! everything a sync needs (watermark, deferral, counts) without any Salesforce module.
use super::*;
use crate::crm::source::{Census, CrmFuture, CrmNames, Pulled, Stop, TaskCounts, WritebackCounts};
use crate::engine::PipelineRanks;
use chrono::{NaiveDate, TimeZone};
use std::sync::Mutex;

static NAMES: CrmNames = CrmNames {
    id: "memory",
    name: "Memory CRM",
    record: "Deal",
};

#[derive(Debug, thiserror::Error)]
#[error("memory CRM is down")]
struct Down;

/// How the pull fails: with an error the source names as a stop, or with any other.
#[derive(Clone, Copy)]
enum Fault {
    Down,
    Broken,
}

/// A CRM holding `deals`; every call is logged, and a `fault` makes the pull fail.
struct MemoryCrm {
    tenant: TenantId,
    deals: Vec<Deal>,
    newest: DateTime<Utc>,
    fault: Option<Fault>,
    calls: Mutex<Vec<String>>,
}

impl MemoryCrm {
    fn new(deals: Vec<Deal>) -> MemoryCrm {
        MemoryCrm {
            tenant: TenantId::default_tenant(),
            deals,
            newest: Utc.with_ymd_and_hms(2024, 2, 29, 18, 30, 0).unwrap(),
            fault: None,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl CrmSource for MemoryCrm {
    fn names(&self) -> &'static CrmNames {
        &NAMES
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn connect(&self) -> CrmFuture<'_, ()> {
        self.log("connect".into());
        Box::pin(async { Ok(()) })
    }

    fn census(&self, _since: Option<DateTime<Utc>>) -> CrmFuture<'_, Census> {
        self.log("census".into());
        let records = self.deals.len() as u64;
        Box::pin(async move {
            Ok(Census {
                records,
                bulk: false,
            })
        })
    }

    fn pull<'a>(
        &'a self,
        since: Option<DateTime<Utc>>,
        _census: Census,
        _as_of: NaiveDate,
        _progress: Progress<'a>,
    ) -> CrmFuture<'a, Pulled> {
        self.log(format!("pull since {since:?}"));
        Box::pin(async move {
            match self.fault {
                Some(Fault::Down) => return Err(Down.into()),
                Some(Fault::Broken) => anyhow::bail!("unexpected answer"),
                None => {}
            }
            Ok(Pulled {
                live: self.deals.len() as u64,
                deals: self.deals.clone(),
                newest_change: Some(self.newest),
                ..Pulled::default()
            })
        })
    }

    fn pull_records<'a>(&'a self, ids: &'a [String], _as_of: NaiveDate) -> CrmFuture<'a, Pulled> {
        self.log(format!("pull {} records", ids.len()));
        Box::pin(async move {
            Ok(Pulled {
                deals: (self.deals.iter())
                    .filter(|d| ids.contains(&d.deal_id))
                    .cloned()
                    .collect(),
                live: ids.len() as u64,
                ..Pulled::default()
            })
        })
    }

    fn write_back<'a>(
        &'a self,
        scores: &'a [DealScore],
        _ranks: &'a PipelineRanks,
        _now: DateTime<Utc>,
    ) -> CrmFuture<'a, WritebackCounts> {
        self.log(format!("write back {}", scores.len()));
        Box::pin(async move {
            Ok(WritebackCounts {
                written: scores.len() as u64,
                ..WritebackCounts::default()
            })
        })
    }

    fn upsert_tasks<'a>(
        &'a self,
        _open: &'a [Deal],
        scores: &'a [DealScore],
        _today: NaiveDate,
    ) -> CrmFuture<'a, TaskCounts> {
        self.log(format!("tasks for {}", scores.len()));
        Box::pin(async { Ok(TaskCounts::default()) })
    }

    fn refusals<'a>(
        &'a self,
        _quality: &'a mut QualityReport,
    ) -> CrmFuture<'a, Vec<WritebackRejection>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn stop(&self, error: &anyhow::Error) -> Option<Stop> {
        error.downcast_ref::<Down>().map(|_| Stop::Unavailable {
            retry_in: chrono::Duration::minutes(15),
        })
    }

    fn api_calls(&self) -> u64 {
        self.calls.lock().unwrap().len() as u64
    }
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crm.db").display());
    (dir, Store::connect(&url).await.unwrap())
}

/// 300 generated rows (open and closed, so the segment rates have history).
fn deals() -> Vec<Deal> {
    let csv = crate::crm::synthetic::generated_csv(300, "M");
    let as_of = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
    crate::crm::parse_csv_bytes(csv.as_bytes(), as_of)
        .unwrap()
        .deals
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, h, m, 0).unwrap()
}

#[tokio::test]
async fn any_source_is_pulled_stored_scored_written_back_and_resumed_from_its_newest_change() {
    let (_dir, store) = store().await;
    let crm = MemoryCrm::new(deals());
    let open = crm.deals.iter().filter(|d| d.is_open()).count() as u64;
    assert!(open > 0, "the generated rows hold open deals");
    let mut quiet = |_: &str, _: u64, _: u64| {};

    let r = sync(&store, &crm, at(2, 0), false, &mut quiet)
        .await
        .unwrap();
    assert_eq!(r.status, "ok", "{r:?}");
    assert!(r.full_load, "no watermark yet");
    assert_eq!((r.pulled, r.upserted), (300, 300), "{r:?}");
    assert_eq!((r.scored, r.written_back), (open, open), "{r:?}");
    assert_eq!(
        r.high_water_mark.as_deref(),
        Some("2024-02-29T18:30:00.000Z")
    );
    assert_eq!(
        crm.calls(),
        [
            "connect".to_string(),
            "census".into(),
            "pull since None".into(),
            format!("write back {open}"),
            format!("tasks for {open}"),
        ]
    );
    let state = store.sync_state(&crm.tenant, "memory").await.unwrap();
    assert_eq!((state.status.as_str(), state.last_count), ("ok", Some(300)));

    let r = sync(&store, &crm, at(3, 0), false, &mut quiet)
        .await
        .unwrap();
    assert!(!r.full_load);
    assert_eq!((r.upserted, r.unchanged), (0, 300), "{r:?}");
    assert_eq!(crm.calls()[2], format!("pull since {:?}", Some(crm.newest)));
}

#[tokio::test]
async fn a_stop_the_source_names_defers_the_tenant_keeps_the_watermark_and_calls_nothing_meanwhile()
{
    let (_dir, store) = store().await;
    let mut crm = MemoryCrm::new(deals());
    let mut quiet = |_: &str, _: u64, _: u64| {};
    sync(&store, &crm, at(2, 0), false, &mut quiet)
        .await
        .unwrap();
    crm.calls();

    crm.fault = Some(Fault::Down);
    let r = sync(&store, &crm, at(2, 30), false, &mut quiet)
        .await
        .unwrap();
    assert_eq!(r.status, "unavailable", "{r:?}");
    assert_eq!(r.deferred_until, Some(at(2, 45)));
    assert!(r.detail.unwrap().contains("memory CRM is down"));
    let state = store.sync_state(&crm.tenant, "memory").await.unwrap();
    assert_eq!(state.status, "unavailable");
    assert_eq!(
        state.high_water_mark.as_deref(),
        Some("2024-02-29T18:30:00.000Z"),
        "a stopped sync keeps the watermark"
    );
    crm.calls();

    crm.fault = None;
    let r = sync(&store, &crm, at(2, 40), false, &mut quiet)
        .await
        .unwrap();
    assert_eq!(r.status, "deferred");
    assert!(crm.calls().is_empty(), "no call while deferred");
    let r = sync(&store, &crm, at(2, 40), true, &mut quiet)
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.forced), ("ok", true));
}

#[tokio::test]
async fn an_error_the_source_does_not_name_fails_the_sync_and_is_stored_as_failed() {
    let (_dir, store) = store().await;
    let mut crm = MemoryCrm::new(deals());
    crm.fault = Some(Fault::Broken);
    let mut quiet = |_: &str, _: u64, _: u64| {};
    let err = sync(&store, &crm, at(2, 0), false, &mut quiet)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "Memory CRM sync failed for tenant default: unexpected answer"
    );
    let state = store.sync_state(&crm.tenant, "memory").await.unwrap();
    assert_eq!(state.status, "failed");
    assert_eq!(state.detail.as_deref(), Some("unexpected answer"));
    assert_eq!(state.high_water_mark, None);
    assert_eq!(
        store.count_deals(&crm.tenant).await.unwrap(),
        0,
        "nothing stored"
    );
}
