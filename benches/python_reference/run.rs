//! Runs issue 18's Python reference (`benches/python_reference/`) on this machine, beside the
//! `skygeni` binary, so the ratios in `whole_process` are measured here rather than quoted.
//! Enabled by SKYGENI_BENCH_PYTHON=<a python with requirements.txt installed>;
//! `scripts/bench-reference` makes such a virtualenv and runs the bench with it.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, ensure};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python_reference");

/// The reference's timings of one file row.
pub struct FileTimes {
    /// Median wall time of the whole `python reference.py score …` process.
    pub process: f64,
    /// Median of the script's own span (read, features, predict, factors, write), which is what
    /// the issue quotes: no interpreter start or imports.
    pub span: f64,
}

pub struct PythonRef {
    python: PathBuf,
}

impl PythonRef {
    /// The reference when SKYGENI_BENCH_PYTHON is set; an error if that Python lacks a package.
    pub fn from_env() -> anyhow::Result<Option<PythonRef>> {
        let Some(python) = std::env::var_os("SKYGENI_BENCH_PYTHON").map(PathBuf::from) else {
            return Ok(None);
        };
        let probe = Command::new(&python)
            .args(["-c", "import pandas, sklearn, fastapi, uvicorn, jwt"])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        ensure!(
            probe.status.success(),
            "SKYGENI_BENCH_PYTHON={} lacks the reference's packages \
             (pip install -r benches/python_reference/requirements.txt): {}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr)
        );
        Ok(Some(PythonRef { python }))
    }

    fn script(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.python);
        c.arg(Path::new(DIR).join("reference.py")).args(args);
        c
    }

    /// Fit the reference model on `history` (deals closed before `as_of`) into `out`.
    pub fn train(&self, history: &Path, as_of: &str, out: &Path) -> anyhow::Result<()> {
        let mut c = self.script(&["train", "--as-of", as_of]);
        c.arg("--history").arg(history).arg("--out").arg(out);
        run(c).map(drop)
    }

    /// Median whole-process time and scoring span of `runs` runs of
    /// `reference.py score --csv open --out out <flag> <file>` (one untimed warm-up first).
    pub fn score_file(
        &self,
        runs: usize,
        open: &Path,
        out: &Path,
        flag: &str,
        file: &Path,
        as_of: &str,
    ) -> anyhow::Result<FileTimes> {
        let runs = super::timed(runs, || {
            let mut c = self.script(&["score", "--as-of", as_of, flag]);
            c.arg(file).arg("--csv").arg(open).arg("--out").arg(out);
            let stderr = run(c)?;
            let span = stderr
                .lines()
                .find_map(|l| l.strip_prefix("scoring_span_seconds="))
                .context("reference.py printed no scoring span")?;
            Ok(span.trim().parse::<f64>()?)
        })?;
        let (mut process, mut span): (Vec<f64>, Vec<f64>) = runs.into_iter().unzip();
        Ok(FileTimes {
            process: super::median(&mut process),
            span: super::median(&mut span),
        })
    }

    /// `uvicorn api:app --workers 2` on `port`, scoring with `model` and auditing into `db`.
    pub fn spawn_api(
        &self,
        port: u16,
        model: &Path,
        history: &Path,
        db: &Path,
        secret: &str,
    ) -> anyhow::Result<Child> {
        let uvicorn = self.python.with_file_name("uvicorn");
        ensure!(
            uvicorn.is_file(),
            "no uvicorn beside {}",
            self.python.display()
        );
        Ok(Command::new(uvicorn)
            .current_dir(DIR)
            .args([
                "api:app",
                "--workers",
                "2",
                "--log-level",
                "warning",
                "--port",
            ])
            .arg(port.to_string())
            .env("REF_MODEL", model)
            .env("REF_HISTORY", history)
            .env("REF_DB", db)
            .env("REF_JWT_SECRET", secret)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?)
    }
}

fn run(mut c: Command) -> anyhow::Result<String> {
    let out = c.stdout(Stdio::null()).output()?;
    ensure!(
        out.status.success(),
        "python reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}
