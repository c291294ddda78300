//! One `skygeni serve` process: the HTTP service, the scheduler and the outbox dispatcher,
//! each switchable so replicas can specialise, supervised together: a part that stops before
//! the shutdown signal (a panic) is named, the others are stopped, and the process fails so
//! the orchestrator restarts it instead of running on without its scheduler or dispatcher.
use super::{AppState, Application};
use crate::config::Settings;
use crate::jobs::nightly_hooks::LiveHooks;
use crate::jobs::scheduler::{Scheduler, SchedulerConfig};
use crate::notify::compose::Links;
use crate::notify::dispatcher::{DispatchConfig, Dispatcher};
use crate::notify::senders::{ChatSender, EmailSender};
use crate::notify::sendgrid::{SendGridClient, email_refusal};
use crate::notify::slack_dm::{BotTokens, SlackDmSender};
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Which parts this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    pub http: bool,
    pub scheduler: bool,
    pub dispatcher: bool,
}

/// Runs `parts` until SIGINT/SIGTERM (or until one of them stops on its own, which is an error
/// naming it), then lets each finish what it is doing and writes the queued audit entries.
pub async fn run(settings: Settings, parts: Parts) -> anyhow::Result<()> {
    if !(parts.http || parts.scheduler || parts.dispatcher) {
        anyhow::bail!(
            "--no-http, --no-scheduler and --no-dispatcher together leave nothing to run"
        );
    }
    // Before anything is announced: a SIGTERM right after "listening" must stop us gracefully.
    let signal = super::ShutdownSignal::install();
    let store = Store::connect(&settings.database_url).await?;
    let (app, state) = if parts.http {
        let app = Application::build_with_store(settings.clone(), store.clone()).await?;
        eprintln!("skygeni listening on port {}", app.port());
        let state = app.state().clone();
        (Some(app), state)
    } else {
        (None, AppState::new(settings.clone(), store.clone()).await?)
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    let links = Links::from_settings(&settings);
    if parts.dispatcher {
        let d = dispatcher(&settings, &state, store.clone(), links.clone())?;
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            d.run(stop).await;
            "the outbox dispatcher"
        });
    }
    if parts.scheduler {
        let cfg = SchedulerConfig::from_settings(&settings)?;
        // Salesforce sync before the nightly score, App Home refresh after it.
        let hooks = LiveHooks::shared(state.clone());
        let s = Scheduler::new(store, cfg, links, Some(hooks))?;
        let (clock, stop) = (state.clock.clone(), stop_rx.clone());
        tasks.spawn(async move {
            s.run(clock, stop).await;
            "the scheduler"
        });
    }
    if let Some(app) = app {
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = app.run_until(stopped).await {
                tracing::error!("HTTP server: {e:#}");
            }
            "the HTTP server"
        });
    }
    // `None` on the shutdown signal; otherwise the part that ended first (or its panic).
    let early = tokio::select! {
        _ = signal.recv() => None,
        Some(ended) = tasks.join_next() => Some(ended),
    };
    let _ = stop_tx.send(true);
    // The dispatcher finishes the pass in progress (its sends are bounded by client timeouts);
    // the HTTP server drains for at most `SHUTDOWN_GRACE`.
    while tasks.join_next().await.is_some() {}
    state.flush_audit().await;
    match early {
        None => Ok(()),
        Some(Ok(name)) => anyhow::bail!("{name} stopped before a shutdown signal"),
        Some(Err(panic)) => anyhow::bail!("a part of the process stopped: {panic}"),
    }
}

/// The outbox dispatcher with SendGrid (when configured and allowed) and Slack DMs.
fn dispatcher(
    settings: &Settings,
    state: &AppState,
    store: Store,
    links: Links,
) -> anyhow::Result<Arc<Dispatcher>> {
    let email: Option<Arc<dyn EmailSender>> =
        match (&settings.sendgrid_api_key, email_refusal(settings)) {
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
    Dispatcher::new(store, email, Some(chat), links, cfg)
}
