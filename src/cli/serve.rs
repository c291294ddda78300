//! `skygeni serve` (the HTTP service on SKYGENI_BIND, the scheduler and the outbox dispatcher
//! in one process; flags switch each off so replicas can specialise) and `skygeni token`.
use crate::app::{AppState, Application};
use crate::auth::{Role, issue_token};
use crate::config::Settings;
use crate::domain::TenantId;
use crate::jobs::scheduler::{Scheduler, SchedulerConfig};
use crate::notify::compose::Links;
use crate::notify::dispatcher::{DispatchConfig, Dispatcher};
use crate::notify::senders::{ChatSender, EmailSender};
use crate::notify::sendgrid::{SendGridClient, email_refusal};
use crate::notify::slack_dm::{BotTokens, SlackDmSender};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides SKYGENI_BIND).
    #[arg(long)]
    pub bind: Option<String>,
    /// Do not serve HTTP (a worker replica: scheduler and/or dispatcher only).
    #[arg(long)]
    pub no_http: bool,
    /// Do not run scheduled jobs (nightly score, digests) in this process.
    #[arg(long)]
    pub no_scheduler: bool,
    /// Do not send outbox messages (Slack DMs, email) from this process.
    #[arg(long)]
    pub no_dispatcher: bool,
}

pub async fn serve(mut settings: Settings, args: ServeArgs) -> anyhow::Result<i32> {
    if let Some(b) = args.bind {
        settings.bind = b;
    }
    let problems = settings.secret_problems();
    if !problems.is_empty() {
        anyhow::bail!("refusing to start: {}", problems.join("; "));
    }
    if settings.jwt_secret.is_none() {
        tracing::warn!("SKYGENI_JWT_SECRET is not set: every /v1 request will be refused (401)");
    }
    if args.no_http && args.no_scheduler && args.no_dispatcher {
        anyhow::bail!(
            "--no-http, --no-scheduler and --no-dispatcher together leave nothing to run"
        );
    }
    let store = crate::store::Store::connect(&settings.database_url).await?;
    let (app, state) = if args.no_http {
        (None, AppState::new(settings.clone(), store.clone()).await?)
    } else {
        let app = Application::build_with_store(settings.clone(), store.clone()).await?;
        eprintln!("skygeni listening on port {}", app.port());
        let state = app.state().clone();
        (Some(app), state)
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = tokio::task::JoinSet::new();
    let links = Links::from_settings(&settings);
    if !args.no_dispatcher {
        let email: Option<Arc<dyn EmailSender>> =
            match (&settings.sendgrid_api_key, email_refusal(&settings)) {
                (Some(key), None) => Some(Arc::new(SendGridClient::new(
                    &settings.sendgrid_api_url,
                    key.clone(),
                    &settings.email_from,
                )?)),
                (Some(_), Some(why)) => {
                    // Said on stderr too: the admin who set the key expects email to work.
                    eprintln!("email is OFF: {why}");
                    tracing::error!("email is off: {why}; email deliveries will be dead-lettered");
                    None
                }
                (None, _) => {
                    tracing::warn!(
                        "SENDGRID_API_KEY is not set: email deliveries will be dead-lettered"
                    );
                    None
                }
            };
        let chat: Arc<dyn ChatSender> = Arc::new(SlackDmSender::new(
            &state.slack.api,
            BotTokens::App(state.clone()),
        ));
        let cfg = DispatchConfig {
            max_attempts: i64::from(settings.outbox_max_attempts.max(1)),
            base_backoff: std::time::Duration::from_secs(u64::from(
                settings.outbox_base_backoff_secs.max(1),
            )),
            lease: chrono::Duration::seconds(i64::from(settings.outbox_lease_secs.max(5))),
            ..DispatchConfig::default()
        };
        let d = Dispatcher::new(store.clone(), email, Some(chat), links.clone(), cfg)?;
        workers.spawn(d.run(stop_rx.clone()));
    }
    if !args.no_scheduler {
        let cfg = SchedulerConfig::from_settings(&settings)?;
        // Salesforce sync before the nightly score, App Home refresh after it.
        let hooks = crate::jobs::nightly_hooks::LiveHooks::shared(state.clone());
        let s = Scheduler::new(store.clone(), cfg, links, Some(hooks))?;
        workers.spawn(s.run(state.clock.clone(), stop_rx.clone()));
    }
    let signal = async move {
        crate::app::shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    match app {
        Some(app) => {
            let mut rx = stop_rx.clone();
            let stopped = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            tokio::spawn(signal);
            app.run_until(stopped).await?;
        }
        None => signal.await,
    }
    // The dispatcher finishes the pass in progress (its sends are bounded by client timeouts).
    while workers.join_next().await.is_some() {}
    state.flush_audit().await;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// User id (the `sub` claim).
    #[arg(long)]
    pub sub: String,
    /// admin, manager or rep.
    #[arg(long, value_parser = Role::parse)]
    pub role: Role,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}

pub fn token(settings: &Settings, tenant: &TenantId, args: TokenArgs) -> anyhow::Result<i32> {
    let Some(secret) = &settings.jwt_secret else {
        anyhow::bail!("SKYGENI_JWT_SECRET is not set; export the same secret the server uses");
    };
    if args.ttl <= 0 {
        anyhow::bail!("--ttl must be a positive number of seconds");
    }
    if args.ttl as u64 > settings.jwt_max_lifetime_secs {
        anyhow::bail!(
            "--ttl {} is longer than the server accepts (SKYGENI_JWT_MAX_LIFETIME_SECS = {})",
            args.ttl,
            settings.jwt_max_lifetime_secs
        );
    }
    println!(
        "{}",
        issue_token(secret, tenant, args.role, &args.sub, args.ttl)?
    );
    Ok(0)
}
