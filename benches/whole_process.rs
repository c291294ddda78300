//! `cargo bench --bench whole_process`: the product timed as users run it (issue 18) — the
//! release `skygeni` binary as its own process, not library calls:
//!
//! 1. `skygeni score --csv OPEN --out OUT --model M.json` on 100,000 generated open deals,
//!    with the model trained on the seed data (segment rates: the seed has little signal), and
//!    again with SkyGeni's logistic and gradient-boosting models, trained on generated history
//!    whose outcomes follow the cycle and the amount (the kind is checked);
//! 2. `skygeni score --csv OPEN --out OUT --train HISTORY.csv`, the history being the design's
//!    5,000 seed deals (fit + scoring in one run);
//! 3. `skygeni serve` on the default embedded SQLite (`skygeni.db` in the working directory)
//!    with JWT on, after `skygeni import` of 100,000 generated deals and `skygeni train`; wrk
//!    (2 threads, 32 connections, 10 s) sends `POST /v1/deals/score` with the deal in the body
//!    and a rep's token. Then SIGTERM, and the audit log must hold one `deal.score` row per
//!    answered request. PostgreSQL too when SKYGENI_BENCH_DATABASE_URL names an admin URL.
//!
//! wrk runs on the same 2 cores as the server. Runs of (1) and (2): SKYGENI_BENCH_RUNS (7);
//! SKYGENI_BENCH_SKIP_SERVE=1 skips (3).
//! The Python reference (pandas + scikit-learn GradientBoosting; FastAPI + uvicorn,
//! 2 workers; `benches/python_reference/`) runs beside each row, on the same files and under
//! the same wrk load, when SKYGENI_BENCH_PYTHON names a Python that has its requirements
//! (`scripts/bench-reference` sets one up); without it the quoted figures are used.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use skygeni::crm::synthetic::{generated_csv, generated_open_csv};
use skygeni::engine::TrainConfig;

mod common;
#[path = "python_reference/run.rs"]
mod python_ref;
#[path = "common/wrk.rs"]
mod wrk;

const ROWS: usize = 100_000;
const BIN: &str = env!("CARGO_BIN_EXE_skygeni");
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/skygeni_sales_data.csv"
);
const AS_OF: &str = "2024-06-01";
const JWT_SECRET: &str = "whole-process-bench-secret-of-32-bytes-or-more";
const REP: &str = "rep_1";

fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::var("SKYGENI_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    // SKYGENI_BENCH_KEEP=DIR keeps the files and databases there (to profile `serve` again).
    let temp = tempfile::tempdir()?;
    let kept = std::env::var_os("SKYGENI_BENCH_KEEP").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temp.path());
    std::fs::create_dir_all(dir)?;
    let open = dir.join("open.csv");
    let out = dir.join("scored.csv");
    let model = dir.join("model.json");
    std::fs::write(&open, generated_open_csv(ROWS, "S"))?;
    write_seed_model(&model)?;
    println!("whole_process: {ROWS} open deals, binary {BIN}");

    let py = python_ref::PythonRef::from_env()?;
    let py_model = dir.join("model.pkl");
    if let Some(py) = &py {
        py.train(Path::new(SEED), AS_OF, &py_model)?;
    }

    let model_args = score_args(&open, &out, "--model", &model);
    let (best, median) = time_runs(runs, &model_args)?;
    ensure!(count_lines(&out)? == ROWS + 1, "every deal scored");
    println!("  score --csv --model     : median {median:.3} s, best {best:.3} s ({runs} runs)");
    let py_out = dir.join("scored_python.csv");
    let measured = py
        .as_ref()
        .map(|p| p.score_file(runs, &open, &py_out, "--model", &py_model, AS_OF))
        .transpose()?;
    print_file_ratio(median, measured.as_ref(), 0.64..=0.76, 10.0);
    // The seed data has little signal, so the model above is segment rates, the cheapest kind.
    // SkyGeni's own logistic and tree models, trained where they win, cost more per deal.
    for (kind, path) in signal_models(dir)? {
        let args = score_args(&open, &out, "--model", &path);
        let (best, median) = time_runs(runs, &args)?;
        ensure!(count_lines(&out)? == ROWS + 1, "every deal scored");
        println!(
            "  score --csv --model ({kind}): median {median:.3} s, best {best:.3} s ({runs} runs)"
        );
        print_file_ratio(median, measured.as_ref(), 0.64..=0.76, 10.0);
    }
    let train_args = score_args(&open, &out, "--train", Path::new(SEED));
    let (best, median) = time_runs(runs, &train_args)?;
    ensure!(count_lines(&out)? == ROWS + 1, "every deal scored");
    println!("  score --csv --train     : median {median:.3} s, best {best:.3} s ({runs} runs)");
    let measured = py
        .as_ref()
        .map(|p| p.score_file(runs, &open, &py_out, "--train", Path::new(SEED), AS_OF))
        .transpose()?;
    print_file_ratio(median, measured.as_ref(), 1.1..=1.25, 5.0);

    if std::env::var("SKYGENI_BENCH_SKIP_SERVE").as_deref() == Ok("1") {
        return Ok(());
    }
    let deals = dir.join("deals.csv");
    std::fs::write(&deals, generated_csv(ROWS, "B"))?;
    if which("wrk").is_none() {
        println!("  serve: skipped, wrk is not on the PATH (apt-get install wrk)");
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new()?;
    let mut targets: Vec<(&str, Option<String>)> = vec![("sqlite (default skygeni.db)", None)];
    for (name, url) in rt.block_on(common::bench_targets(dir, "skygeni_bench_whole"))? {
        if name == "postgres" {
            targets.push(("postgres", Some(url)));
        }
    }
    // The reference first: right after a PostgreSQL run, the server's background writes to
    // the fresh audit rows (checkpoint, autovacuum) took CPU from whatever ran next (once the
    // reference measured 867 req/s instead of ~2,000).
    let reference = match &py {
        Some(py) => Some(python_serve_bench(&rt, py, dir, &py_model)?),
        None => None,
    };
    let mut served = Vec::new();
    for (name, url) in targets {
        let work = dir.join(name.split(' ').next().unwrap_or(name));
        std::fs::create_dir_all(&work)?;
        served.push((name, serve_bench(&rt, name, url.as_deref(), &work, &deals)?));
    }
    for (name, rps) in served {
        match reference {
            Some(py_rps) => println!(
                "  serve {name:<27}: {:.1}× the Python reference measured here (goal ≥ 10×, p99 < 5 ms)",
                rps / py_rps
            ),
            None => println!(
                "  serve {name:<27}: {:.1}×–{:.1}× the issue's Python reference of 1,500–2,500 req/s (goal ≥ 10×, p99 < 5 ms)",
                rps / 2500.0,
                rps / 1500.0
            ),
        }
    }
    Ok(())
}

/// SkyGeni's median against the reference: measured here when SKYGENI_BENCH_PYTHON is set,
/// else against the quoted range.
fn print_file_ratio(
    median: f64,
    measured: Option<&python_ref::FileTimes>,
    quoted: std::ops::RangeInclusive<f64>,
    goal: f64,
) {
    match measured {
        Some(py) => println!(
            "      Python reference measured here: scoring span {:.3} s, whole process {:.3} s → {:.1}× its span, {:.1}× its whole process (goal ≥ {goal}×)",
            py.span,
            py.process,
            py.span / median,
            py.process / median
        ),
        None => println!(
            "      Python reference (the issue's figure): {}–{} s → {:.1}×–{:.1}× (goal ≥ {goal}×)",
            quoted.start(),
            quoted.end(),
            quoted.start() / median,
            quoted.end() / median
        ),
    }
}

