//! The local fakes (crate `skygeni-fakes`) started on loopback ports, and the alert
//! dispatcher with SkyGeni's real SendGrid and Slack DM clients pointed at them.
use skygeni::notify::compose::Links;
use skygeni::notify::dispatcher::{DispatchConfig, Dispatcher};
use skygeni::notify::senders::OutgoingEmail;
use skygeni::notify::sendgrid::SendGridClient;
use skygeni::notify::slack_dm::{BotTokens, SlackDmSender};
use skygeni::slack::SlackApi;
use skygeni::store::Store;
use skygeni_fakes::FakeServer;
use skygeni_fakes::salesforce::FakeSalesforce;
use skygeni_fakes::sendgrid::FakeSendGrid;
use skygeni_fakes::slack::SlackFake;
use std::sync::Arc;

/// The bot token the fake Slack accepts (and the apps and DM clients send).
pub const SLACK_BOT_TOKEN: &str = "xoxb-single";
/// The API key the fake SendGrid accepts.
pub const SENDGRID_KEY: &str = "SG.test-key";

/// A fake and the server it answers on (which stops when this is dropped); derefs to the fake.
pub struct Running<F> {
    pub fake: F,
    pub server: FakeServer,
}

impl<F> Running<F> {
    pub fn url(&self) -> String {
        self.server.url()
    }
}

impl<F> std::ops::Deref for Running<F> {
    type Target = F;
    fn deref(&self) -> &F {
        &self.fake
    }
}

/// The fake Slack Web API knowing `users` (as `U@slack.example`, named `U`).
pub async fn start_slack(users: &[&str]) -> Running<SlackFake> {
    let fake = SlackFake::new(SLACK_BOT_TOKEN);
    for u in users {
        fake.add_user(u, &format!("{u}@slack.example"), u);
    }
    let server = fake.start(0).await.unwrap();
    Running { fake, server }
}

pub async fn start_sendgrid() -> Running<FakeSendGrid> {
    let fake = FakeSendGrid::new(SENDGRID_KEY);
    let server = FakeServer::start(fake.router(), 0).await.unwrap();
    Running { fake, server }
}

/// An empty fake org (seed it with `seed_opportunities`).
pub async fn start_salesforce() -> Running<FakeSalesforce> {
    let fake = FakeSalesforce::new();
    let server = fake.start(0).await.unwrap();
    Running { fake, server }
}

/// A one-line email to a@b.com (category `category`), for sending through a client as is.
pub fn bare_email(category: &str) -> OutgoingEmail {
    OutgoingEmail {
        to_email: "a@b.com".into(),
        to_name: None,
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
        idempotency_key: "k".into(),
        category: category.into(),
        inline: vec![],
        headers: vec![],
    }
}

/// The links alert messages and emails carry in tests.
pub fn links() -> Links {
    Links {
        salesforce_url: "https://acme.my.salesforce.com".into(),
        slack_app_id: Some("A123".into()),
        public_url: "https://skygeni.example".into(),
        unsubscribe: None,
    }
}

/// The outbox dispatcher with its own clients (kept, for playing a worker that dies
/// mid-send).
pub struct Delivery {
    pub dispatcher: Arc<Dispatcher>,
    pub email: Arc<SendGridClient>,
    pub chat: Arc<SlackDmSender>,
}

impl Delivery {
    /// The real SendGrid and Slack DM clients pointed at the fakes, and a dispatcher using both.
    pub fn new(
        store: &Store,
        slack: &Running<SlackFake>,
        sendgrid: &Running<FakeSendGrid>,
        cfg: DispatchConfig,
    ) -> Delivery {
        let email = Arc::new(
            SendGridClient::new(
                &sendgrid.url(),
                SENDGRID_KEY.to_string().into(),
                "bot@skygeni.example",
            )
            .unwrap(),
        );
        let chat = Arc::new(SlackDmSender::new(
            &SlackApi::new(&format!("{}/api", slack.url())),
            BotTokens::Static(SLACK_BOT_TOKEN.into()),
        ));
        let dispatcher = Dispatcher::new(
            store.clone(),
            Some(email.clone()),
            Some(chat.clone()),
            links(),
            cfg,
        )
        .unwrap();
        Delivery {
            dispatcher,
            email,
            chat,
        }
    }
}

/// The fake Slack (knowing `slack_users`) and fake SendGrid, and a dispatcher over `store`
/// using both: for scheduler tests that need no HTTP app.
pub async fn fakes_and_dispatcher(
    store: &Store,
    cfg: DispatchConfig,
    slack_users: &[&str],
) -> (Running<SlackFake>, Running<FakeSendGrid>, Arc<Dispatcher>) {
    let slack = start_slack(slack_users).await;
    let sendgrid = start_sendgrid().await;
    let dispatcher = Delivery::new(store, &slack, &sendgrid, cfg).dispatcher;
    (slack, sendgrid, dispatcher)
}
