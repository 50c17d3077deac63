//! `cargo xtask reproduce-table1/2/3`: the paper's tables from presets in `experiments/`.
//!
//! The xtask drives the `actfn` binary (built once in release mode) and never links torch.
//! Every step leaves a durable trace under the work directory (`runs/<preset>/` by default):
//! a search is a search directory that `actfn search` continues where it stopped, and a
//! final training run is finished when its `result.json` exists. Re-running a command after
//! a kill therefore continues; `--fresh` removes this preset's runs first. Final runs are
//! keyed by (training settings, function, data set, run index), so the same run is shared
//! by every table that asks for it and never trained twice.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use actfn_expr::{Expr, Style};

/// Training settings shared by searches and final runs of a preset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Training {
    pub dataset: String,
    pub depth: usize,
    pub width: usize,
    pub epochs: usize,
    pub milestones: Vec<usize>,
    pub train_size: Option<usize>,
    /// Validation images per class (`None`: the paper's 500 for CIFAR-10, 50 for CIFAR-100).
    pub val_per_class: Option<usize>,
    /// Test images evaluated (`Some(0)`: none, `None`: the whole test set).
    pub test_size: Option<usize>,
    pub batch: usize,
    /// ZCA ε (`--zca-epsilon`). Every preset names it: it is part of the run keys, so runs
    /// made with another preprocessing are never reused.
    pub zca_epsilon: f64,
    /// Convolution initialisation (`--init`: `he` or `uniform`), part of the run keys.
    pub init: String,
}

impl Training {
    /// The `actfn train` / `actfn search --task` options for these settings.
    fn args(&self, depth_flag: &str, width_flag: &str) -> Vec<String> {
        let mut args = vec![
            depth_flag.to_owned(),
            self.depth.to_string(),
            width_flag.to_owned(),
            self.width.to_string(),
            "--epochs".into(),
            self.epochs.to_string(),
            "--milestones".into(),
            self.milestones
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "--batch".into(),
            self.batch.to_string(),
            format!("--zca-epsilon={:e}", self.zca_epsilon),
            "--init".into(),
            self.init.clone(),
        ];
        if let Some(n) = self.val_per_class {
            args.extend(["--val-per-class".into(), n.to_string()]);
        }
        if let Some(n) = self.train_size {
            args.extend(["--train-size".into(), n.to_string()]);
        }
        if let Some(n) = self.test_size {
            args.extend(["--test-size".into(), n.to_string()]);
        }
        args
    }

    /// A short stable key of these settings, naming the directory of their final runs.
    fn key(&self) -> String {
        let text = ron::to_string(self).expect("plain data serializes");
        format!(
            "{}-wrn{}-{}-e{}-{:08x}",
            self.dataset,
            self.depth,
            self.width,
            self.epochs,
            fnv1a(text.as_bytes()) as u32
        )
    }

    fn describe(&self) -> String {
        format!(
            "WRN-{}-{} on {}, {} epochs",
            self.depth, self.width, self.dataset, self.epochs
        )
    }
}

/// One search of a preset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchPlan {
    pub name: String,
    pub strategy: String,
    #[serde(default)]
    pub fitness: Option<String>,
    pub depth: usize,
    #[serde(default)]
    pub unary: Vec<String>,
    #[serde(default)]
    pub binary: Vec<String>,
    #[serde(default)]
    pub population: Option<usize>,
    #[serde(default)]
    pub elites: Option<usize>,
    #[serde(default)]
    pub random: Option<usize>,
    #[serde(default)]
    pub generations: Option<usize>,
}

/// A preset of Table 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table1 {
    pub about: String,
    pub search_training: Training,
    pub searches: Vec<SearchPlan>,
    pub top_k: usize,
    /// The final training on each data set of the table (CIFAR-10, then CIFAR-100): one
    /// settings each, so that a small preset can give CIFAR-100 the images it needs.
    pub final_trainings: Vec<Training>,
    pub final_runs: usize,
}

/// Run counts of Table 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table2Runs {
    pub relu: usize,
    pub swish: usize,
    pub best_s1: usize,
    pub best_s2: usize,
}

/// A preset of Table 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table2 {
    pub about: String,
    pub training: Training,
    pub runs: Table2Runs,
}

/// A preset of Table 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table3 {
    pub about: String,
    pub search_training: Training,
    pub search: SearchPlan,
    pub final_training: Training,
    pub final_runs: usize,
}

/// Options common to every reproduce command.
#[derive(Debug, Clone)]
pub struct Options {
    pub preset: Option<String>,
    pub fresh: bool,
    pub functions: Vec<String>,
    pub work_dir: Option<PathBuf>,
    pub results_dir: Option<PathBuf>,
    pub threads: Option<usize>,
}

/// Everything a reproduction needs: where things are, and how to call `actfn`.
struct Context_ {
    root: PathBuf,
    preset: String,
    actfn: PathBuf,
    data_dir: PathBuf,
    runs: PathBuf,
    results: PathBuf,
    threads: Option<usize>,
    started: Instant,
}

const BASELINES: [(&str, &str); 2] = [("ReLU", "relu(x)"), ("Swish", "x * sigmoid(x)")];

/// The preset used when none is given: `paper` where a CUDA GPU is visible, `cpu` otherwise.
fn default_preset() -> String {
    let gpu = Command::new("nvidia-smi")
        .arg("-L")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if gpu { "paper" } else { "cpu" }.to_owned()
}

