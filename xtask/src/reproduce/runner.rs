//! The [`Runner`]: the `actfn` binary as a subprocess, and the run cache under the work
//! directory (search directories and keyed final runs) that makes a reproduction resumable
//! and lets tables share runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use actfn_evo::{Summary, TrainResult};
use actfn_expr::{stable_hash, Expr};
use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::executor::{train_all, Executor, FinalRun};
use super::preset::{default_preset, search_dir_name, SearchPlan, Training};
use super::Options;
use crate::actfn_args;

/// Final run `r` of a function is seeded `FINAL_RUN_FIRST_SEED + r`. Any fixed seeds
/// would do; these are the ones every stored final run was trained with (they are in its
/// `result.json`), so a changed value would mix runs of two seedings in one table.
const FINAL_RUN_FIRST_SEED: u64 = 1000;

/// The functions read from each search's report: more than any preset's `top_k`, and
/// enough to pair Table 3's searched functions with Table 1's for Figure 5.
const SEARCH_REPORT_TOP: usize = 50;

/// Everything a reproduction needs: where things are, and how to call `actfn`.
pub(super) struct Runner {
    pub(super) root: PathBuf,
    pub(super) preset: String,
    actfn: PathBuf,
    data_dir: PathBuf,
    pub(super) runs: PathBuf,
    pub(super) results: PathBuf,
    threads: Option<usize>,
    executor: Executor,
    pub(super) started: Instant,
}

impl Runner {
    pub(super) fn new(root: &Path, table: &str, options: &Options) -> anyhow::Result<Runner> {
        let preset = options.preset.clone().unwrap_or_else(default_preset);
        let runs = options
            .work_dir
            .clone()
            .unwrap_or_else(|| root.join("runs"))
            .join(&preset);
        let results = options
            .results_dir
            .clone()
            .unwrap_or_else(|| root.join("results"))
            .join(&preset);
        if options.fresh {
            let table_runs = runs.join(table);
            if table_runs.exists() {
                std::fs::remove_dir_all(&table_runs)
                    .with_context(|| format!("cannot remove {}", table_runs.display()))?;
            }
            let finals = runs.join("final");
            if finals.exists() {
                std::fs::remove_dir_all(&finals)
                    .with_context(|| format!("cannot remove {}", finals.display()))?;
            }
        }
        std::fs::create_dir_all(&runs)
            .with_context(|| format!("cannot create {}", runs.display()))?;
        std::fs::create_dir_all(&results)
            .with_context(|| format!("cannot create {}", results.display()))?;
        let executor = Executor::from_options(options)?;
        let actfn = build_actfn(root)?;
        Ok(Runner {
            root: root.to_owned(),
            preset,
            actfn,
            data_dir: root.join("data"),
            runs,
            results,
            threads: options.threads.or(executor.default_threads()),
            executor,
            started: Instant::now(),
        })
    }

