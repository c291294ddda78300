//! [`Org`]: a [`TestApp`] with a fake Salesforce org of generated Opportunities, connected to
//! the default tenant, and the sync context the nightly uses (with test-sized timeouts).
use super::app::{ENCRYPTION_KEY, TestApp};
use axum::body::Body;
use axum::http::Request;
use chrono::TimeZone;
use serde_json::{Value, json};
use skygeni::config::Settings;
use skygeni::crm::salesforce::{SyncContext, SyncReport, sync_tenant, webhook};
use skygeni::crypto::SecretBox;
use skygeni::domain::TenantId;
use skygeni::store::{SfConnectionRow, Store};
use skygeni_fakes::salesforce::{CLIENT_ID, CLIENT_SECRET, FakeSalesforce};
use std::sync::Arc;
use std::time::Duration;

/// The connected app's private key for the JWT bearer flow (its certificate is in the fake).
pub fn jwt_key_path() -> String {
    format!(
        "{}/tests/fixtures/salesforce_jwt_test_key.pem",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The sync's "now": 2026-11-28 06:00 UTC.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 11, 28, 6, 0, 0).unwrap()
}

/// A Salesforce [`TestApp`]: the fake org empty and nothing connected.
pub async fn salesforce_app() -> TestApp {
    TestApp::builder()
        .salesforce()
        .var("SKYGENI_PUBLIC_URL", "http://skygeni.test")
        .spawn()
        .await
}

/// A sync context over `store` with `settings`, sealing with the test key; bulk jobs polled
/// every 5 ms.
pub fn sync_context(store: Store, settings: Settings) -> SyncContext {
    let secrets = Arc::new(SecretBox::new(Some(ENCRYPTION_KEY), None).unwrap());
    let mut ctx = SyncContext::new(store, Arc::new(settings), secrets);
    ctx.config.bulk_poll = Duration::from_millis(5);
    ctx
}

/// Store `tenant`'s connection to `fake` (served at `url`) as the web-server flow leaves it:
/// a sealed instance URL and refresh token.
pub async fn connect(store: &Store, tenant: &TenantId, fake: &FakeSalesforce, url: &str) {
    let secrets = SecretBox::new(Some(ENCRYPTION_KEY), None).unwrap();
    store
        .save_sf_connection(
            tenant,
            &SfConnectionRow {
                org_id: fake.org_id(),
                auth_flow: "web_server".into(),
                instance_url_sealed: secrets.seal(tenant.as_str(), url),
                refresh_token_sealed: Some(
                    secrets.seal(tenant.as_str(), &fake.issue_refresh_token()),
                ),
                jwt_username: None,
                field_mapping: "{}".into(),
            },
        )
        .await
        .unwrap();
}

/// Runs `skygeni <args>` against `app`'s database and fake org as its connected app (with
/// the JWT key when `jwt`).
pub async fn skygeni_sync(
    app: &TestApp,
    args: Vec<&'static str>,
    jwt: bool,
) -> std::process::Output {
    let (url, login) = (app.db.url.clone(), app.salesforce().url());
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_skygeni"));
        cmd.args(args)
            .env("SKYGENI_DATABASE_URL", url)
            .env("SALESFORCE_LOGIN_URL", login)
            .env("SALESFORCE_CLIENT_ID", CLIENT_ID)
            .env("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
            .env("SKYGENI_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env_remove("SKYGENI_CONFIG");
        if jwt {
            cmd.env("SALESFORCE_JWT_PRIVATE_KEY", jwt_key_path());
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

pub struct Org {
    app: TestApp,
    pub fake: FakeSalesforce,
    pub ctx: SyncContext,
    pub tenant: TenantId,
}

impl std::ops::Deref for Org {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A fake org with `n` Opportunities, connected to the default tenant with a refresh token.
pub async fn org(n: usize) -> Org {
    let app = salesforce_app().await;
    let fake = app.salesforce().fake.clone();
    fake.seed_opportunities(n, 3, 1);
    let tenant = TenantId::default_tenant();
    connect(&app.store, &tenant, &fake, &app.salesforce().url()).await;
    let mut ctx = sync_context(app.store.clone(), app.settings());
    ctx.config.client.retry_base = Duration::from_millis(5);
    ctx.config.client.timeout = Duration::from_millis(500);
    Org {
        app,
        fake,
        ctx,
        tenant,
    }
}

impl Org {
    pub async fn sync_at(&self, at: chrono::DateTime<chrono::Utc>) -> SyncReport {
        sync_tenant(&self.ctx, &self.tenant, at, &mut |_, _, _| {})
            .await
            .unwrap()
    }

    pub async fn sync(&self) -> SyncReport {
        self.sync_at(now()).await
    }

    /// Give the org a webhook secret as connecting does, and read it back from the org's
    /// SkyGeni_Settings__c org default, where the package's Apex reads it.
    pub async fn webhook_secret(&self) -> String {
        skygeni::crm::salesforce::org_secret::after_connect(
            &self.ctx.settings,
            &self.store,
            &self.ctx.secrets,
            &self.ctx.http,
            &self.tenant,
        )
        .await
        .unwrap();
        self.fake
            .records("SkyGeni_Settings__c")
            .into_iter()
            .find(|r| r["SetupOwnerId"] == json!(self.fake.org_id()))
            .expect("the org default holds the secret")["Webhook_Secret__c"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn open_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .fake
            .records("Opportunity")
            .into_iter()
            .filter(|r| r["IsClosed"] == json!(false) && r["IsDeleted"] == json!(false))
            .map(|r| r["Id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The tenant's stored deal `id`, as the sync left it.
    pub async fn stored_deal(&self, id: &str) -> Option<skygeni::domain::Deal> {
        self.store
            .load_deals(&self.tenant)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.deal_id == id)
    }

    /// The app's router, for sending it requests in process.
    pub fn router(&self) -> axum::Router {
        skygeni::http::router(self.state.clone())
    }
}

/// A webhook notification signed with `secret` at `ts` (unix milliseconds).
pub fn signed(body: &Value, ts: i64, secret: &str) -> Request<Body> {
    let raw = serde_json::to_vec(body).unwrap();
    let ts = ts.to_string();
    Request::post("/webhooks/salesforce")
        .header("content-type", "application/json")
        .header("X-SkyGeni-Timestamp", &ts)
        .header(
            "X-SkyGeni-Signature",
            webhook::sign(secret.as_bytes(), &ts, &raw),
        )
        .body(Body::from(raw))
        .unwrap()
}

pub async fn json_body(resp: axum::response::Response) -> Value {
    serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap_or(Value::Null)
}
