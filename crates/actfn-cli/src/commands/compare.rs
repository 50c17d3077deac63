//! `actfn compare`: the paper's final-run protocol for any network and data set. Each
//! function is trained `--runs` times (seeds `--seed`, `--seed + 1`, ...) with the same
//! recipe, and the table says how each compares with the baseline (see
//! [`crate::output::compare_table`]).
//!
//! The folder (`--out DIR`) holds `compare.ron`, what is compared and how (written
//! atomically; a rerun with other settings is refused, one with more `--runs` adds runs),
//! and one folder per run,
//! `runs/f{F}-r{R}/`: `actfn train`'s files (an epoch checkpoint a killed run resumes from)
//! and `result.json`, published atomically when the run is over. A run with a result is
//! never trained again, so a killed comparison continues where it stopped. On the local
//! and Slurm executors each run is a worker process (`actfn compare --out DIR --worker
//! F:R`) that reads `compare.ron`, so workers and controller cannot disagree on the recipe.
//! `runs.csv`, `compare.csv` and `compare.md` are derived from the results and rewritten at
//! the end.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use actfn_cluster::{threads_per_job, LocalPool, Runner, SlurmArray, Task};
use actfn_evo::TrainResult;
use actfn_expr::Expr;
use actfn_wrn::data::{self, DataConfig};
use actfn_wrn::train::{self, RunOptions, TrainConfig, TrainData};
use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::execution::dispatch::local_slot_env;
use crate::options::executor::{ExecutorArgs, ExecutorKind};
use crate::options::training::{DefaultSchedule, RunDataArgs, TrainingArgs};
use crate::output::compare_table::{self, RunRow};
use crate::output::json_out::write_json_atomic;

/// Arguments of `actfn compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// A function to train, e.g. `tanh(x) * min(x, 0)`; repeat for each.
    #[arg(
        long = "activation",
        value_name = "EXPR",
        allow_hyphen_values = true,
        required_unless_present = "worker"
    )]
    activations: Vec<String>,
    /// The function the others are tested against [default: the first --activation];
    /// trained like them, and added when it is not among them.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    baseline: Option<String>,
    /// Runs of each function.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seed of the first run; run R has seed SEED + R.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The comparison's folder; rerunning with the same folder continues it (with a larger
    /// --runs, adds runs to it).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The data set, test images (with `--test-size 0` the table compares validation
    /// accuracy) and split, the same for every run.
    #[command(flatten)]
    data: RunDataArgs,
    #[command(flatten)]
    training: TrainingArgs,
    #[command(flatten)]
    executor: ExecutorArgs,
    /// Worker of the local and Slurm executors: train run R of function F and publish it.
    #[arg(long, value_name = "F:R", hide = true)]
    worker: Option<String>,
}

/// What is compared and how, as `compare.ron` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareConfig {
    /// The functions, canonical text; the baseline among them.
    pub functions: Vec<String>,
    /// Position of the baseline in `functions`.
    pub baseline: usize,
    /// Runs per function.
    pub runs: usize,
    /// Seed of run 0.
    pub seed: u64,
    /// The data set, split and preprocessing.
    pub data: DataConfig,
    /// The test images (`None`: all).
    pub test_size: Option<usize>,
    /// The recipe; its `seed` is each run's own, and its `threads` (not stored: they
    /// change no result's meaning) the command line's.
    pub training: TrainConfig,
}

const CONFIG_FILE: &str = "compare.ron";
const RESULT_FILE: &str = "result.json";

impl CompareConfig {
    /// The folder of run `run` of function `function`.
    pub fn run_dir(dir: &Path, function: usize, run: usize) -> PathBuf {
        dir.join("runs").join(format!("f{function}-r{run}"))
    }

    /// Every (function, run) pair, function by function.
    fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.functions.len()).flat_map(move |f| (0..self.runs).map(move |r| (f, r)))
    }

    fn seed_of(&self, run: usize) -> u64 {
        self.seed.wrapping_add(run as u64)
    }
}

