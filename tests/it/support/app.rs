//! [`TestApp`]: the application served over real HTTP on 127.0.0.1:0 on a fresh database, with
//! the fakes a test asks for ([`AppBuilder`]) wired into its settings.
use super::data::{as_of, generated_deals, t, train_small_model};
use super::db::TestDb;
use super::fakes::{
    Delivery, Running, SENDGRID_KEY, SLACK_BOT_TOKEN, start_salesforce, start_sendgrid, start_slack,
};
use super::salesforce::jwt_key_path;
use super::slack::SIGNING_SECRET;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use skygeni::app::{AppState, Application};
use skygeni::auth::{Role, issue_token};
use skygeni::config::Settings;
use skygeni::domain::{Deal, ModelScope, TenantId};
use skygeni::notify::dispatcher::DispatchConfig;
use skygeni::store::{AuditRow, Store};
use skygeni_fakes::salesforce::{CLIENT_ID, CLIENT_SECRET, FakeSalesforce};
use skygeni_fakes::sendgrid::FakeSendGrid;
use skygeni_fakes::slack::SlackFake;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// `SKYGENI_JWT_SECRET` of every test app ([`TestApp::token`] signs with it).
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef";
/// `SKYGENI_ENCRYPTION_KEY` of the apps with Slack or Salesforce (they seal tokens at rest).
pub const ENCRYPTION_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// What a test needs on top of the bare app; `spawn` starts it all.
#[derive(Default)]
pub struct AppBuilder {
    vars: Vec<(String, String)>,
    slack_users: Option<Vec<String>>,
    sendgrid: bool,
    salesforce: bool,
    dispatcher: Option<DispatchConfig>,
}

impl AppBuilder {
    /// One more settings variable (the last value of a variable wins).
    pub fn var(mut self, key: &str, value: &str) -> AppBuilder {
        self.vars.push((key.into(), value.into()));
        self
    }

    pub fn vars(self, vars: &[(&str, &str)]) -> AppBuilder {
        vars.iter().fold(self, |b, (k, v)| b.var(k, v))
    }

    /// The fake Slack Web API, and the app's Slack settings (signing secret, bot token, OAuth
    /// client) pointing at it.
    pub fn slack(self) -> AppBuilder {
        self.slack_users(&[])
    }

    /// [`AppBuilder::slack`] with these users in the fake workspace (`U@slack.example`).
    pub fn slack_users(mut self, users: &[&str]) -> AppBuilder {
        self.slack_users = Some(users.iter().map(|u| u.to_string()).collect());
        self
    }

    /// A fake Salesforce org (empty) as the app's login server, with the connected app's
    /// client id, secret and JWT key.
    pub fn salesforce(mut self) -> AppBuilder {
        self.salesforce = true;
        self
    }

    /// The outbox dispatcher, delivering to a fake Slack and a fake SendGrid.
    pub fn dispatcher(mut self, cfg: DispatchConfig) -> AppBuilder {
        self.dispatcher = Some(cfg);
        self.sendgrid = true;
        if self.slack_users.is_none() {
            self.slack_users = Some(Vec::new());
        }
        self
    }

    pub async fn spawn(self) -> TestApp {
        let db = TestDb::new().await;
        let store = db.store().await;
        let slack = match &self.slack_users {
            Some(users) => {
                let users: Vec<&str> = users.iter().map(String::as_str).collect();
                let slack = start_slack(&users).await;
                slack.set_oauth_client("cid", "csecret");
                Some(slack)
            }
            None => None,
        };
        let sendgrid = if self.sendgrid {
            Some(start_sendgrid().await)
        } else {
            None
        };
        let salesforce = if self.salesforce {
            Some(start_salesforce().await)
        } else {
            None
        };

        let mut vars: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| vars.push((k.into(), v));
        set("SKYGENI_DATABASE_URL", db.url.clone());
        set("SKYGENI_BIND", "127.0.0.1:0".into());
        set("SKYGENI_JWT_SECRET", JWT_SECRET.into());
        if let Some(slack) = &slack {
            set("SKYGENI_ENCRYPTION_KEY", ENCRYPTION_KEY.into());
            set("SLACK_SIGNING_SECRET", SIGNING_SECRET.into());
            set("SLACK_BOT_TOKEN", SLACK_BOT_TOKEN.into());
            set("SLACK_CLIENT_ID", "cid".into());
            set("SLACK_CLIENT_SECRET", "csecret".into());
            set("SLACK_API_URL", format!("{}/api", slack.url()));
        }
        if let Some(sendgrid) = &sendgrid {
            set("SENDGRID_API_KEY", SENDGRID_KEY.into());
            set("SENDGRID_API_URL", sendgrid.url());
        }
        if let Some(org) = &salesforce {
            set("SKYGENI_ENCRYPTION_KEY", ENCRYPTION_KEY.into());
            set("SALESFORCE_LOGIN_URL", org.url());
            set("SALESFORCE_CLIENT_ID", CLIENT_ID.into());
            set("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET.into());
            set("SALESFORCE_JWT_PRIVATE_KEY", jwt_key_path());
        }
        vars.extend(self.vars);
        let settings =
            Settings::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();

        let app = Application::build_with_store(settings, store.clone())
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        // Serves until `stop` (not merely until the sender is dropped).
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        let delivery = self.dispatcher.map(|cfg| {
            let slack = slack.as_ref().expect("the dispatcher has a Slack");
            let sendgrid = sendgrid.as_ref().expect("the dispatcher has a SendGrid");
            Delivery::new(&store, slack, sendgrid, cfg)
        });
        TestApp {
            base,
            state,
            store,
            client: reqwest::Client::new(),
            db,
            slack,
            sendgrid,
            salesforce,
            delivery,
            stop: Some(stop),
            server: Some(server),
        }
    }
}

/// A running app and what it was given. The server runs until [`TestApp::stop`] or the end
/// of the test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub state: AppState,
    /// The app's store (one pool with the app).
    pub store: Store,
    pub client: reqwest::Client,
    pub db: TestDb,
    slack: Option<Running<SlackFake>>,
    sendgrid: Option<Running<FakeSendGrid>>,
    salesforce: Option<Running<FakeSalesforce>>,
    delivery: Option<Delivery>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// The bare app: database, HTTP and a JWT secret.
    pub async fn spawn() -> TestApp {
        TestApp::builder().spawn().await
    }

