//! Request-level limits wired in by `http::router`: a deadline for reading a request body,
//! and the pre-body check of the signed routes (Slack, Salesforce webhook) — signature and
//! timestamp headers present and fresh before a byte of the body is read, and a smaller body
//! limit — so unsigned or replayed floods cost neither memory nor a signature computation.
use crate::app::AppState;
use crate::http_error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::time::Duration;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// The request-id header every response carries (set or propagated by the router).
pub const REQUEST_ID: &str = "x-request-id";

/// Body limit of the signed routes: Slack payloads (even a modal's whole view state) and
/// Salesforce notifications are far smaller.
pub const SIGNED_BODY_LIMIT: usize = 256 * 1024;

/// How a signed route's headers are named and how fresh its timestamp must be.
struct Signed {
    signature: &'static str,
    timestamp: &'static str,
    /// The timestamp's unit per second (1 for Slack's seconds, 1000 for our webhook's ms).
    per_second: i64,
    max_skew_secs: i64,
    /// When set, every header refusal answers this one message (the reason is only logged), so
    /// the answer does not tell a prober which check failed (the Salesforce webhook's rule).
    uniform_refusal: Option<&'static str>,
}

const SLACK: Signed = Signed {
    signature: crate::slack::signature::SIGNATURE_HEADER,
    timestamp: crate::slack::signature::TIMESTAMP_HEADER,
    per_second: 1,
    max_skew_secs: crate::slack::signature::MAX_CLOCK_SKEW_SECS,
    uniform_refusal: None,
};

const SALESFORCE: Signed = Signed {
    signature: crate::crm::salesforce::fields::WEBHOOK_SIGNATURE_HEADER,
    timestamp: crate::crm::salesforce::fields::WEBHOOK_TIMESTAMP_HEADER,
    per_second: 1000,
    max_skew_secs: crate::crm::salesforce::webhook::MAX_SKEW_MS / 1000,
    uniform_refusal: Some(crate::crm::salesforce::routes::REJECTED),
};

fn signed_route(path: &str) -> Option<&'static Signed> {
    match path {
        crate::slack::COMMANDS_PATH
        | crate::slack::INTERACTIONS_PATH
        | crate::slack::EVENTS_PATH => Some(&SLACK),
        "/webhooks/salesforce" => Some(&SALESFORCE),
        _ => None,
    }
}

/// Why a signed request is refused before its body is read, if it is.
fn precheck(req: &Request, s: &Signed, now_secs: i64) -> Result<(), ApiError> {
    // Size first: an oversized body is refused whatever its headers say.
    let too_long = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > SIGNED_BODY_LIMIT as u64);
    if too_long {
        return Err(ApiError::Validation {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "request body is larger than {} KB",
                SIGNED_BODY_LIMIT / 1024
            ),
            details: None,
        });
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if header(s.signature).is_none() {
        return Err(ApiError::Unauthorized(format!(
            "missing {} header",
            s.signature
        )));
    }
    let ts: i64 = header(s.timestamp)
        .ok_or_else(|| ApiError::Unauthorized(format!("missing {} header", s.timestamp)))?
        .parse()
        .map_err(|_| ApiError::Unauthorized(format!("{} is not a number", s.timestamp)))?;
    if (now_secs - ts / s.per_second).abs() > s.max_skew_secs {
        return Err(ApiError::Unauthorized(format!(
            "{} is more than {} seconds away from now (replayed or clock skew)",
            s.timestamp, s.max_skew_secs
        )));
    }
    Ok(())
}

/// The signed routes' gate (runs before their handlers touch the body); other routes pass.
pub async fn signed_routes(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(signed) = signed_route(req.uri().path()) else {
        return next.run(req).await;
    };
    if let Err(e) = precheck(&req, signed, st.clock.now().timestamp()) {
        metrics::counter!("skygeni_signed_precheck_refused_total").increment(1);
        return match (&e, signed.uniform_refusal) {
            (ApiError::Unauthorized(why), Some(uniform)) => {
                tracing::info!(path = %req.uri().path(), reason = %why, "signed request refused before its body");
                ApiError::Unauthorized(uniform.into()).into_response()
            }
            _ => e.into_response(),
        };
    }
    // A chunked body has no Content-Length: cap what the handler can read.
    let (parts, body) = req.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, SIGNED_BODY_LIMIT));
    next.run(Request::from_parts(parts, limited)).await
}

/// The whole body must arrive within `body_timeout_secs` of the handler starting to read it;
/// a client that trickles bytes gets its request failed instead of holding a task forever.
pub async fn body_deadline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let limit = Duration::from_secs(u64::from(st.settings.body_timeout_secs));
    let (parts, body) = req.into_parts();
    let deadline = tokio::time::Instant::now() + limit;
    let stream =
        futures_util::stream::unfold(Some(body.into_data_stream()), move |state| async move {
            let mut s = state?;
            match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(s))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(axum::Error::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request body not received in time",
                    ))),
                    None,
                )),
            }
        });
    next.run(Request::from_parts(parts, Body::from_stream(stream)))
        .await
}

/// `/metrics` without per-tenant series (lines with a `tenant` label), for deployments that
/// set `SKYGENI_METRICS_TENANT_LABELS=false` because the endpoint is reachable unauthenticated.
pub fn without_tenant_series(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if !line.starts_with('#') && (line.contains("{tenant=\"") || line.contains(",tenant=\"")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut b = axum::http::Request::builder().uri("/slack/commands");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn signed_requests_need_both_headers_a_fresh_timestamp_and_a_small_body() {
        let now = 1_700_000_000;
        let ok = req(&[
            ("x-slack-signature", "v0=ab"),
            ("x-slack-request-timestamp", "1700000000"),
        ]);
        assert!(precheck(&ok, &SLACK, now).is_ok());
        let cases: [(&[(&str, &str)], u16); 5] = [
            (&[("x-slack-request-timestamp", "1700000000")], 401),
            (&[("x-slack-signature", "v0=ab")], 401),
            (
                &[
                    ("x-slack-signature", "v0=ab"),
                    ("x-slack-request-timestamp", "1699999000"),
                ],
                401,
            ),
            (
                &[
                    ("x-slack-signature", "v0=ab"),
                    ("x-slack-request-timestamp", "soon"),
                ],
                401,
            ),
            (
                &[
                    ("x-slack-signature", "v0=ab"),
                    ("x-slack-request-timestamp", "1700000000"),
                    ("content-length", "900000"),
                ],
                413,
            ),
        ];
        for (headers, status) in cases {
            let err = precheck(&req(headers), &SLACK, now).unwrap_err();
            assert_eq!(err.status().as_u16(), status, "{headers:?}");
        }
        // The webhook's timestamp is in milliseconds.
        let sf = req(&[
            ("x-skygeni-signature", "sha256=ab"),
            ("x-skygeni-timestamp", "1700000000000"),
        ]);
        assert!(precheck(&sf, &SALESFORCE, now).is_ok());
    }

    #[test]
    fn tenant_series_are_dropped_and_everything_else_kept() {
        let text = "# TYPE g gauge\ng{tenant=\"acme\"} 1\nh{route=\"/x\",tenant=\"b\"} 2\nh{route=\"/x\"} 3\n";
        assert_eq!(
            without_tenant_series(text),
            "# TYPE g gauge\nh{route=\"/x\"} 3\n"
        );
    }
}
