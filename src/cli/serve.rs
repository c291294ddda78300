//! `skygeni serve` (the HTTP service on SKYGENI_BIND) and `skygeni token` (a JWT for the API).
use crate::api::auth::{Role, issue_token};
use crate::config::Settings;
use crate::domain::TenantId;
use crate::http::Application;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides SKYGENI_BIND).
    #[arg(long)]
    pub bind: Option<String>,
}

pub async fn serve(mut settings: Settings, args: ServeArgs) -> anyhow::Result<i32> {
    if let Some(b) = args.bind {
        settings.bind = b;
    }
    match &settings.jwt_secret {
        None => {
            tracing::warn!("SKYGENI_JWT_SECRET is not set: every /v1 request will be refused (401)")
        }
        Some(s) if secrecy::ExposeSecret::expose_secret(s).len() < 32 => tracing::warn!(
            "SKYGENI_JWT_SECRET is shorter than 32 bytes; use a long random secret for HS256"
        ),
        Some(_) => {}
    }
    let app = Application::build(settings).await?;
    eprintln!("skygeni listening on port {}", app.port());
    app.run_until_stopped().await?;
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
    println!(
        "{}",
        issue_token(secret, tenant, args.role, &args.sub, args.ttl)?
    );
    Ok(0)
}
