//! The composition root: the state every edge is served with ([`AppState`]), building the
//! application (store, caches, clients), and serving it until a shutdown signal — the HTTP
//! router itself is [`crate::http::router`].
//!
//! `Application::build` binds the listener (port 0 in tests) and reports the port;
//! `run_until_stopped` serves until SIGINT/SIGTERM and gives in-flight requests
//! `SHUTDOWN_GRACE` to finish.
pub mod process;

use crate::config::Settings;
use crate::crypto::{CryptoError, SecretBox};
use crate::domain::Clock;
use crate::http::router;
use crate::service::scorer_cache::{DEFAULT_TTL, ScorerCache};
use crate::store::{AuditWriter, Store};
use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Everything a handler needs, behind one `Arc`: every middleware layer clones the state per
/// request, and cloning a dozen `Arc`s (and dropping them) was 4 % of an API server's CPU.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppParts {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub scorers: Arc<ScorerCache>,
    pub limiter: Arc<crate::api::rate_limit::RateLimiter>,
    pub metrics: PrometheusHandle,
    /// Batched audit writes (see [`crate::store::audit_writer`]).
    pub audit: Arc<AuditWriter>,
    /// Seals Slack/Salesforce tokens at rest; `None` when `SKYGENI_ENCRYPTION_KEY` is unset
    /// (features that store tokens then answer with [`CryptoError::MissingKey`]).
    pub secrets: Option<Arc<SecretBox>>,
    /// Slack Web API client and per-workspace token-refresh locks.
    pub slack: Arc<crate::slack::SlackRuntime>,
    /// Tenants recently confirmed to exist (a token's `tenant_id` must name one).
    pub tenants: Arc<crate::auth::KnownTenants>,
    /// Per-tenant pipeline ranks and band edges for relative risk on every surface (short-lived).
    pub standing: Arc<crate::service::standing::StandingCache>,
    /// Where "now" comes from for every edge and worker (the system clock outside tests).
    pub clock: Arc<dyn Clock>,
    /// API bearer tokens already verified (expiry re-checked on each use).
    pub verified_tokens: crate::auth::TokenCache,
}

impl AppState {
    /// Fails only on a malformed `SKYGENI_ENCRYPTION_KEY` (a missing one is allowed).
    pub async fn new(settings: Settings, store: Store) -> anyhow::Result<AppState> {
        use secrecy::ExposeSecret;
        let secrets = match &settings.encryption_key {
            None => None,
            Some(key) => Some(Arc::new(SecretBox::new(
                Some(key.expose_secret()),
                settings
                    .encryption_key_previous
                    .as_ref()
                    .map(|k| k.expose_secret()),
            )?)),
        };
        // One clock for the app and its store (a test's `FixedClock` pins both).
        let clock = store.clock().clone();
        let limiter =
            crate::api::rate_limit::RateLimiter::connect(settings.redis_url.as_deref()).await;
        Ok(AppState(Arc::new(AppParts {
            secrets,
            slack: Arc::new(crate::slack::SlackRuntime::new(&settings)),
            audit: Arc::new(AuditWriter::spawn(store.clone())),
            store,
            settings: Arc::new(settings),
            scorers: Arc::new(ScorerCache::new(DEFAULT_TTL)),
            limiter: Arc::new(limiter),
            metrics: prometheus(),
            tenants: Arc::new(crate::auth::KnownTenants::default()),
            standing: Arc::new(crate::service::standing::StandingCache::default()),
            clock,
            verified_tokens: crate::auth::TokenCache::default(),
        })))
    }

    /// The token sealer, or an error telling the admin to set the key.
    pub fn secrets(&self) -> Result<&SecretBox, CryptoError> {
        self.secrets.as_deref().ok_or(CryptoError::MissingKey)
    }

    /// Returns once every audit entry recorded so far is in the database.
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// A bound, not yet serving, application.
pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    /// Connect the store (running migrations), bind `settings.bind`, assemble the router.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::connect(&settings.database_url).await?;
        Application::build_with_store(settings, store).await
    }

    pub async fn build_with_store(settings: Settings, store: Store) -> anyhow::Result<Application> {
        let listener = tokio::net::TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("failed to bind {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(settings, store).await?;
        Ok(Application {
            listener,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until SIGINT or SIGTERM (listened for before the server starts answering).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let signal = ShutdownSignal::install();
        self.run_until(signal.recv()).await
    }

    /// Serve until `shutdown` completes, then let in-flight requests finish for at most
    /// `SHUTDOWN_GRACE`, then write the queued audit entries.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let res = self.serve_until(shutdown).await;
        state.flush_audit().await;
        res
    }

    async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let limits = crate::accept::Limits {
            max_connections: self.state.settings.max_connections as usize,
            header_timeout: Duration::from_secs(u64::from(self.state.settings.header_timeout_secs)),
        };
        let app = router(self.state);
        let server = crate::accept::serve(self.listener, app, limits, async move {
            let _ = rx.await;
        });
        let mut handle = tokio::spawn(server);
        tokio::select! {
            res = &mut handle => { res.context("server task panicked")?; return Ok(()) },
            _ = shutdown => {}
        }
        tracing::info!("shutdown signal received; draining in-flight requests");
        let _ = tx.send(());
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut handle).await {
            Ok(res) => {
                res.context("server task panicked")?;
                Ok(())
            }
            Err(_) => {
                handle.abort();
                tracing::warn!(
                    "in-flight requests did not finish within {SHUTDOWN_GRACE:?}; dropped"
                );
                Ok(())
            }
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (what orchestrators send) listeners, registered when made
/// rather than when first awaited: a process that announces "listening" and only later waits
/// for the signal would otherwise die of a SIGTERM sent in between (the default action),
/// without draining or writing its audit.
pub struct ShutdownSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    pub fn install() -> ShutdownSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            ShutdownSignal {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignal {}
    }

    /// Completes on the first SIGINT or SIGTERM received since [`ShutdownSignal::install`].
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = next(self.term) => {}
                _ = next(self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
