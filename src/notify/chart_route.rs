//! `GET /charts/{file}`: the PNG behind a signed chart URL, drawn from the tenant's current
//! data. No login (Slack's image proxy fetches it), so the HMAC-signed, expiring file name is
//! the credential: 403 when it does not verify, 410 once expired.
use super::chart_link::{ChartUrlError, verify_file};
use super::charts::{Chart, rapv_vs_pipeline_png, risk_distribution_png, win_rate_trend_png};
use crate::app::AppState;
use crate::config::Settings;
use crate::domain::TenantId;
use crate::engine::DEFAULT_SAVE_RATE;
use crate::service::metrics::pipeline_view;
use crate::service::weekly::{TREND_WEEKS, win_rate_trend};
use crate::store::Store;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

pub fn router() -> Router<AppState> {
    Router::new().route("/charts/{file}", get(chart))
}

/// The key that signs chart URLs: `SKYGENI_CHART_URL_SECRET`, else one derived from the JWT
/// secret (so a deployment with API auth has signed charts without another setting, and the
/// JWT secret itself never signs anything but tokens). `None`: charts are not served.
pub fn url_secret(settings: &Settings) -> Option<Vec<u8>> {
    if let Some(s) = &settings.chart_url_secret {
        return Some(s.expose_secret().as_bytes().to_vec());
    }
    let jwt = settings.jwt_secret.as_ref()?;
    let mut m = Hmac::<Sha256>::new_from_slice(jwt.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    m.update(b"skygeni chart url signing key v1");
    Some(m.finalize().into_bytes().to_vec())
}

/// Draw `chart` from the tenant's current pipeline (stored scores) as of `now`.
pub async fn current_chart_png(
    store: &Store,
    tenant: &TenantId,
    chart: Chart,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<u8>> {
    let as_of = now.date_naive();
    match chart {
        Chart::RiskDistribution | Chart::RapvVsPipeline => {
            let view = pipeline_view(store, tenant, as_of, DEFAULT_SAVE_RATE).await?;
            if chart == Chart::RiskDistribution {
                risk_distribution_png(&view.metrics)
            } else {
                rapv_vs_pipeline_png(&view.metrics)
            }
        }
        Chart::WinRateTrend => {
            let deals = store.load_deals(tenant).await?;
            let weeks: Vec<_> = win_rate_trend(&deals, as_of, TREND_WEEKS)
                .into_iter()
                .map(|w| (w.week_start, w.win_rate))
                .collect();
            win_rate_trend_png(&weeks)
        }
    }
}

async fn chart(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(secret) = url_secret(&st.settings) else {
        return (
            StatusCode::NOT_FOUND,
            "charts are not enabled on this server",
        )
            .into_response();
    };
    let now = st.clock.now();
    let (tenant, chart) = match verify_file(&file, &secret, now) {
        Ok(v) => v,
        Err(e @ ChartUrlError::Invalid) => {
            return (StatusCode::FORBIDDEN, e.to_string()).into_response();
        }
        Err(e @ ChartUrlError::Expired) => {
            return (StatusCode::GONE, e.to_string()).into_response();
        }
    };
    match current_chart_png(&st.store, &tenant, chart, now).await {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                // The link expires anyway; a short private cache spares re-drawing on reloads.
                (header::CACHE_CONTROL, "private, max-age=300"),
            ],
            png,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(tenant = tenant.as_str(), chart = chart.as_str(), error = %format!("{e:#}"), "chart failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the chart could not be drawn",
            )
                .into_response()
        }
    }
}
