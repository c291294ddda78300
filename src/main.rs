//! `skygeni` binary: parse the command line, run the command, map errors to exit codes.
use clap::Parser;

/// mimalloc instead of glibc's malloc: a request or a scored row allocates many small,
/// short-lived buffers, and glibc's malloc/free was ~10 % of the API server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKYGENI_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = skygeni::cli::Cli::parse();
    let code = match skygeni::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: "failed to X: because Y".
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