/// The Python reference API under the same wrk load; its req/s.
fn python_serve_bench(
    rt: &tokio::runtime::Runtime,
    py: &python_ref::PythonRef,
    dir: &Path,
    model: &Path,
) -> anyhow::Result<f64> {
    let work = dir.join("python");
    std::fs::create_dir_all(&work)?;
    let db = work.join("audit.db");
    let port = free_port()?;
    let token = rep_token(&work, None)?;
    let server = Server(py.spawn_api(port, model, Path::new(SEED), &db, JWT_SECRET)?);
    wait_healthy(port, "/openapi.json")?;
    // uvicorn's second worker starts after the first answers; give it its start-up time.
    std::thread::sleep(Duration::from_secs(3));
    let (line, answered) = load(&work, port, &token)?;
    let stopped = server.stop()?;
    ensure!(stopped.success(), "uvicorn exited with {stopped}");
    let url = format!("sqlite://{}", db.display());
    let audited = rt.block_on(count_rows(&url, "SELECT COUNT(*) FROM audit_log"))?;
    println!(
        "  Python reference (FastAPI + uvicorn, 2 workers, SQLite audit): wrk -t2 -c32: {line}"
    );
    println!("      audit rows: {audited} for {answered} answered requests (warm-up included)");
    requests_per_sec(&line)
}

/// The req/s figure at the start of wrk's RESULT line.
fn requests_per_sec(line: &str) -> anyhow::Result<f64> {
    line.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no req/s in {line}"))
}

/// A model trained on the seed data, written as `skygeni score --model` reads it.
fn write_seed_model(path: &Path) -> anyhow::Result<()> {
    let as_of: chrono::NaiveDate = AS_OF.parse()?;
    let deals = skygeni::crm::read_csv_file(SEED.as_ref(), as_of)?.deals;
    let model = skygeni::engine::train(&deals, &TrainConfig::default())
        .model
        .context("the seed data trains a model")?;
    std::fs::write(path, model.to_json()?)?;
    Ok(())
}

/// A logistic and a tree model (kind checked) trained on 20,000 generated closed deals whose
/// outcome follows the sales cycle and the amount (the seed data's weak signal selects segment
/// rates), written as `skygeni score --model` reads them.
fn signal_models(dir: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    use skygeni::domain::Outcome;
    use skygeni::engine::trees::GbtParams;
    let as_of: chrono::NaiveDate = AS_OF.parse()?;
    let mut deals =
        skygeni::crm::parse_csv_bytes(generated_csv(20_000, "H").as_bytes(), as_of)?.deals;
    deals.retain(|d| d.outcome.is_some());
    for (i, d) in deals.iter_mut().enumerate() {
        let cycle = d.sales_cycle_days.unwrap_or(60);
        let p_win =
            if cycle < 45 { 0.75 } else { 0.30 } - if d.amount > 60_000.0 { 0.15 } else { 0.0 };
        // A fixed pseudo-random draw per deal, so every run trains the same models.
        let u = (i as u64).wrapping_mul(2_654_435_761) % 1000;
        d.outcome = Some(if (u as f64) < p_win * 1000.0 {
            Outcome::Won
        } else {
            Outcome::Lost
        });
    }
    let configs = [
        (
            "logistic",
            TrainConfig {
                gbt: None,
                ..TrainConfig::default()
            },
        ),
        (
            "gradient_boosting",
            TrainConfig {
                l2_candidates: vec![],
                gbt: Some(GbtParams::default()),
                ..TrainConfig::default()
            },
        ),
    ];
    let mut out = Vec::new();
    for (kind, cfg) in configs {
        let model = skygeni::engine::train(&deals, &cfg)
            .model
            .context("the signal history trains a model")?;
        ensure!(
            model.kind.as_str() == kind,
            "the signal history selected {} instead of {kind}",
            model.kind.as_str()
        );
        let path = dir.join(format!("model-{kind}.json"));
        std::fs::write(&path, model.to_json()?)?;
        out.push((kind, path));
    }
    Ok(out)
}