fn load_preset<T: for<'de> Deserialize<'de>>(
    root: &Path,
    table: &str,
    preset: &str,
) -> anyhow::Result<T> {
    let path = root.join("experiments").join(format!("{table}.ron"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut presets: BTreeMap<String, T> = ron::from_str(&text)
        .with_context(|| format!("{}: not a valid preset file", path.display()))?;
    let names = presets.keys().cloned().collect::<Vec<_>>().join(", ");
    presets
        .remove(preset)
        .with_context(|| format!("{}: no preset {preset:?} (have: {names})", path.display()))
}

impl Context_ {
    fn new(root: &Path, table: &str, options: &Options) -> anyhow::Result<Context_> {
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
        let actfn = build_actfn(root)?;
        Ok(Context_ {
            root: root.to_owned(),
            preset,
            actfn,
            data_dir: root.join("data"),
            runs,
            results,
            threads: options.threads,
            started: Instant::now(),
        })
    }

    fn stage(&self, text: &str) {
        eprintln!(
            "[{} {:>6.0}s] {text}",
            self.preset,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Runs `actfn ARGS`, its progress going to our stderr, and returns its stdout.
    fn actfn(&self, args: &[String]) -> anyhow::Result<String> {
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

    fn threads_args(&self) -> Vec<String> {
        match self.threads {
            Some(t) => vec!["--threads".into(), t.to_string()],
            None => Vec::new(),
        }
    }

    /// Makes sure a data set is in data/: from the workplace's local copy next to the
    /// repository when there is one, else from the official URL.
    fn ensure_data(&self, dataset: &str) -> anyhow::Result<()> {
        let marker = match dataset {
            "cifar10" => "cifar-10-batches-bin",
            "cifar100" => "cifar-100-binary",
            other => bail!("unknown data set {other:?}"),
        };
        if self.data_dir.join(marker).is_dir() {
            return Ok(());
        }
        let mut args = vec![
            "data".to_owned(),
            "fetch".into(),
            dataset.into(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
        ];
        if let Some(local) = local_tarball(&self.root, dataset) {
            args.extend(["--from".into(), local.display().to_string()]);
        }
        self.stage(&format!("fetching {dataset}"));
        self.actfn(&args)?;
        Ok(())
    }

    /// The directory of a search: named by the plan and keyed by plan and training
    /// settings, so that a search made with other settings is never continued.
    fn search_dir(&self, table: &str, plan: &SearchPlan, training: &Training) -> PathBuf {
        let text = ron::to_string(&(plan, training)).expect("plain data serializes");
        self.runs.join(table).join(format!(
            "{}-{:08x}",
            plan.name,
            fnv1a(text.as_bytes()) as u32
        ))
    }

    /// Runs (or continues) one search and returns its report.
    fn search(
        &self,
        table: &str,
        plan: &SearchPlan,
        training: &Training,
        seed: u64,
    ) -> anyhow::Result<Report> {
        let dir = self.search_dir(table, plan, training);
        self.ensure_data(&training.dataset)?;
        let mut args = vec![
            "search".to_owned(),
            "--task".into(),
            training.dataset.clone(),
            "--strategy".into(),
            plan.strategy.clone(),
            "--depth".into(),
            plan.depth.to_string(),
            "--seed".into(),
            seed.to_string(),
            "--out".into(),
            dir.display().to_string(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
        ];
        if let Some(f) = &plan.fitness {
            args.extend(["--fitness".into(), f.clone()]);
        }
        if !plan.unary.is_empty() {
            args.extend(["--unary".into(), plan.unary.join(",")]);
        }
        if !plan.binary.is_empty() {
            args.extend(["--binary".into(), plan.binary.join(",")]);
        }
        for (flag, value) in [
            ("--population", plan.population),
            ("--elites", plan.elites),
            ("--random", plan.random),
            ("--generations", plan.generations),
        ] {
            if let Some(v) = value {
                args.extend([flag.to_owned(), v.to_string()]);
            }
        }
        args.extend(training.args("--wrn-depth", "--wrn-width"));
        args.extend(self.threads_args());
        self.stage(&format!(
            "search {table}/{} ({} in S{}, {})",
            plan.name,
            plan.strategy,
            plan.depth,
            training.describe()
        ));
        self.actfn(&args)?;
        let json = self.actfn(&[
            "report".into(),
            dir.display().to_string(),
            "--json".into(),
            "--top".into(),
            "50".into(),
        ])?;
        let report: Report = serde_json::from_str(&json)
            .with_context(|| format!("cannot read the report of {}", dir.display()))?;
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

    /// Runs (or reuses) `runs` final trainings of `expr` and returns their outcomes.
    fn finals(
        &self,
        expr: &Expr,
        training: &Training,
        runs: usize,
        label: &str,
    ) -> anyhow::Result<Vec<RunResult>> {
        self.ensure_data(&training.dataset)?;
        let canonical = expr.to_string();
        let fn_key = format!("{:016x}", fnv1a(canonical.as_bytes()));
        let mut out = Vec::new();
        for run in 0..runs {
            let dir = self
                .runs
                .join("final")
                .join(training.key())
                .join(&fn_key)
                .join(format!("run-{run}"));
            let result_path = dir.join("result.json");
            if let Ok(text) = std::fs::read_to_string(&result_path) {
                if let Ok(result) = serde_json::from_str::<RunResult>(&text) {
                    out.push(result);
                    continue;
                }
            }
            self.stage(&format!(
                "final {label} run {}/{runs} ({})",
                run + 1,
                training.describe()
            ));
            let seed = 1000 + run as u64;
            let mut args = vec![
                "train".to_owned(),
                // `=`: a canonical expression may start with `-`.
                format!("--activation={canonical}"),
                "--dataset".into(),
                training.dataset.clone(),
                "--data-dir".into(),
                self.data_dir.display().to_string(),
                "--seed".into(),
                seed.to_string(),
                "--out".into(),
                dir.display().to_string(),
                "--json".into(),
            ];
            args.extend(training.args("--depth", "--width"));
            args.extend(self.threads_args());
            let json = self.actfn(&args)?;
            let line = json
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .unwrap_or("");
            let parsed: TrainJson = serde_json::from_str(line)
                .with_context(|| format!("cannot read `actfn train --json` output {line:?}"))?;
            let result = RunResult {
                expr: canonical.clone(),
                dataset: training.dataset.clone(),
                run,
                seed,
                test_acc: parsed.test_acc,
                val_acc: parsed.val_acc,
                status: parsed.status,
            };
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&result_path, serde_json::to_string_pretty(&result)?)?;
            out.push(result);
        }
        Ok(out)
    }
}

/// `actfn report --json`.
#[derive(Debug, Clone, Deserialize)]
struct Report {
    #[serde(default)]
    evaluations: usize,
    #[serde(default)]
    trained: usize,
    top: Vec<TopItem>,
    generations: Vec<GenerationItem>,
}

#[derive(Debug, Clone, Deserialize)]
struct TopItem {
    expr: String,
    val_acc: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct GenerationItem {
    generation: usize,
    best_val_acc: Option<f64>,
}

/// `actfn train --json`.
#[derive(Debug, Clone, Deserialize)]
struct TrainJson {
    val_acc: Option<f64>,
    test_acc: Option<f64>,
    status: String,
}

/// One final training run, as stored in its `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunResult {
    expr: String,
    dataset: String,
    run: usize,
    seed: u64,
    test_acc: Option<f64>,
    val_acc: Option<f64>,
    status: String,
}

impl RunResult {
    fn ok_acc(&self) -> Option<f64> {
        if self.status == "ok" {
            self.test_acc.filter(|a| a.is_finite())
        } else {
            None
        }
    }
}

/// The median test accuracy (in %) of the runs that finished, and whether any did not.
fn median_acc(runs: &[RunResult]) -> (Option<f64>, bool) {
    let accs: Vec<f64> = runs.iter().filter_map(RunResult::ok_acc).collect();
    let incomplete = accs.len() < runs.len();
    (
        actfn_stats::median(&accs).ok().map(|m| 100.0 * m),
        incomplete,
    )
}

fn fmt_acc(acc: Option<f64>, incomplete: bool) -> String {
    match acc {
        Some(a) => format!("{a:.1}{}", if incomplete { " (*)" } else { "" }),
        None => "failed (*)".into(),
    }
}

/// A stable 64-bit FNV-1a hash (std's hasher is not stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The workplace's local copy of a data set's tarball, next to the repository, if present.
pub(crate) fn local_tarball(root: &Path, dataset: &str) -> Option<PathBuf> {
    let names: &[&str] = match dataset {
        "cifar10" => &["cifar-10-binary.tar.gz"],
        _ => &["cifar-100-binary.tar.gz", "cifar-100-binary-subset.tar.gz"],
    };
    let dir = root.parent()?.join("shared").join("data");
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
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

fn parse_expr(text: &str) -> anyhow::Result<Expr> {
    Expr::parse(text).with_context(|| format!("cannot parse {text:?}"))
}

fn paper_notation(expr: &Expr) -> String {
    expr.styled(Style::Paper).to_string()
}

/// `--functions NAME=EXPR ...` as a map.
fn function_overrides(
    options: &Options,
    allowed: &[&str],
) -> anyhow::Result<BTreeMap<String, Expr>> {
    let mut map = BTreeMap::new();
    for item in &options.functions {
        let (name, text) = item
            .split_once('=')
            .with_context(|| format!("--functions takes NAME=EXPR, got {item:?}"))?;
        let name = name.trim();
        if !allowed.contains(&name) {
            bail!(
                "--functions: unknown name {name:?} (expected one of {})",
                allowed.join(", ")
            );
        }
        map.insert(name.to_owned(), parse_expr(text)?);
    }
    Ok(map)
}

/// The paper's Table 1 accuracies (CIFAR-10, CIFAR-100) where its text attributes them to a
/// row unambiguously; `None` where the extracted table lost the row.
fn paper_table1(search: &str, rank: usize) -> (Option<&'static str>, Option<&'static str>) {
    match (search, rank) {
        ("evolution-loss-s2", 1) => (Some("94.1"), Some("73.9")),
        ("random-s2", 1) => (Some("93.8 (*)"), Some("73.9 (*)")),
        ("random-s2", 2) => (Some("93.3"), Some("72.1")),
        ("random-s2", 3) => (Some("93.9"), Some("73.2")),
        ("exhaustive-s1", 1) => (Some("94.0"), Some("74.5")),
        ("exhaustive-s1", 2) => (Some("94.1"), Some("74.3")),
        ("exhaustive-s1", 3) => (Some("94.0"), Some("74.2")),
        ("baseline", 1) => (Some("94.0"), Some("73.3")),
        ("baseline", 2) => (Some("93.8"), Some("71.1")),
        _ => (None, None),
    }
}

/// The paper's function at a Table 1 row, in its notation (from actfn-expr's transcription).
fn paper_function_at(search: &str, rank: usize) -> Option<String> {
    let label = match search {
        "evolution-loss-s2" => format!("evo-loss-{rank}"),
        "evolution-accuracy-s2" => format!("evo-acc-{rank}"),
        "random-s2" => format!("random-{rank}"),
        "exhaustive-s1" => format!("exhaustive-{rank}"),
        _ => return None,
    };
    actfn_expr::paper::paper_function(&label).map(|e| paper_notation(&e))
}

/// One row of Table 1.
#[derive(Debug, Clone, Serialize)]
struct Table1Row {
    search: String,
    rank: usize,
    function: String,
    canonical: String,
    search_val_acc: Option<f64>,
    cifar10: Option<f64>,
    cifar10_incomplete: bool,
    cifar100: Option<f64>,
    cifar100_incomplete: bool,
    paper_function: Option<String>,
    paper_cifar10: Option<String>,
    paper_cifar100: Option<String>,
}

/// `cargo xtask reproduce-table1`.
pub fn table1(root: &Path, options: &Options) -> anyhow::Result<()> {
    let ctx = Context_::new(root, "table1", options)?;
    let preset: Table1 = load_preset(root, "table1", &ctx.preset)?;
    function_overrides(options, &[])?;
    ctx.stage(&format!("Table 1, preset {}: {}", ctx.preset, preset.about));

    let mut reports = Vec::new();
    for (i, plan) in preset.searches.iter().enumerate() {
        let report = ctx.search("table1", plan, &preset.search_training, 1 + i as u64)?;
        reports.push((plan.clone(), report));
    }

    // The functions to train from scratch: the top k of each search, then the baselines.
    let mut rows: Vec<(String, usize, Expr, Option<f64>)> = Vec::new();
    for (plan, report) in &reports {
        for (rank, item) in report.top.iter().take(preset.top_k).enumerate() {
            rows.push((
                plan.name.clone(),
                rank + 1,
                parse_expr(&item.expr)?,
                Some(item.val_acc),
            ));
        }
    }
    for (rank, (_, text)) in BASELINES.iter().enumerate() {
        rows.push(("baseline".into(), rank + 1, parse_expr(text)?, None));
    }

    let mut table = Vec::new();
    let mut all_runs = Vec::new();
    for (search, rank, expr, val) in &rows {
        let label = if search == "baseline" {
            BASELINES[rank - 1].0.to_owned()
        } else {
            format!("{search} #{rank}")
        };
        let mut accs = BTreeMap::new();
        for training in &preset.final_trainings {
            let runs = ctx.finals(expr, training, preset.final_runs, &label)?;
            accs.insert(training.dataset.clone(), median_acc(&runs));
            all_runs.extend(runs);
        }
        let (paper_c10, paper_c100) = paper_table1(search, *rank);
        let get = |d: &str| accs.get(d).copied().unwrap_or((None, false));
        table.push(Table1Row {
            search: search.clone(),
            rank: *rank,
            function: if search == "baseline" {
                format!("{}(x)", BASELINES[rank - 1].0)
            } else {
                paper_notation(expr)
            },
            canonical: expr.to_string(),
            search_val_acc: val.map(|v| 100.0 * v),
            cifar10: get("cifar10").0,
            cifar10_incomplete: get("cifar10").1,
            cifar100: get("cifar100").0,
            cifar100_incomplete: get("cifar100").1,
            paper_function: if search == "baseline" {
                Some(format!("{}(x)", BASELINES[rank - 1].0))
            } else {
                paper_function_at(search, *rank)
            },
            paper_cifar10: paper_c10.map(str::to_owned),
            paper_cifar100: paper_c100.map(str::to_owned),
        });
    }

    write_csv(&ctx.results.join("table1.csv"), &table)?;
    write_csv(&ctx.results.join("table1-runs.csv"), &all_runs)?;
    std::fs::write(
        ctx.results.join("table1.md"),
        table1_markdown(&ctx, &preset, &table, &reports),
    )?;
    table1_figures(&ctx, &preset, &reports, &table)?;
    ctx.stage(&format!(
        "Table 1 done in {:.0} s: {}",
        ctx.started.elapsed().as_secs_f64(),
        ctx.results.join("table1.md").display()
    ));
    print!(
        "{}",
        std::fs::read_to_string(ctx.results.join("table1.md"))?
    );
    Ok(())
}

/// Whether the search's fitness predicts the final result: Spearman's rank correlation
/// between each searched function's validation accuracy in its search and its median
/// final test accuracy, on each data set (a function found by several searches counts once).
fn search_signal(table: &[Table1Row]) -> String {
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<&Table1Row> = table
        .iter()
        .filter(|r| r.search_val_acc.is_some() && seen.insert(r.canonical.as_str()))
        .collect();
    let mut lines = vec![
        "Search signal: Spearman's rank correlation between a function's validation accuracy in its search and its median final test accuracy (searched functions only, each once):".to_owned(),
    ];
    for (name, final_acc) in [
        (
            "CIFAR-10",
            (|r: &Table1Row| r.cifar10) as fn(&Table1Row) -> Option<f64>,
        ),
        ("CIFAR-100", |r: &Table1Row| r.cifar100),
    ] {
        let (a, b): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .filter_map(|r| Some((r.search_val_acc?, final_acc(r)?)))
            .unzip();
        lines.push(match actfn_stats::spearman(&a, &b) {
            Ok(c) => format!(
                "- {name}: rho = {:.3} (p = {:.2e}, n = {})",
                c.rho, c.p, c.n
            ),
            Err(e) => format!("- {name}: not computed ({e})"),
        });
    }
    lines.join("\n")
}

fn table1_markdown(
    ctx: &Context_,
    preset: &Table1,
    table: &[Table1Row],
    reports: &[(SearchPlan, Report)],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Table 1 (preset `{}`)\n", ctx.preset);
    let _ = writeln!(md, "Preset: {}.\n", preset.about);
    let _ = writeln!(
        md,
        "Searches: {}; final runs: {} x ({}); median test accuracy (%) over runs that finished; (*) marks a function with at least one run that diverged or failed. Paper columns: WRN-28-10, 200 epochs, median of 5.\n",
        preset.search_training.describe(),
        preset.final_runs,
        preset
            .final_trainings
            .iter()
            .map(Training::describe)
            .collect::<Vec<_>>()
            .join("; "),
    );
    let _ = writeln!(
        md,
        "| search | # | function | search val acc | CIFAR-10 | CIFAR-100 | paper's function | paper CIFAR-10 | paper CIFAR-100 |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for r in table {
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
            r.search,
            r.rank,
            r.function,
            r.search_val_acc.map_or("—".into(), |v| format!("{v:.1}")),
            fmt_acc(r.cifar10, r.cifar10_incomplete),
            fmt_acc(r.cifar100, r.cifar100_incomplete),
            r.paper_function
                .as_deref()
                .map_or("—".into(), |f| format!("`{f}`")),
            r.paper_cifar10.as_deref().unwrap_or("—"),
            r.paper_cifar100.as_deref().unwrap_or("—"),
        );
    }
    let _ = writeln!(md, "\n{}", search_signal(table));
    let _ = writeln!(md, "\n## Searches\n");
    let _ = writeln!(
        md,
        "| search | evaluations | trained | best val acc per generation |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    for (plan, report) in reports {
        let curve: Vec<String> = report
            .generations
            .iter()
            .map(|g| {
                g.best_val_acc
                    .map_or("—".into(), |a| format!("{:.1}", 100.0 * a))
            })
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            plan.name,
            report.evaluations,
            report.trained,
            curve.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\nThe paper's Table 1 rows for evolution with accuracy-based fitness and for loss-based evolution's second and third functions are not attributable in the extracted text; they are left blank.\n"
    );
    md
}

fn table1_figures(
    ctx: &Context_,
    preset: &Table1,
    reports: &[(SearchPlan, Report)],
    table: &[Table1Row],
) -> anyhow::Result<()> {
    // Figure 3: best validation accuracy per generation of the S2 searches.
    let mut curves = String::from("search,generation,best_val_acc\n");
    for (plan, report) in reports.iter().filter(|(p, _)| p.depth == 2) {
        for g in &report.generations {
            if let Some(a) = g.best_val_acc {
                let _ = writeln!(curves, "{},{},{}", plan.name, g.generation + 1, 100.0 * a);
            }
        }
    }
    let curves_path = ctx.results.join("figure3.csv");
    std::fs::write(&curves_path, curves)?;
    for ext in ["png", "svg"] {
        ctx.actfn(&[
            "plot".into(),
            "--curves".into(),
            curves_path.display().to_string(),
            "--x".into(),
            "generation".into(),
            "--y".into(),
            "best_val_acc".into(),
            "--x-label".into(),
            "generation".into(),
            "--y-label".into(),
            "best validation accuracy in the generation (%)".into(),
            "--group".into(),
            "search".into(),
            "--title".into(),
            "Figure 3: top validation accuracy per generation (S2)".into(),
            "--out".into(),
            ctx.results
                .join(format!("figure3.{ext}"))
                .display()
                .to_string(),
        ])?;
    }
    // Figure 4: best function after each generation of loss-based evolution.
    if let Some((plan, _)) = reports.iter().find(|(p, _)| p.name == "evolution-loss-s2") {
        let dir = ctx.search_dir("table1", plan, &preset.search_training);
        let json = ctx.actfn(&["report".into(), dir.display().to_string(), "--json".into()])?;
        let value: serde_json::Value = serde_json::from_str(&json)?;
        let mut args = vec!["plot".to_owned()];
        if let Some(gens) = value.get("generations").and_then(|g| g.as_array()) {
            for g in gens {
                if let (Some(n), Some(e)) = (
                    g.get("generation").and_then(|v| v.as_u64()),
                    g.get("best_expr").and_then(|v| v.as_str()),
                ) {
                    args.push(format!("generation {}={e}", n + 1));
                }
            }
        }
        if args.len() > 1 {
            for ext in ["png", "svg"] {
                let mut a = args.clone();
                a.extend([
                    "--title".into(),
                    "Figure 4: best function after each generation (loss-based evolution)".into(),
                    "--out".into(),
                    ctx.results
                        .join(format!("figure4.{ext}"))
                        .display()
                        .to_string(),
                ]);
                ctx.actfn(&a)?;
            }
        }
    }
    // Figure 6: the best S1 and S2 functions next to ReLU and Swish.
    let best = |search: &str| table.iter().find(|r| r.search == search && r.rank == 1);
    let mut args = vec!["plot".to_owned()];
    for search in ["exhaustive-s1", "evolution-loss-s2"] {
        if let Some(r) = best(search) {
            args.push(format!("best {search}={}", r.canonical));
        }
    }
    for (name, text) in BASELINES {
        args.push(format!("{name}={text}"));
    }
    for ext in ["png", "svg"] {
        let mut a = args.clone();
        a.extend([
            "--title".into(),
            "Figure 6: best functions found, with ReLU and Swish".into(),
            "--out".into(),
            ctx.results
                .join(format!("figure6.{ext}"))
                .display()
                .to_string(),
        ]);
        ctx.actfn(&a)?;
    }
    Ok(())
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

/// Reads this preset's Table 1 rows, if Table 1 has been reproduced.
fn read_table1(ctx: &Context_) -> Option<Vec<BTreeMap<String, String>>> {
    let mut reader = csv::Reader::from_path(ctx.results.join("table1.csv")).ok()?;
    reader.deserialize().collect::<Result<Vec<_>, _>>().ok()
}

/// The Table 1 function of `search` with the best median accuracy on `column`.
fn best_from_table1(ctx: &Context_, search: &str, column: &str) -> Option<Expr> {
    let rows = read_table1(ctx)?;
    rows.iter()
        .filter(|r| {
            r.get("search").map(String::as_str) == Some(search)
                || search == "*" && r.get("search").map(String::as_str) != Some("baseline")
        })
        .filter_map(|r| {
            Some((
                r.get(column)?.parse::<f64>().ok()?,
                r.get("canonical")?.clone(),
            ))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .and_then(|(_, text)| Expr::parse(&text).ok())
}

/// One pairwise comparison of Table 2.
#[derive(Debug, Clone, Serialize)]
struct Table2Row {
    pair: String,
    n_a: usize,
    mean_a: f64,
    n_b: usize,
    mean_b: f64,
    student_t: Option<f64>,
    student_df: Option<f64>,
    student_p: Option<f64>,
    welch_t: Option<f64>,
    welch_df: Option<f64>,
    welch_p: Option<f64>,
    paper_t: f64,
    paper_p: f64,
    paper_t_student_p: Option<f64>,
    paper_t_welch_p: Option<f64>,
}

/// `cargo xtask reproduce-table2`.
pub fn table2(root: &Path, options: &Options) -> anyhow::Result<()> {
    let ctx = Context_::new(root, "table2", options)?;
    let preset: Table2 = load_preset(root, "table2", &ctx.preset)?;
    let overrides = function_overrides(options, &["best-s1", "best-s2"])?;
    ctx.stage(&format!("Table 2, preset {}: {}", ctx.preset, preset.about));

    let paper = |label: &str| actfn_expr::paper::paper_function(label).context("paper function");
    let pick =
        |name: &str, search: &str, paper_label: &str| -> anyhow::Result<(Expr, &'static str)> {
            if let Some(e) = overrides.get(name) {
                return Ok((e.clone(), "given with --functions"));
            }
            if let Some(e) = best_from_table1(&ctx, search, "cifar100") {
                return Ok((e, "best CIFAR-100 median of this preset's Table 1"));
            }
            Ok((paper(paper_label)?, "the paper's"))
        };
    let (s1, s1_source) = pick("best-s1", "exhaustive-s1", "exhaustive-1")?;
    let (s2, s2_source) = pick("best-s2", "evolution-loss-s2", "evo-loss-3")?;
    let relu = parse_expr(BASELINES[0].1)?;
    let swish = parse_expr(BASELINES[1].1)?;

    let groups = [
        ("ReLU", &relu, preset.runs.relu),
        ("Swish", &swish, preset.runs.swish),
        ("best S1", &s1, preset.runs.best_s1),
        ("best S2", &s2, preset.runs.best_s2),
    ];
    let mut accs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut all_runs = Vec::new();
    for (name, expr, runs) in groups {
        let results = ctx.finals(expr, &preset.training, runs, name)?;
        accs.insert(
            name,
            results
                .iter()
                .filter_map(RunResult::ok_acc)
                .map(|a| 100.0 * a)
                .collect(),
        );
        all_runs.extend(results);
    }
    // The paper's pairs, its t-values and p-values, and its group sizes.
    let pairs = [
        ("best S2", "ReLU", 4.51, 2.91e-5, 15, 50),
        ("best S2", "Swish", 3.17, 2.98e-3, 15, 25),
        ("best S1", "ReLU", 9.73, 4.64e-16, 50, 50),
        ("best S1", "Swish", 5.91, 9.91e-8, 50, 25),
    ];
    let mut rows = Vec::new();
    for (a, b, paper_t, paper_p, n_a, n_b) in pairs {
        let (xa, xb) = (&accs[a], &accs[b]);
        let student = actfn_stats::student_t_test(xa, xb).ok();
        let welch = actfn_stats::welch_t_test(xa, xb).ok();
        rows.push(Table2Row {
            pair: format!("{a} vs {b}"),
            n_a: xa.len(),
            mean_a: actfn_stats::mean(xa).unwrap_or(f64::NAN),
            n_b: xb.len(),
            mean_b: actfn_stats::mean(xb).unwrap_or(f64::NAN),
            student_t: student.as_ref().map(|t| t.t),
            student_df: student.as_ref().map(|t| t.df),
            student_p: student.as_ref().map(|t| t.p),
            welch_t: welch.as_ref().map(|t| t.t),
            welch_df: welch.as_ref().map(|t| t.df),
            welch_p: welch.as_ref().map(|t| t.p),
            paper_t,
            paper_p,
            paper_t_student_p: actfn_stats::two_sided_p(paper_t, (n_a + n_b - 2) as f64).ok(),
            paper_t_welch_p: None,
        });
    }
    write_csv(&ctx.results.join("table2.csv"), &rows)?;
    write_csv(&ctx.results.join("table2-runs.csv"), &all_runs)?;
    let mut md = String::new();
    let _ = writeln!(md, "# Table 2 (preset `{}`)\n", ctx.preset);
    let _ = writeln!(md, "Preset: {}.\n", preset.about);
    let _ = writeln!(md, "- best S1: `{}` ({s1_source})", paper_notation(&s1));
    let _ = writeln!(md, "- best S2: `{}` ({s2_source})\n", paper_notation(&s2));
    let _ = writeln!(
        md,
        "Test accuracy (%) of runs that finished; two-sided p-values.\n"
    );
    let _ = writeln!(md, "| pair | n | means | Student t; p | Welch t; p | paper t; p | paper's t as Student (df = n1+n2-2) |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let num = |v: Option<f64>, prec: usize| v.map_or("—".to_owned(), |x| format!("{x:.prec$}"));
    let sci = |v: Option<f64>| v.map_or("—".to_owned(), |x| format!("{x:.2e}"));
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {}, {} | {:.2}, {:.2} | {}; {} | {}; {} | {}; {:.2e} | p = {} |",
            r.pair,
            r.n_a,
            r.n_b,
            r.mean_a,
            r.mean_b,
            num(r.student_t, 2),
            sci(r.student_p),
            num(r.welch_t, 2),
            sci(r.welch_p),
            r.paper_t,
            r.paper_p,
            sci(r.paper_t_student_p),
        );
    }
    let _ = writeln!(
        md,
        "\nThe last column turns the paper's t-values into p-values with Student's pooled-variance degrees of freedom; it matches the paper's p-values, which shows the paper used Student's test, not Welch's.\n"
    );
    std::fs::write(ctx.results.join("table2.md"), &md)?;
    ctx.stage(&format!(
        "Table 2 done in {:.0} s",
        ctx.started.elapsed().as_secs_f64()
    ));
    print!("{md}");
    Ok(())
}

/// One row of Table 3.
#[derive(Debug, Clone, Serialize)]
struct Table3Row {
    role: String,
    function: String,
    canonical: String,
    source: String,
    median_test_acc: Option<f64>,
    incomplete: bool,
    paper: Option<String>,
}

/// `cargo xtask reproduce-table3`.
pub fn table3(root: &Path, options: &Options) -> anyhow::Result<()> {
    let ctx = Context_::new(root, "table3", options)?;
    let preset: Table3 = load_preset(root, "table3", &ctx.preset)?;
    let overrides = function_overrides(options, &["transferred", "specialized"])?;
    ctx.stage(&format!("Table 3, preset {}: {}", ctx.preset, preset.about));

    let (transferred, t_source) = match overrides.get("transferred") {
        Some(e) => (e.clone(), "given with --functions"),
        None => match best_from_table1(&ctx, "*", "cifar10") {
            Some(e) => (e, "best CIFAR-10 median of this preset's Table 1"),
            None => (
                actfn_expr::paper::paper_function("exhaustive-2").context("paper function")?,
                "the paper's",
            ),
        },
    };
    let (specialized, s_source, report) = match overrides.get("specialized") {
        Some(e) => (e.clone(), "given with --functions", None),
        None => {
            let report = ctx.search("table3", &preset.search, &preset.search_training, 31)?;
            let top = report
                .top
                .first()
                .context("the Table 3 search trained no function successfully")?;
            (
                parse_expr(&top.expr)?,
                "best of this table's search",
                Some(report),
            )
        }
    };
    let rows = [
        ("specialized", specialized.clone(), s_source, Some("72.6")),
        ("transferred", transferred.clone(), t_source, Some("72.1")),
        (
            "Swish",
            parse_expr(BASELINES[1].1)?,
            "baseline",
            Some("71.1"),
        ),
        (
            "ReLU",
            parse_expr(BASELINES[0].1)?,
            "baseline",
            Some("71.0"),
        ),
    ];
    let mut md = String::new();
    let _ = writeln!(md, "# Table 3 (preset `{}`)\n", ctx.preset);
    let _ = writeln!(md, "Preset: {}.\n", preset.about);
    let _ = writeln!(
        md,
        "Median test accuracy (%) of {} runs, {}.\n",
        preset.final_runs,
        preset.final_training.describe()
    );
    let _ = writeln!(
        md,
        "| role | function | source | accuracy | paper (WRN-40-4, CIFAR-100) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    let mut csv_rows = Vec::new();
    let mut all_runs = Vec::new();
    for (role, expr, source, paper) in rows {
        let runs = ctx.finals(&expr, &preset.final_training, preset.final_runs, role)?;
        let (acc, incomplete) = median_acc(&runs);
        let _ = writeln!(
            md,
            "| {role} | `{}` | {source} | {} | {} |",
            paper_notation(&expr),
            fmt_acc(acc, incomplete),
            paper.unwrap_or("—")
        );
        csv_rows.push(Table3Row {
            role: role.to_owned(),
            function: paper_notation(&expr),
            canonical: expr.to_string(),
            source: source.to_owned(),
            median_test_acc: acc,
            incomplete,
            paper: paper.map(str::to_owned),
        });
        all_runs.extend(runs);
    }
    write_csv(&ctx.results.join("table3.csv"), &csv_rows)?;
    write_csv(&ctx.results.join("table3-runs.csv"), &all_runs)?;

    // Figure 5: validation accuracy of the functions both Table 1's exhaustive search and
    // this table's search trained.
    if let Some(report) = report {
        // Table 1's exhaustive search of this preset, where its directory is keyed.
        let table1_dir = load_preset::<Table1>(&ctx.root, "table1", &ctx.preset)
            .ok()
            .and_then(|t1| {
                let plan = t1.searches.iter().find(|p| p.name == "exhaustive-s1")?;
                Some(ctx.search_dir("table1", plan, &t1.search_training))
            });
        if let Some(table1_dir) = table1_dir.filter(|d| d.join("records.jsonl").exists()) {
            let json = ctx.actfn(&[
                "report".into(),
                table1_dir.display().to_string(),
                "--json".into(),
                "--top".into(),
                "100000".into(),
            ])?;
            let table1: Report = serde_json::from_str(&json)?;
            let here: BTreeMap<&str, f64> = report
                .top
                .iter()
                .map(|t| (t.expr.as_str(), t.val_acc))
                .collect();
            let mut csv = String::from("expr,table1_val_acc,table3_val_acc\n");
            let mut n = 0;
            for t in &table1.top {
                if let Some(v) = here.get(t.expr.as_str()) {
                    let _ = writeln!(csv, "\"{}\",{},{}", t.expr, 100.0 * t.val_acc, 100.0 * v);
                    n += 1;
                }
            }
            let path = ctx.results.join("figure5.csv");
            std::fs::write(&path, csv)?;
            if n > 0 {
                for ext in ["png", "svg"] {
                    ctx.actfn(&[
                        "plot".into(),
                        "--scatter".into(),
                        path.display().to_string(),
                        "--x".into(),
                        "table1_val_acc".into(),
                        "--y".into(),
                        "table3_val_acc".into(),
                        "--x-label".into(),
                        "validation accuracy in the Table 1 search (%)".into(),
                        "--y-label".into(),
                        "validation accuracy in the Table 3 search (%)".into(),
                        "--title".into(),
                        "Figure 5: validation accuracy across tasks".into(),
                        "--out".into(),
                        ctx.results
                            .join(format!("figure5.{ext}"))
                            .display()
                            .to_string(),
                    ])?;
                }
            }
            let _ = writeln!(
                md,
                "\nFigure 5 (`figure5.png`): {n} functions trained by both searches.\n"
            );
        } else {
            let _ = writeln!(md, "\nFigure 5 needs Table 1's exhaustive search of this preset; run `cargo xtask reproduce-table1 --preset {}` first.\n", ctx.preset);
        }
    }
    std::fs::write(ctx.results.join("table3.md"), &md)?;
    ctx.stage(&format!(
        "Table 3 done in {:.0} s",
        ctx.started.elapsed().as_secs_f64()
    ));
    print!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn every_preset_of_every_table_loads() {
        for preset in ["smoke", "cpu", "paper"] {
            let t1: Table1 = load_preset(&root(), "table1", preset).unwrap();
            assert_eq!(t1.searches.len(), 4);
            let _: Table2 = load_preset(&root(), "table2", preset).unwrap();
            let _: Table3 = load_preset(&root(), "table3", preset).unwrap();
        }
        let err = load_preset::<Table1>(&root(), "table1", "nope").unwrap_err();
        assert!(format!("{err:#}").contains("no preset \"nope\""));
    }

    #[test]
    fn paper_preset_is_the_paper() {
        let t1: Table1 = load_preset(&root(), "table1", "paper").unwrap();
        assert_eq!(
            (t1.search_training.depth, t1.search_training.width),
            (28, 10)
        );
        assert_eq!(t1.search_training.epochs, 50);
        assert_eq!(t1.search_training.milestones, vec![25, 40, 45]);
        assert_eq!(t1.search_training.val_per_class, Some(500));
        for t in &t1.final_trainings {
            assert_eq!(t.epochs, 200);
            assert_eq!(t.milestones, vec![60, 120, 160]);
            assert_eq!((t.train_size, t.test_size), (None, None));
        }
        let datasets: Vec<&str> = t1
            .final_trainings
            .iter()
            .map(|t| t.dataset.as_str())
            .collect();
        assert_eq!(datasets, ["cifar10", "cifar100"]);
        assert_eq!(t1.final_runs, 5);
        let evo = &t1.searches[2];
        assert_eq!(
            (evo.population, evo.elites, evo.random, evo.generations),
            (Some(50), Some(5), Some(10), Some(10))
        );
        assert!(
            t1.searches[0].unary.is_empty(),
            "the paper's exhaustive search covers all of S1"
        );
        let t2: Table2 = load_preset(&root(), "table2", "paper").unwrap();
        assert_eq!(
            (
                t2.runs.relu,
                t2.runs.swish,
                t2.runs.best_s1,
                t2.runs.best_s2
            ),
            (50, 25, 50, 15)
        );
        let t3: Table3 = load_preset(&root(), "table3", "paper").unwrap();
        assert_eq!((t3.final_training.depth, t3.final_training.width), (40, 4));
    }

    #[test]
    fn training_keys_differ_when_settings_do() {
        let t1: Table1 = load_preset(&root(), "table1", "cpu").unwrap();
        let a = t1.final_trainings[0].clone();
        assert_eq!(a.key(), a.clone().key());
        let other_data = Training {
            dataset: "cifar100".into(),
            ..a.clone()
        };
        assert_ne!(a.key(), other_data.key());
        let mut b = a.clone();
        b.epochs += 1;
        assert_ne!(a.key(), b.key());
        // Runs made with another preprocessing or initialisation are never reused.
        let mut c = a.clone();
        c.zca_epsilon = 1e-6;
        assert_ne!(a.key(), c.key());
        let mut d = a.clone();
        d.init = "he".into();
        assert_ne!(a.key(), d.key());
    }

    #[test]
    fn cpu_table2_shares_table1s_cifar100_final_runs() {
        let t1: Table1 = load_preset(&root(), "table1", "cpu").unwrap();
        let t2: Table2 = load_preset(&root(), "table2", "cpu").unwrap();
        assert_eq!(t2.training.key(), t1.final_trainings[1].key());
    }

    #[test]
    fn paper_presets_pin_the_papers_preprocessing_and_init() {
        let t1: Table1 = load_preset(&root(), "table1", "paper").unwrap();
        let t2: Table2 = load_preset(&root(), "table2", "paper").unwrap();
        let t3: Table3 = load_preset(&root(), "table3", "paper").unwrap();
        for t in [
            &t1.search_training,
            &t1.final_trainings[0],
            &t1.final_trainings[1],
            &t2.training,
            &t3.search_training,
            &t3.final_training,
        ] {
            assert_eq!((t.zca_epsilon, t.init.as_str()), (1e-6, "he"), "{t:?}");
        }
        let args = t1.final_trainings[0].args("--depth", "--width");
        assert!(args.contains(&"--zca-epsilon=1e-6".to_owned()), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--init", "he"]), "{args:?}");
    }

    #[test]
    fn medians_skip_failed_runs_and_flag_them() {
        let run = |acc: Option<f64>, status: &str| RunResult {
            expr: "x".into(),
            dataset: "cifar10".into(),
            run: 0,
            seed: 0,
            test_acc: acc,
            val_acc: None,
            status: status.into(),
        };
        let (m, inc) = median_acc(&[
            run(Some(0.5), "ok"),
            run(Some(0.7), "ok"),
            run(None, "diverged"),
        ]);
        assert!((m.unwrap() - 60.0).abs() < 1e-9);
        assert!(inc);
        assert_eq!(fmt_acc(m, inc), "60.0 (*)");
        assert_eq!(median_acc(&[run(None, "failed")]), (None, true));
    }
}
