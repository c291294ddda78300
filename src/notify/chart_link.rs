//! The link to a chart image: `<public_url>/charts/<tenant>.<chart>.<expires>.<hmac>.png`,
//! signed when a message or view embeds it ([`signed_url`]) and checked when Slack or a mail
//! client fetches it ([`verify_file`], `notify::chart_route`).
use super::charts::Chart;
use crate::domain::TenantId;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a chart file name was refused: 403 for a bad name or signature, 410 once expired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartUrlError {
    #[error("invalid or tampered chart link")]
    Invalid,
    #[error("chart link expired")]
    Expired,
}

fn signature(secret: &[u8], tenant: &str, chart: &str, expires: i64) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    m.update(format!("{tenant}.{chart}.{expires}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// `<public_url>/charts/<tenant>.<chart>.<expires unix>.<hmac-sha256 hex>.png`: unguessable
/// without the secret, bound to the tenant and chart, useless after `expires_at`.
pub fn signed_url(
    public_url: &str,
    secret: &[u8],
    tenant: &TenantId,
    chart: Chart,
    expires_at: DateTime<Utc>,
) -> String {
    let exp = expires_at.timestamp();
    format!(
        "{}/charts/{}.{}.{exp}.{}.png",
        public_url.trim_end_matches('/'),
        tenant.as_str(),
        chart.as_str(),
        signature(secret, tenant.as_str(), chart.as_str(), exp)
    )
}

/// Check a `/charts/{file}` name at `now`: the tenant and chart it grants.
pub fn verify_file(
    file: &str,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(TenantId, Chart), ChartUrlError> {
    let stem = file.strip_suffix(".png").ok_or(ChartUrlError::Invalid)?;
    let parts: Vec<&str> = stem.split('.').collect();
    let [tenant, chart, exp, sig] = parts[..] else {
        return Err(ChartUrlError::Invalid);
    };
    let exp: i64 = exp.parse().map_err(|_| ChartUrlError::Invalid)?;
    let sig = hex::decode(sig).map_err(|_| ChartUrlError::Invalid)?;
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    m.update(format!("{tenant}.{chart}.{exp}").as_bytes());
    // Constant-time comparison.
    m.verify_slice(&sig).map_err(|_| ChartUrlError::Invalid)?;
    let tenant = TenantId::parse(tenant).map_err(|_| ChartUrlError::Invalid)?;
    let chart = Chart::parse(chart).ok_or(ChartUrlError::Invalid)?;
    if now.timestamp() >= exp {
        return Err(ChartUrlError::Expired);
    }
    Ok((tenant, chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_signed_chart_url_verifies_until_it_expires() {
        let tenant = TenantId::parse("acme").unwrap();
        let url = signed_url(
            "https://bot.example.com/",
            b"k",
            &tenant,
            Chart::WinRateTrend,
            t("2026-01-02T00:00:00Z"),
        );
        assert!(url.starts_with("https://bot.example.com/charts/acme.win-rate-trend.1767312000."));
        let file = url.rsplit('/').next().unwrap();
        assert_eq!(
            verify_file(file, b"k", t("2026-01-01T23:59:59Z")),
            Ok((tenant, Chart::WinRateTrend))
        );
        assert_eq!(
            verify_file(file, b"k", t("2026-01-02T00:00:00Z")),
            Err(ChartUrlError::Expired)
        );
    }

    #[test]
    fn tampered_or_foreign_chart_links_are_refused() {
        let tenant = TenantId::parse("acme").unwrap();
        let now = t("2026-01-01T00:00:00Z");
        let url = signed_url(
            "http://x",
            b"k",
            &tenant,
            Chart::RiskDistribution,
            t("2026-01-02T00:00:00Z"),
        );
        let file = url.rsplit('/').next().unwrap().to_string();
        let cases = [
            (file.replace("acme.", "other."), "another tenant"),
            (
                file.replace("risk-distribution", "win-rate-trend"),
                "another chart",
            ),
            (
                file.replace(".1767312000.", ".1767398400."),
                "a later expiry",
            ),
            (file.replace(".png", ".gif"), "another extension"),
            ("acme.risk-distribution.png".to_string(), "no signature"),
        ];
        for (bad, why) in cases {
            assert_eq!(
                verify_file(&bad, b"k", now),
                Err(ChartUrlError::Invalid),
                "{why}"
            );
        }
        assert_eq!(
            verify_file(&file, b"other-secret", now),
            Err(ChartUrlError::Invalid)
        );
    }
}