    pub(super) fn stage(&self, text: &str) {
        eprintln!(
            "[{} {:>6.0}s] {text}",
            self.preset,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Runs `actfn ARGS`, its progress going to our stderr, and returns its stdout.
    pub(super) fn actfn(&self, args: &[String]) -> anyhow::Result<String> {
        let output = Command::new(&self.actfn)
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", self.actfn.display()))?;
        if !output.status.success() {
            bail!("`actfn {}` failed ({})", args.join(" "), output.status);
        }
        String::from_utf8(output.stdout).context("actfn printed non-UTF-8 output")
    }

    /// Makes sure a data set is in data/: from the tarball in `ACTFN_DATA_TARBALLS` when
    /// there is one, else from the official URL.
    fn ensure_data(&self, dataset: &str) -> anyhow::Result<()> {
        let marker = match dataset {
            "cifar10" => "cifar-10-batches-bin",
            "cifar100" => "cifar-100-binary",
            other => bail!("unknown data set {other:?}"),
        };
        if self.data_dir.join(marker).is_dir() {
            return Ok(());
        }
        self.stage(&format!("fetching {dataset}"));
        let args: Vec<String> = actfn_args::data_fetch(dataset, &self.data_dir)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        self.actfn(&args)?;
        Ok(())
    }

    /// The directory of a search: named by the plan and keyed by plan and training
    /// settings, so that a search made with other settings is never continued.
    pub(super) fn search_dir(
        &self,
        table: &str,
        plan: &SearchPlan,
        training: &Training,
    ) -> PathBuf {
        self.runs.join(table).join(search_dir_name(plan, training))
    }

    /// Runs (or continues) one search and returns its report.
    pub(super) fn search(
        &self,
        table: &str,
        plan: &SearchPlan,
        training: &Training,
        seed: u64,
    ) -> anyhow::Result<Summary> {
        let dir = self.search_dir(table, plan, training);
        self.ensure_data(&training.dataset)?;
        let args = actfn_args::search(
            plan,
            training,
            seed,
            &dir,
            &self.data_dir,
            self.threads,
            &self.executor,
        );
        self.stage(&format!(
            "search {table}/{} ({} in S{}, {})",
            plan.name,
            plan.strategy,
            plan.depth,
            training.describe()
        ));
        self.actfn(&args)?;
        let report = self.report(&dir, Some(SEARCH_REPORT_TOP))?;
        // Keep the evaluation records beside the tables: they are small and are the
        // evidence behind every number.
        let records = dir.join("records.jsonl");
        if records.exists() {
            let dest = self.results.join("searches").join(table);
            std::fs::create_dir_all(&dest)?;
            std::fs::copy(&records, dest.join(format!("{}.jsonl", plan.name)))?;
        }
        Ok(report)
    }

    /// The summary of the search in `dir` with its `top` best functions [default: the
    /// search's top k], through `actfn report --json-out` (written beside `dir`).
    pub(super) fn report(&self, dir: &Path, top: Option<usize>) -> anyhow::Result<Summary> {
        let name = dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let path = dir.with_file_name(match top {
            Some(top) => format!("{name}.report-top{top}.json"),
            None => format!("{name}.report.json"),
        });
        self.actfn(&actfn_args::report(dir, top, &path))?;
        read_json(&path).with_context(|| format!("cannot read the report of {}", dir.display()))
    }

    /// The folder, seed and `actfn train` arguments of final run `run` of `expr`.
    fn final_run(&self, canonical: &str, training: &Training, run: usize) -> (FinalRun, u64) {
        let fn_key = format!("{:016x}", stable_hash(canonical.as_bytes()));
        let dir = self
            .runs
            .join("final")
            .join(training.key())
            .join(&fn_key)
            .join(format!("run-{run}"));
        let seed = FINAL_RUN_FIRST_SEED + run as u64;
        let json_out = dir.join("train.json");
        let args = actfn_args::train(
            canonical,
            training,
            seed,
            &dir,
            &json_out,
            &self.data_dir,
            self.threads,
        );
        (
            FinalRun {
                args,
                dir,
                json_out,
            },
            seed,
        )
    }

    /// Trains every final run of `wanted` (function, training, runs) through the executor
    /// at once (local workers or Slurm arrays; nothing for inline, where [`Self::finals`]
    /// trains them in turn). Runs already published are not trained again.
    pub(super) fn train_finals(&self, wanted: &[(&Expr, &Training, usize)]) -> anyhow::Result<()> {
        if matches!(self.executor, Executor::Inline) {
            return Ok(());
        }
        let mut runs = Vec::new();
        for (expr, training, n) in wanted {
            self.ensure_data(&training.dataset)?;
            let canonical = expr.to_string();
            for run in 0..*n {
                runs.push(self.final_run(&canonical, training, run).0);
            }
        }
        // The whole list goes to the executor (a restarted Slurm reproduction finds its
        // journal by it), but only a list with runs still to train is worth a word.
        let missing = runs.iter().filter(|r| !r.json_out.is_file()).count();
        if missing == 0 {
            return Ok(());
        }
        self.stage(&format!(
            "{missing} of {} final runs to train on the {:?} executor",
            runs.len(),
            self.executor.kind().name()
        ));
        let slurm_root = self.runs.join("final").join("slurm");
        train_all(&self.executor, &self.actfn, &self.root, &slurm_root, &runs)
    }

    /// Runs (or reuses) `runs` final trainings of `expr` and returns their outcomes.
    pub(super) fn finals(
        &self,
        expr: &Expr,
        training: &Training,
        runs: usize,
        label: &str,
    ) -> anyhow::Result<Vec<RunResult>> {
        self.ensure_data(&training.dataset)?;
        self.train_finals(&[(expr, training, runs)])?;
        let canonical = expr.to_string();
        let mut out = Vec::new();
        for run in 0..runs {
            let (plan, seed) = self.final_run(&canonical, training, run);
            let result_path = plan.dir.join("result.json");
            if let Ok(text) = std::fs::read_to_string(&result_path) {
                if let Ok(result) = serde_json::from_str::<RunResult>(&text) {
                    out.push(result);
                    continue;
                }
            }
            if matches!(self.executor, Executor::Inline) {
                self.stage(&format!(
                    "final {label} run {}/{runs} ({})",
                    run + 1,
                    training.describe()
                ));
                // A file left by an earlier, killed run must not stand for this one.
                match std::fs::remove_file(&plan.json_out) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e)
                            .with_context(|| format!("cannot remove {}", plan.json_out.display()))
                    }
                    _ => {}
                }
                self.actfn(&plan.args)?;
            }
            // Published by `actfn train` (here, or by a worker of `train_finals`).
            let parsed: TrainResult =
                read_json(&plan.json_out).context("cannot read the result of `actfn train`")?;
            let result = RunResult {
                expr: canonical.clone(),
                dataset: training.dataset.clone(),
                run,
                seed,
                test_acc: parsed.test_acc,
                val_acc: parsed.val_acc,
                status: parsed.status.name().to_owned(),
            };
            std::fs::create_dir_all(&plan.dir)?;
            std::fs::write(&result_path, serde_json::to_string_pretty(&result)?)?;
            out.push(result);
        }
        Ok(out)
    }
}

/// One final training run, as stored in its `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RunResult {
    pub(super) expr: String,
    pub(super) dataset: String,
    pub(super) run: usize,
    pub(super) seed: u64,
    pub(super) test_acc: Option<f64>,
    pub(super) val_acc: Option<f64>,
    pub(super) status: String,
}

impl RunResult {
    pub(super) fn ok_acc(&self) -> Option<f64> {
        if self.status == "ok" {
            self.test_acc.filter(|a| a.is_finite())
        } else {
            None
        }
    }
}

/// The median test accuracy (in %) of the runs that finished, and whether any did not.
pub(super) fn median_acc(runs: &[RunResult]) -> (Option<f64>, bool) {
    let accs: Vec<f64> = runs.iter().filter_map(RunResult::ok_acc).collect();
    let incomplete = accs.len() < runs.len();
    (
        actfn_stats::median(&accs).ok().map(|m| 100.0 * m),
        incomplete,
    )
}

/// Reads a JSON file that `actfn` wrote.
fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not the expected JSON", path.display()))
}

/// Builds the `actfn` binary in release mode and returns its path.
pub(crate) fn build_actfn(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("xtask: building actfn (release)");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "actfn-cli"])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p actfn-cli failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("actfn"))
}
