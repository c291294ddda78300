//! Remote fault switches for a running fake (used by the load kit's scenario scripts, which
//! run the fakes as a separate process): `POST /_control/faults` with
//! `{"next": 5, "fault": {"server_error": 503}}`, `{"always": {"rate_limited": 30}}`,
//! `{"latency_ms": 200}`, or `DELETE /_control/faults` to heal.
use crate::faults::{Fault, Faults};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultSpec {
    ServerError(u16),
    RateLimited(u64),
    DelayMs(u64),
    Drop,
    LoseResponse,
}

impl From<FaultSpec> for Fault {
    fn from(s: FaultSpec) -> Fault {
        match s {
            FaultSpec::ServerError(code) => Fault::ServerError(code),
            FaultSpec::RateLimited(secs) => Fault::RateLimited {
                retry_after_secs: secs,
            },
            FaultSpec::DelayMs(ms) => Fault::Delay(Duration::from_millis(ms)),
            FaultSpec::Drop => Fault::Drop,
            FaultSpec::LoseResponse => Fault::LoseResponse,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct FaultRequest {
    next: Option<usize>,
    fault: Option<FaultSpec>,
    always: Option<FaultSpec>,
    latency_ms: Option<u64>,
}

/// The `/_control/faults` routes for one fake's switches.
pub fn router(faults: Faults) -> Router {
    Router::new()
        .route("/_control/faults", post(set).delete(clear))
        .with_state(faults)
}

async fn set(
    State(f): State<Faults>,
    Json(req): Json<FaultRequest>,
) -> Result<StatusCode, (StatusCode, String)> {
    let mut did = false;
    if let (Some(n), Some(fault)) = (req.next, req.fault) {
        f.next(n, fault.into());
        did = true;
    }
    if let Some(fault) = req.always {
        f.always(fault.into());
        did = true;
    }
    if let Some(ms) = req.latency_ms {
        f.latency(Duration::from_millis(ms));
        did = true;
    }
    if did {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err((
            StatusCode::BAD_REQUEST,
            "give {\"next\": N, \"fault\": F}, {\"always\": F} or {\"latency_ms\": MS}".into(),
        ))
    }
}

async fn clear(State(f): State<Faults>) -> StatusCode {
    f.clear();
    StatusCode::NO_CONTENT
}
