//! A user's alert preferences as stored.
/// Alert preferences of one user.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertSettings {
    pub critical_enabled: bool,
    pub channels: Vec<String>,
    pub threshold: i64,
    pub digest_time: String,
    pub time_zone: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub max_deals: i64,
    /// Send the daily digest at all (migration 0011).
    pub digest_enabled: bool,
    /// Lowest risk score a deal needs to be listed in the digest.
    pub digest_min_risk_score: i64,
    /// Hold alerts during quiet hours at all.
    pub quiet_enabled: bool,
}

impl Default for AlertSettings {
    /// The column defaults of migrations 0001 and 0011.
    fn default() -> Self {
        AlertSettings {
            critical_enabled: true,
            channels: vec!["slack".into(), "email".into()],
            threshold: 75,
            digest_time: "08:00".into(),
            time_zone: "UTC".into(),
            quiet_start: "20:00".into(),
            quiet_end: "08:00".into(),
            max_deals: 10,
            digest_enabled: true,
            digest_min_risk_score: 51,
            quiet_enabled: true,
        }
    }
}
