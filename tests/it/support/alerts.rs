//! [`AlertHarness`]: a [`TestApp`] with the outbox dispatcher, one rep (owner of deal D1
//! "Acme Corp", $45K) and their manager, each with a Slack id and a time zone. Scores are
//! written at a chosen time and the dispatcher runs at a chosen time: no sleeping.
use super::app::TestApp;
use super::data::{add_user, score};
use chrono::{DateTime, Utc};
use skygeni::domain::{Deal, TenantId};
use skygeni::notify::dispatcher::{DispatchConfig, DispatchReport, Dispatcher};
use skygeni::notify::planner::AlertPolicy;
use skygeni::notify::sendgrid::SendGridClient;
use skygeni::notify::slack_dm::SlackDmSender;
use skygeni::store::AlertSettings;
use skygeni_fakes::sendgrid::FakeSendGrid;
use skygeni_fakes::slack::SlackFake;
use std::sync::Arc;

pub struct AlertHarness {
    app: TestApp,
    pub tenant: TenantId,
    pub slack: SlackFake,
    pub sendgrid: FakeSendGrid,
    pub dispatcher: Arc<Dispatcher>,
    /// The dispatcher's own clients, for playing a worker that dies mid-send.
    pub email_client: Arc<SendGridClient>,
    pub chat_client: Arc<SlackDmSender>,
}

impl std::ops::Deref for AlertHarness {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl AlertHarness {
    pub async fn new(rep_zone: &str, manager_zone: &str) -> AlertHarness {
        AlertHarness::with_config(rep_zone, manager_zone, DispatchConfig::default()).await
    }

    pub async fn with_config(
        rep_zone: &str,
        manager_zone: &str,
        cfg: DispatchConfig,
    ) -> AlertHarness {
        let app = TestApp::builder()
            .slack_users(&["UREP", "UMGR"])
            .dispatcher(cfg)
            .spawn()
            .await;
        let store = &app.store;
        let tenant = TenantId::default_tenant();
        for (id, role, manager, zone, slack) in [
            ("mgr", "manager", None, manager_zone, "UMGR"),
            ("rep1", "rep", Some("mgr"), rep_zone, "UREP"),
        ] {
            add_user(store, &tenant, id, role, manager).await;
            store
                .set_user_delivery(&tenant, id, Some(slack), zone)
                .await
                .unwrap();
        }
        let mut deal = Deal::example("D1");
        deal.sales_rep_id = "rep1".into();
        deal.company = Some("Acme Corp".into());
        deal.amount = 45_000.0;
        store
            .upsert_deals(&tenant, &[deal], &mut |_| {})
            .await
            .unwrap();
        let delivery = app.delivery();
        AlertHarness {
            tenant,
            slack: app.slack().fake.clone(),
            sendgrid: app.sendgrid().fake.clone(),
            dispatcher: delivery.dispatcher.clone(),
            email_client: delivery.email.clone(),
            chat_client: delivery.chat.clone(),
            app,
        }
    }

    /// Write a score for D1 at `at` through the one score-writing path.
    pub async fn score(&self, risk: u8, at: DateTime<Utc>) {
        self.store
            .record_scores(
                &self.tenant,
                at,
                &[score("D1", risk)],
                &AlertPolicy::default(),
                &mut |_| {},
            )
            .await
            .unwrap();
    }

    pub async fn dispatch(&self, at: DateTime<Utc>) -> DispatchReport {
        self.dispatcher.run_once(at).await.unwrap()
    }

    /// (Slack DMs delivered, emails accepted).
    pub fn sends(&self) -> (usize, usize) {
        (
            self.slack.count_ok("chat.postMessage"),
            self.sendgrid.sent().len(),
        )
    }

    pub fn emails_to(&self, who: &str) -> usize {
        let addr = format!("{who}@example.com");
        self.sendgrid
            .sent()
            .iter()
            .filter(|m| m.to.contains(&addr))
            .count()
    }

    pub fn dms_to(&self, slack_user: &str) -> usize {
        // DMs are posted to the user id itself.
        self.slack
            .calls_to("chat.postMessage")
            .iter()
            .filter(|c| c.body["channel"] == slack_user)
            .count()
    }

    pub async fn alert_settings(&self, user: &str, f: impl FnOnce(&mut AlertSettings)) {
        let mut s = AlertSettings::default();
        f(&mut s);
        self.store
            .upsert_alert_settings(&self.tenant, user, &s)
            .await
            .unwrap();
    }
}