    /// The bare app with more settings variables.
    pub async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
        TestApp::builder().vars(vars).spawn().await
    }

    pub fn slack(&self) -> &Running<SlackFake> {
        self.slack.as_ref().expect("spawned without .slack()")
    }

    pub fn sendgrid(&self) -> &Running<FakeSendGrid> {
        self.sendgrid
            .as_ref()
            .expect("spawned without .dispatcher()")
    }

    pub fn salesforce(&self) -> &Running<FakeSalesforce> {
        self.salesforce
            .as_ref()
            .expect("spawned without .salesforce()")
    }

    pub fn delivery(&self) -> &Delivery {
        self.delivery
            .as_ref()
            .expect("spawned without .dispatcher()")
    }

    /// A copy of the app's settings (to vary for a client the test builds itself).
    pub fn settings(&self) -> Settings {
        (*self.state.settings).clone()
    }

    /// Another replica of this app: the same settings and database, its own pool, caches and
    /// port. Returns its base URL.
    pub async fn start_replica(&self) -> String {
        let app = Application::build(self.settings()).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(std::future::pending()));
        base
    }

    /// Tells the server to shut down and waits for it: requests drain, queued audit entries
    /// are written.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().expect("running").send(());
        self.server.take().expect("running").await.unwrap()
    }

    /// The app's JWT secret (every test app has one).
    fn jwt_secret(&self) -> &SecretString {
        self.state
            .settings
            .jwt_secret
            .as_ref()
            .expect("a JWT secret")
    }

    /// A token for `sub` with `role` in `tenant`, valid for an hour.
    pub fn token(&self, tenant: &str, role: Role, sub: &str) -> String {
        issue_token(self.jwt_secret(), &t(tenant), role, sub, 3600).unwrap()
    }

    /// A token with exactly these claims, signed with the app's secret.
    pub fn sign_claims(&self, claims: &Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(self.jwt_secret().expose_secret().as_bytes()),
        )
        .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value, HeaderMap) {
        self.send(self.client.get(format!("{}{path}", self.base)), token)
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, Value, HeaderMap) {
        let req = self.client.post(format!("{}{path}", self.base)).json(body);
        self.send(req, token).await
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        token: &str,
    ) -> (StatusCode, Value, HeaderMap) {
        read(req.bearer_auth(token).send().await.unwrap()).await
    }

    /// `n` generated deals (reps rep_0..rep_24, one in five open) for `tenant`, which is added
    /// if it does not exist.
    pub async fn seed(&self, tenant: &str, n: usize, prefix: &str) -> Vec<Deal> {
        let tenant = t(tenant);
        if self.store.get_tenant(&tenant).await.is_err() {
            self.store.add_tenant(&tenant, "Test", "UTC").await.unwrap();
        }
        let deals = generated_deals(n, prefix);
        self.store
            .upsert_deals(&tenant, &deals, &mut |_| {})
            .await
            .unwrap();
        deals
    }

    /// Train and register the default tenant's production model on `deals`.
    pub async fn train_default(&self, deals: &[Deal]) -> skygeni::engine::TrainReport {
        let scope = ModelScope::Tenant(TenantId::default_tenant());
        train_small_model(&self.store, &scope, deals).await
    }

    /// Score every open deal and store the scores (what the nightly batch does).
    pub async fn batch_score(&self, tenant: &str) {
        skygeni::service::batch::score_open_deals(&self.store, &t(tenant), as_of(), &mut |_, _| {})
            .await
            .unwrap();
    }

    /// `tenant`'s audit log, once every entry recorded so far is written.
    pub async fn audit_rows(&self, tenant: &str) -> Vec<AuditRow> {
        self.state.flush_audit().await;
        self.store.list_audit(&t(tenant), 1000).await.unwrap()
    }
}

/// Status, JSON body (the text as a JSON string when it is not JSON) and headers.
pub async fn read(r: reqwest::Response) -> (StatusCode, Value, HeaderMap) {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}
