//! [`SlackApp`]: a [`TestApp`] with Slack on and the Acme workspace every Slack test talks to:
//! five Slack users (four mapped by email to SkyGeni users), a team (a manager, three reps,
//! an admin) and a book of generated deals with three named open ones.
use super::app::TestApp;
use super::data::generated_deals;
use skygeni::domain::{Deal, TenantId};
use skygeni::store::NewUser;
use skygeni_fakes::slack::SlackFake;

pub fn tenant() -> TenantId {
    TenantId::default_tenant()
}

pub struct SlackApp {
    app: TestApp,
    /// The fake Slack Web API (the app's `SLACK_API_URL`), recording every call.
    pub fake: SlackFake,
    /// deal ids: rep_0's "Acme Rockets", rep_0's "Acme Labs", rep_3's "Globex Widgets".
    pub acme: String,
    pub acme_labs: String,
    pub globex: String,
}

impl std::ops::Deref for SlackApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl SlackApp {
    pub async fn spawn() -> SlackApp {
        let app = TestApp::builder()
            .slack()
            .var("SKYGENI_PUBLIC_URL", "https://skygeni.example.com")
            .var("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
            .spawn()
            .await;
        let fake = app.slack().fake.clone();
        for (id, email, name) in [
            ("UREP0", "rep0@acme.test", "Rita Rep"),
            ("UREP5", "rep5@acme.test", "Omar Other"),
            ("UMGR", "mgr@acme.test", "Maya Manager"),
            ("UADMIN", "admin@acme.test", "Ada Admin"),
            ("USTRANGER", "stranger@elsewhere.test", "Sam Stranger"),
        ] {
            fake.add_user(id, email, name);
        }

        // Deals: generated history plus three named open deals.
        let mut deals = generated_deals(300, "D");
        let mut named = Vec::new();
        for (rep, company) in [
            ("rep_0", "Acme Rockets"),
            ("rep_0", "Acme Labs"),
            ("rep_3", "Globex Widgets"),
        ] {
            let d = deals
                .iter_mut()
                .find(|d| {
                    d.is_open()
                        && d.sales_rep_id == rep
                        && d.company.as_deref() != Some("Acme Rockets")
                        && d.company.as_deref() != Some("Acme Labs")
                })
                .expect("an open deal for the rep");
            d.company = Some(company.to_string());
            d.deal_name = Some(format!("{company} renewal"));
            named.push(d.deal_id.clone());
        }
        // Some history for the team's reps (the generator gives rep_0..rep_4 open deals only).
        for (i, d) in deals
            .iter_mut()
            .filter(|d| !d.is_open())
            .take(20)
            .enumerate()
        {
            d.sales_rep_id = format!("rep_{}", i % 2);
        }
        // No other deal may match "acme"/"globex".
        for d in deals.iter_mut() {
            if !named.contains(&d.deal_id) {
                d.company = Some(format!("Company {}", d.deal_id));
                d.deal_name = None;
            }
        }
        app.store
            .upsert_deals(&tenant(), &deals, &mut |_| {})
            .await
            .unwrap();
        let users = [
            ("boss", "admin@acme.test", "Ada Admin", "admin", None),
            ("mgr", "mgr@acme.test", "Maya Manager", "manager", None),
            ("rep_0", "rep0@acme.test", "Rita Rep", "rep", Some("mgr")),
            ("rep_1", "rep1@acme.test", "Rob Rep", "rep", Some("mgr")),
            ("rep_3", "rep5@acme.test", "Omar Other", "rep", None),
            ("rep_9", "rep9@acme.test", "Nina Nine", "rep", None),
        ];
        for (id, email, name, role, mgr) in users {
            app.store
                .upsert_user(
                    &tenant(),
                    &NewUser {
                        user_id: id,
                        email: Some(email),
                        name: Some(name),
                        role,
                        manager_id: mgr,
                    },
                )
                .await
                .unwrap();
        }
        SlackApp {
            app,
            fake,
            acme: named[0].clone(),
            acme_labs: named[1].clone(),
            globex: named[2].clone(),
        }
    }

    /// The audit actions of the tenant, once every entry so far is written.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.audit_rows(tenant().as_str())
            .await
            .into_iter()
            .map(|a| a.action)
            .collect()
    }

    pub async fn deal(&self, id: &str) -> Deal {
        self.store.deal_by_id(&tenant(), id).await.unwrap().unwrap()
    }
}