/// Runs `actfn compare`.
pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    if let Some(which) = &args.worker {
        return run_worker(&args, which);
    }
    args.executor.check()?;
    let config = config_of(&args)?;
    let dir = &args.out;
    let stored_path = dir.join(CONFIG_FILE);
    if stored_path.exists() {
        let text = std::fs::read_to_string(&stored_path)
            .with_context(|| format!("cannot read {}", stored_path.display()))?;
        let stored: CompareConfig = ron::from_str(&text).with_context(|| {
            format!(
                "{}: not a comparison's configuration",
                stored_path.display()
            )
        })?;
        let more_runs = CompareConfig {
            runs: config.runs,
            ..stored.clone()
        } == config
            && config.runs > stored.runs;
        if more_runs {
            // More runs of the same comparison: the finished ones stay, the new ones are
            // trained, so a comparison too small to tell can be grown.
            let text = ron::ser::to_string_pretty(&config, ron::ser::PrettyConfig::default())?;
            crate::output::json_out::write_text_atomic(&stored_path, &text)?;
        } else if stored != config {
            bail!(
                "{} holds another comparison ({}); choose another --out, or repeat its settings to continue it",
                dir.display(),
                difference(&stored, &config)
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let text = ron::ser::to_string_pretty(&config, ron::ser::PrettyConfig::default())?;
        crate::output::json_out::write_text_atomic(&stored_path, &text)?;
    }
    if let Some(t) = args.training.threads {
        train::set_threads(t);
    }
    let pending: Vec<(usize, usize)> = config
        .pairs()
        .filter(|&(f, r)| !CompareConfig::run_dir(dir, f, r).join(RESULT_FILE).exists())
        .collect();
    let total = config.functions.len() * config.runs;
    eprintln!(
        "actfn compare: {} of {total} runs done, {} to train",
        total - pending.len(),
        pending.len()
    );
    if !pending.is_empty() {
        match args.executor.executor {
            ExecutorKind::Inline => train_inline(&args, &config, &pending)?,
            kind => train_on_workers(&args, kind, &pending)?,
        }
    }
    let rows = collect(dir, &config)?;
    let missing = rows.iter().filter(|r| r.status.is_none()).count();
    let table = compare_table::Table::new(&config, &rows)?;
    compare_table::write_all(dir, &rows, &table)?;
    print!("{}", table.markdown());
    if missing > 0 {
        return Err(crate::exit::JobFailed(format!(
            "{missing} of {total} runs have no result (see their log.txt in {}/runs); rerun the same command to retry them",
            dir.display()
        ))
        .into());
    }
    Ok(())
}

/// The configuration the arguments describe, every expression parsed and printed
/// canonically.
fn config_of(args: &CompareArgs) -> anyhow::Result<CompareConfig> {
    if args.runs == 0 {
        bail!("--runs 0: nothing to compare");
    }
    let canonical = |text: &str| -> anyhow::Result<String> {
        let e: Expr = text
            .parse()
            .with_context(|| format!("cannot read the activation {text:?}"))?;
        Ok(e.to_string())
    };
    let mut functions: Vec<String> = Vec::new();
    for text in &args.activations {
        let c = canonical(text)?;
        if functions.contains(&c) {
            bail!("--activation {text:?} is given twice (as {c})");
        }
        functions.push(c);
    }
    let baseline = match &args.baseline {
        None => 0,
        Some(text) => {
            let c = canonical(text)?;
            match functions.iter().position(|f| *f == c) {
                Some(i) => i,
                None => {
                    functions.insert(0, c);
                    0
                }
            }
        }
    };
    let (data, training) = args.training.configs(
        &args.data.dataset,
        args.data.split_seed,
        0,
        DefaultSchedule::FinalAt200,
    )?;
    let training = TrainConfig {
        threads: None,
        ..training
    };
    Ok(CompareConfig {
        functions,
        baseline,
        runs: args.runs,
        seed: args.seed,
        data,
        test_size: args.data.test_size,
        training,
    })
}

/// Names the first setting in which two configurations differ.
fn difference(stored: &CompareConfig, asked: &CompareConfig) -> String {
    if stored.functions != asked.functions || stored.baseline != asked.baseline {
        return format!(
            "functions {:?} with baseline {:?}",
            stored.functions, stored.functions[stored.baseline]
        );
    }
    if stored.runs != asked.runs || stored.seed != asked.seed {
        return format!("{} runs from seed {}", stored.runs, stored.seed);
    }
    if stored.data != asked.data || stored.test_size != asked.test_size {
        return "other data settings".into();
    }
    format!(
        "another training recipe, network {}",
        stored.training.arch()
    )
}

/// Trains the pending runs in this process, the data prepared once.
fn train_inline(
    args: &CompareArgs,
    config: &CompareConfig,
    pending: &[(usize, usize)],
) -> anyhow::Result<()> {
    let data = prepare(args.training.data_dir().as_path(), config)?;
    for (i, &(f, r)) in pending.iter().enumerate() {
        eprintln!(
            "actfn compare: run {}/{}: {} (run {r}, seed {})",
            i + 1,
            pending.len(),
            config.functions[f],
            config.seed_of(r)
        );
        let result = train_one(&args.out, config, &data, (f, r), args.training.threads)?;
        eprintln!("actfn compare: {}", describe(&result));
    }
    Ok(())
}

/// The data of the comparison, prepared as `actfn train` prepares it.
fn prepare(data_dir: &Path, config: &CompareConfig) -> anyhow::Result<TrainData> {
    let prepared = data::prepare_with_test_size(data_dir, &config.data, config.test_size)
        .with_context(|| format!("cannot prepare {}", config.data.dataset))?;
    Ok(TrainData::from(prepared))
}

/// Trains run `r` of function `f` on `threads` (resuming its checkpoint) and publishes
/// its result.
fn train_one(
    dir: &Path,
    config: &CompareConfig,
    data: &TrainData,
    (f, r): (usize, usize),
    threads: Option<usize>,
) -> anyhow::Result<TrainResult> {
    let expr: Expr = config.functions[f]
        .parse()
        .with_context(|| format!("{}: function {f}", dir.join(CONFIG_FILE).display()))?;
    let run_dir = CompareConfig::run_dir(dir, f, r);
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let training = TrainConfig {
        seed: config.seed_of(r),
        threads,
        ..config.training.clone()
    };
    let options = RunOptions {
        out_dir: Some(run_dir.clone()),
        checkpoint: true,
        resume: true,
        progress: false,
        device: None,
        stop_after: None,
    };
    let outcome = train::train(&expr, data, &training, &options)
        .with_context(|| format!("cannot train with {expr}"))?;
    let result = outcome.result();
    write_json_atomic(&run_dir.join(RESULT_FILE), &result)?;
    Ok(result)
}

fn describe(r: &TrainResult) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.2}%", 100.0 * v));
    format!(
        "{}: val {} test {} ({:.0} s)",
        r.status.name(),
        pct(r.val_acc),
        pct(r.test_acc),
        r.seconds
    )
}

