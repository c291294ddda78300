//! `skygeni serve` (the HTTP service on SKYGENI_BIND, the scheduler and the outbox dispatcher
//! in one process, see `app::process`; flags switch each off so replicas can specialise) and
//! `skygeni token`.
use crate::app::process::Parts;
use crate::auth::{Role, issue_token};
use crate::config::Settings;
use crate::domain::TenantId;

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
    let parts = Parts {
        http: !args.no_http,
        scheduler: !args.no_scheduler,
        dispatcher: !args.no_dispatcher,
    };
    crate::app::process::run(settings, parts).await?;
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