fn score_args(open: &Path, out: &Path, flag: &str, file: &Path) -> Vec<String> {
    let p = |p: &Path| p.display().to_string();
    vec![
        "score".into(),
        "--csv".into(),
        p(open),
        "--out".into(),
        p(out),
        flag.into(),
        p(file),
        "--as-of".into(),
        AS_OF.into(),
    ]
}

/// Best and median wall time of `runs` runs of the binary (one untimed warm-up run first, so
/// the page cache holds the binary and the input as it would for a pipeline's repeated runs).
fn time_runs(runs: usize, args: &[String]) -> anyhow::Result<(f64, f64)> {
    let mut times: Vec<f64> = timed(runs, || run_quiet(args))?
        .into_iter()
        .map(|(t, ())| t)
        .collect();
    Ok((min(&mut times), median(&mut times)))
}

/// `f` once untimed (a warm-up: the page cache then holds the program and its input, as for a
/// pipeline's repeated runs), then `runs` timed runs: each one's seconds and result.
fn timed<T>(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<Vec<(f64, T)>> {
    f()?;
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            let r = f()?;
            Ok((t.elapsed().as_secs_f64(), r))
        })
        .collect()
}

fn min(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[0]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run_quiet(args: &[String]) -> anyhow::Result<()> {
    let mut c = Command::new(BIN);
    c.args(args).stdout(Stdio::null());
    checked(c, &format!("skygeni {}", args.join(" "))).map(drop)
}

fn count_lines(path: &Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_to_string(path)?.lines().count())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// `skygeni` with the bench's environment, run in `work` (so the default database is
/// `work/skygeni.db`) or against `url`.
fn skygeni(work: &Path, url: Option<&str>, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(work)
        .env("SKYGENI_JWT_SECRET", JWT_SECRET)
        .env("SKYGENI_BIND", format!("127.0.0.1:{port}"))
        // wrk is one "user": the default per-user limit would answer most requests 429.
        .env("SKYGENI_RATE_LIMIT_USER_PER_MIN", "100000000")
        .env("SKYGENI_RATE_LIMIT_TENANT_PER_MIN", "100000000")
        .env_remove("SKYGENI_DATABASE_URL")
        .env_remove("SKYGENI_REDIS_URL");
    if let Some(url) = url {
        c.env("SKYGENI_DATABASE_URL", url);
    }
    c
}

fn checked(mut c: Command, what: &str) -> anyhow::Result<String> {
    let out = c.output().with_context(|| format!("running {what}"))?;
    ensure!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn serve_bench(
    rt: &tokio::runtime::Runtime,
    name: &str,
    url: Option<&str>,
    work: &Path,
    deals: &Path,
) -> anyhow::Result<f64> {
    let port = free_port()?;
    let mut import = skygeni(work, url, port);
    import
        .args(["import", "--as-of", AS_OF, "--csv"])
        .arg(deals);
    checked(import, "skygeni import")?;
    let mut train = skygeni(work, url, port);
    train.args(["train", "--as-of", AS_OF]);
    checked(train, "skygeni train")?;
    let token = rep_token(work, url)?;

    let mut serve = skygeni(work, url, port);
    serve
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Server(serve.spawn()?);
    wait_healthy(port, "/healthz")?;
    let (line, answered) = load(work, port, &token)?;
    let warm = server.stop()?;
    ensure!(warm.success(), "serve exited with {warm}");
    let audited = rt.block_on(audit_rows(work, url))?;
    println!("  serve {name:<27}: wrk -t2 -c32 POST /v1/deals/score (body): {line}");
    println!(
        "      audit rows deal.score: {audited} for {answered} answered requests (warm-up included)"
    );
    // wrk stops with up to 32 requests in flight: the server may have answered (and audited)
    // those after wrk stopped counting, never fewer.
    ensure!(
        (answered..=answered + 2 * 32).contains(&(audited as u64)),
        "one audit row per answered request"
    );
    requests_per_sec(&line)
}

/// A free loopback port.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A rep's token signed with the bench's secret.
fn rep_token(work: &Path, url: Option<&str>) -> anyhow::Result<String> {
    let mut token = skygeni(work, url, 0);
    token.args(["token", "--sub", REP, "--role", "rep"]);
    checked(token, "skygeni token")
}

/// wrk against `POST /v1/deals/score` on `port`: one request answered first (the first loads
/// the tenant's scorer and pipeline standing, which took from under 1 s to over 2 s, longer
/// than the warm-up, and then requests still waiting on it fell into the measured 10 s as
/// p99s of 15 ms to 1.1 s), 2 s of warm-up, then the 10 s measured. wrk's RESULT line and the
/// requests answered, the first one included.
fn load(work: &Path, port: u16, token: &str) -> anyhow::Result<(String, u64)> {
    let started = Instant::now();
    first_request(port, token)?;
    println!(
        "      first request (loads the scorer and the standing): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let script = work.join("body.lua");
    std::fs::write(&script, wrk_script(token))?;
    let endpoint = format!("http://127.0.0.1:{port}/v1/deals/score");
    let (_, warmup) = wrk(&script, &endpoint, "2s")?;
    let (line, requests) = wrk(&script, &endpoint, "10s")?;
    Ok((line, 1 + warmup + requests))
}

/// One `POST /v1/deals/score` with the bench's body, answered 200 (within 60 s).
fn first_request(port: u16, token: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let body = score_body().to_string();
    let request = format!(
        "POST /v1/deals/score HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(request.as_bytes())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    ensure!(
        answer.starts_with("HTTP/1.1 200"),
        "first request: {}",
        answer.lines().next().unwrap_or("no answer")
    );
    Ok(())
}

/// A server process: stopped with SIGTERM (so `serve` flushes its audit and uvicorn stops its
/// workers), also when a failed bench drops it; killed only if it does not stop in time.
struct Server(Child);

impl Server {
    /// SIGTERM, then wait for the graceful shutdown.
    fn stop(mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        if let Some(status) = self.0.try_wait()? {
            return Ok(status);
        }
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("the server did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.terminate().is_err() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits (at most 60 s) until `GET path` on `port` answers 200.
fn wait_healthy(port: u16, path: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(request.as_bytes());
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no 200 from {path} on port {port} within 60 s")
}

/// wrk's RESULT line and total requests answered 2xx.
fn wrk(script: &Path, endpoint: &str, duration: &str) -> anyhow::Result<(String, u64)> {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d", duration, "--latency", "-s"])
        .arg(script)
        .arg(endpoint)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .context("wrk printed no RESULT line")?
        .to_string();
    // "… (<n> requests, <m> errors/non-2xx)"
    let field = |word: &str| -> anyhow::Result<u64> {
        line.split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .find(|w| w[1].starts_with(word))
            .and_then(|w| w[0].trim_start_matches('(').parse().ok())
            .with_context(|| format!("no {word} count in {line}"))
    };
    ensure!(field("errors")? == 0, "wrk saw errors: {line}");
    Ok((line.clone(), field("requests")?))
}

fn score_body() -> serde_json::Value {
    serde_json::json!({
        "deal_id": "BENCH-7", "created_date": "2024-02-01", "deal_amount": 17000.0,
        "industry": "SaaS", "region": "Europe", "product_type": "Pro",
        "lead_source": "Partner", "deal_stage": "Proposal", "as_of": AS_OF
    })
}

fn wrk_script(token: &str) -> String {
    wrk::post_script(token, &score_body())
}

/// `deal.score` rows in the audit log after the server stopped.
async fn audit_rows(work: &Path, url: Option<&str>) -> anyhow::Result<i64> {
    let url = match url {
        Some(u) => u.to_string(),
        None => format!("sqlite://{}", work.join("skygeni.db").display()),
    };
    count_rows(
        &url,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'deal.score'",
    )
    .await
}

async fn count_rows(url: &str, sql: &'static str) -> anyhow::Result<i64> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await?;
    Ok(sqlx::query_scalar(sql).fetch_one(&mut c).await?)
}