/// `--worker F:R`: one run, its recipe read from the folder.
fn run_worker(args: &CompareArgs, which: &str) -> anyhow::Result<()> {
    let path = args.out.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let config: CompareConfig = ron::from_str(&text)
        .with_context(|| format!("{}: not a comparison's configuration", path.display()))?;
    let parsed = which
        .split_once(':')
        .and_then(|(f, r)| Some((f.parse::<usize>().ok()?, r.parse::<usize>().ok()?)));
    let (f, r) = match parsed {
        Some((f, r)) if f < config.functions.len() && r < config.runs => (f, r),
        _ => bail!("--worker {which}: not F:R of a run of {}", path.display()),
    };
    if let Some(t) = args.training.threads {
        train::set_threads(t);
    }
    let data = prepare(args.training.data_dir().as_path(), &config)?;
    let result = train_one(&args.out, &config, &data, (f, r), args.training.threads)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Runs the pending runs as worker processes on the local pool or Slurm.
fn train_on_workers(
    args: &CompareArgs,
    kind: ExecutorKind,
    pending: &[(usize, usize)],
) -> anyhow::Result<()> {
    let options = &args.executor;
    let dir = std::path::absolute(&args.out)
        .with_context(|| format!("cannot make {} absolute", args.out.display()))?;
    let data_dir = std::path::absolute(args.training.data_dir())
        .context("cannot make the data folder absolute")?;
    let program = std::env::current_exe().context("cannot find this program's path")?;
    let gpus = train::cuda_device_count();
    let jobs = options.jobs.unwrap_or(gpus.max(1));
    let threads = match (kind, args.training.threads, options.cpus_per_task) {
        (_, Some(t), _) => t,
        (ExecutorKind::Slurm, None, c) => c.map_or(1, |c| c as usize),
        _ => {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            threads_per_job(cores, jobs)
        }
    };
    let tasks: Vec<Task> = pending
        .iter()
        .map(|&(f, r)| {
            let run_dir = CompareConfig::run_dir(&dir, f, r);
            let argv: Vec<OsString> = vec![
                program.clone().into(),
                "compare".into(),
                "--out".into(),
                dir.clone().into(),
                "--worker".into(),
                format!("{f}:{r}").into(),
                "--threads".into(),
                threads.to_string().into(),
                "--data-dir".into(),
                data_dir.clone().into(),
            ];
            Task::new(
                argv,
                &dir,
                run_dir.join("log.txt"),
                run_dir.join(RESULT_FILE),
            )
        })
        .collect();
    for &(f, r) in pending {
        let run_dir = CompareConfig::run_dir(&dir, f, r);
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
    }
    let mut on_settled = |i: usize, outcome: &actfn_cluster::Outcome| {
        let (f, r) = pending[i];
        match outcome {
            actfn_cluster::Outcome::Published { .. } => {
                eprintln!("actfn compare: f{f}-r{r} done");
            }
            actfn_cluster::Outcome::Failed { reason, .. } => {
                eprintln!("actfn compare: f{f}-r{r} failed: {reason}");
            }
        }
    };
    if kind == ExecutorKind::Slurm {
        let runner = SlurmArray::new(dir.join("slurm"), options.slurm_options()?)?;
        if options.dry_run {
            for script in runner.dry_run(&tasks)? {
                println!("{script}");
            }
            return Ok(());
        }
        runner.run_tasks(&tasks, &mut on_settled)?;
    } else {
        let pool = LocalPool::new(jobs)?
            .retries(options.retries.unwrap_or(0))
            .slot_env(local_slot_env(jobs, gpus));
        pool.run_tasks(&tasks, &mut on_settled)?;
    }
    Ok(())
}

/// One row per run, in (function, run) order; a run without a result has no status.
fn collect(dir: &Path, config: &CompareConfig) -> anyhow::Result<Vec<RunRow>> {
    let mut rows = Vec::new();
    for (f, r) in config.pairs() {
        let path = CompareConfig::run_dir(dir, f, r).join(RESULT_FILE);
        let result: Option<TrainResult> = match std::fs::read_to_string(&path) {
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a training result", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        rows.push(RunRow {
            function: config.functions[f].clone(),
            run: r,
            seed: config.seed_of(r),
            status: result.as_ref().map(|x| x.status),
            val_acc: result.as_ref().and_then(|x| x.val_acc),
            test_acc: result.as_ref().and_then(|x| x.test_acc),
            seconds: result.as_ref().map(|x| x.seconds),
        });
    }
    Ok(rows)
}
