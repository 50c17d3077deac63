//! `actfn search`: run, or resume, an activation-function search into a directory of
//! durable records.
//!
//! The task decides what evaluating a candidate means: `fit` (a cheap curve fit) or
//! `cifar10` / `cifar100` (training a WRN on a split of the training set, scored on its
//! validation part). [`task_config`] turns the options into the stored task (`task.rs`),
//! which builds the evaluator; a new task adds a [`TaskKind`] value here too.

use std::path::{Path, PathBuf};

use actfn_evo::{
    create_dir, open_dir, run_search, Event, EvolutionConfig, FitConfig, FitnessMetric,
    HalvingConfig, SearchConfig, Strategy,
};
use actfn_expr::{BinaryOp, Expr, SearchSpace, UnaryOp};
use actfn_wrn::data::DataSource;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use std::cell::Cell;
use std::ffi::OsString;
use std::rc::Rc;

use actfn_cluster::{threads_per_job, LocalPool};
use actfn_evo::{Evaluator, Journal};

use crate::execution::dispatch::{local_slot_env, Dispatch, DispatchEvaluator, InlineEvaluator};
use crate::execution::task::{self, make_evaluator, CifarTask, Stored, Task};
use crate::execution::work_dir::{candidate_dir, RUN_DIR};
use crate::options::executor::{ExecutorArgs, ExecutorKind};
use crate::options::training::{DatasetArgs, DefaultSchedule, TrainingArgs};

/// Arguments of `actfn search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Continue the search stored in DIR (every other option comes from DIR/config.ron,
    /// except --data-dir, --threads and the executor's options, which may be given anew).
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "task", "strategy", "out", "seed", "target", "arch", "wrn_depth", "wrn_width", "epochs",
        "milestones", "train_size", "val_per_class", "batch", "no_zca", "zca_epsilon", "init",
        "allow_partial", "dataset", "image_size", "preprocess", "augment", "precheck", "precheck_steps", "precheck_loss_factor", "diversity",
        "halving", "halving_min_epochs",
    ])]
    pub resume: Option<PathBuf>,
    /// What evaluating a candidate means.
    #[arg(long, value_enum, required_unless_present = "resume")]
    pub task: Option<TaskKind>,
    /// The function to fit (task `fit`), e.g. `mul(sigmoid(x), erf(x))`.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    pub target: Option<String>,
    /// The search strategy.
    #[arg(long, value_enum, required_unless_present = "resume")]
    pub strategy: Option<StrategyKind>,
    /// Evolution's fitness: softmax of negative validation loss, or of validation accuracy.
    #[arg(long, value_enum, default_value_t = FitnessKind::Loss)]
    pub fitness: FitnessKind,
    /// Depth d of the search space S_d [default: 1 for exhaustive, 2 otherwise].
    #[arg(long)]
    pub depth: Option<usize>,
    /// Unary ops of the space, comma-separated names [default: the paper's 24].
    #[arg(long, value_delimiter = ',', value_name = "OPS")]
    pub unary: Vec<String>,
    /// Binary ops of the space, comma-separated names [default: all 6].
    #[arg(long, value_delimiter = ',', value_name = "OPS")]
    pub binary: Vec<String>,
    /// Candidates per generation (the exhaustive search's batch size).
    #[arg(long, default_value_t = 50)]
    pub population: usize,
    /// Evolution: elites carried over to the next generation.
    #[arg(long, default_value_t = 5)]
    pub elites: usize,
    /// Evolution: fresh random functions per generation.
    #[arg(long = "random", default_value_t = 10, value_name = "M")]
    pub random: usize,
    /// Generations of the random search and of evolution.
    #[arg(long, default_value_t = 10)]
    pub generations: usize,
    /// Task fit: grid points in [-5, 5].
    #[arg(long, default_value_t = 1000)]
    pub grid_points: usize,
    /// Number of best functions to report.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// Keep the paper's behaviour: a duplicate or degenerate draw keeps its place
    /// (reusing a record, or with the worst fitness) instead of being replaced.
    #[arg(long)]
    pub paper_exact: bool,
    /// At most this many redraws for one place.
    #[arg(long, default_value_t = 100)]
    pub max_redraws: usize,
    /// Population diversity (random and evolution searches): a draw within this distance
    /// of a member already in its generation (the largest difference over the probe
    /// points, relative where values exceed 1; see actfn-expr's `distance`) is recorded
    /// as a rejected near-duplicate and replaced by a fresh random draw. Without a value:
    /// 0.01. Off by default (the paper's search).
    #[arg(
        long,
        value_name = "DISTANCE",
        num_args = 0..=1,
        default_missing_value = "0.01",
        conflicts_with = "paper_exact"
    )]
    pub diversity: Option<f64>,
    /// Successive halving inside each generation (tasks cifar10/100; random and
    /// evolution): every candidate trains the first rung's epochs, the best 1/ETA (by the
    /// fitness; accuracy for random search) continue from their checkpoint to the next
    /// rung, R x ETA^k epochs, up to --epochs. Off by default (the paper's algorithm).
    #[arg(long, value_name = "ETA")]
    pub halving: Option<u32>,
    /// Epochs of halving's first rung [default: 1].
    #[arg(long, value_name = "R", requires = "halving")]
    pub halving_min_epochs: Option<u32>,
    /// Seed of all randomness of the search (and the training seed).
    #[arg(long, required_unless_present = "resume")]
    pub seed: Option<u64>,
    /// The search directory (created; an existing one with the same configuration is
    /// continued).
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Task fit: per-candidate time limit in milliseconds.
    #[arg(long, value_name = "MS")]
    pub eval_timeout_ms: Option<u64>,
    /// Task fit: artificial time per evaluation in milliseconds (for tests).
    #[arg(long, hide = true, default_value_t = 0)]
    pub eval_delay_ms: u64,
    /// Tasks cifar10/100: how each candidate is trained.
    #[command(
        flatten,
        next_help_heading = "Training (tasks train, cifar10, cifar100)"
    )]
    pub data: DatasetArgs,
    #[command(
        flatten,
        next_help_heading = "Training (tasks train, cifar10, cifar100)"
    )]
    pub training: TrainingArgs,
    /// Where candidates are trained; not part of the search's configuration.
    #[command(flatten, next_help_heading = "Executor")]
    pub executor: ExecutorArgs,
    /// Accepted and ignored, so that command lines written when `search` took it keep
    /// working: a search never uses the test set.
    #[arg(long = "test-size", value_name = "N", hide = true)]
    pub ignored_test_size: Option<usize>,
}

/// The tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskKind {
    /// Fit a target function on a grid (cheap; for tests and experiments).
    Fit,
    /// Train the network (--arch) on --dataset (its training split) and score on its
    /// validation split.
    Train,
    /// As `train --dataset cifar10`.
    Cifar10,
    /// Train WRN-d-k on CIFAR-100 (training split) and score on its validation split.
    Cifar100,
}

/// The strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyKind {
    /// Every member of the space, in batches of --population.
    Exhaustive,
    /// --population x --generations random members.
    Random,
    /// Evolution with --population, --elites, --random, --generations, --fitness.
    Evolution,
}

/// The fitness metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FitnessKind {
    /// Softmax of the negative validation loss.
    Loss,
    /// Softmax of the validation accuracy.
    Accuracy,
}

/// The task configuration from the command line.
pub fn task_config(args: &SearchArgs) -> anyhow::Result<Task> {
    match args.task {
        Some(TaskKind::Fit) => {
            let Some(text) = &args.target else {
                bail!("task fit needs --target EXPR");
            };
            let target: Expr = text.parse().with_context(|| format!("--target `{text}`"))?;
            Ok(Task::Fit(FitConfig {
                grid_points: args.grid_points,
                delay_ms: args.eval_delay_ms,
                timeout_ms: args.eval_timeout_ms,
                ..FitConfig::new(target)
            }))
        }
        Some(kind @ (TaskKind::Train | TaskKind::Cifar10 | TaskKind::Cifar100)) => {
            if args.target.is_some() {
                bail!("--target is for task fit only");
            }
            let mut dataset = args.data.clone();
            let named = match kind {
                TaskKind::Cifar100 => Some(DataSource::Cifar100),
                TaskKind::Cifar10 => Some(DataSource::Cifar10),
                _ => None,
            };
            if let Some(named) = named {
                if dataset.dataset.as_ref().is_some_and(|d| *d != named) {
                    bail!("--task {named} trains on {named}; for other data use --task train --dataset DATA");
                }
                dataset.dataset = Some(named);
            }
            // Split seed 0: every search sees the same split. The search's seed also goes
            // into the stored training configuration (see `CifarTask::train`).
            let (data, train) = args.training.configs(
                &dataset,
                0,
                args.seed.unwrap_or(0),
                DefaultSchedule::Scaled,
            )?;
            Ok(Task::Cifar(CifarTask {
                data_dir: args.training.data_dir(),
                data,
                train,
            }))
        }
        None => bail!("--task is required"),
    }
}

/// The search configuration from the command line.
pub fn search_config(args: &SearchArgs) -> anyhow::Result<SearchConfig> {
    let Some(kind) = args.strategy else {
        bail!("--strategy is required");
    };
    let Some(seed) = args.seed else {
        bail!("--seed is required");
    };
    let depth = args.depth.unwrap_or(match kind {
        StrategyKind::Exhaustive => 1,
        _ => 2,
    });
    let space = if args.unary.is_empty() && args.binary.is_empty() {
        // Not `SearchSpace::paper`, which panics on a depth past the limit.
        SearchSpace::new(depth, UnaryOp::PAPER.to_vec(), BinaryOp::ALL.to_vec())?
    } else {
        let unary = if args.unary.is_empty() {
            UnaryOp::PAPER.to_vec()
        } else {
            args.unary
                .iter()
                .map(|n| unary_op(n))
                .collect::<anyhow::Result<_>>()?
        };
        let binary = if args.binary.is_empty() {
            BinaryOp::ALL.to_vec()
        } else {
            args.binary
                .iter()
                .map(|n| binary_op(n))
                .collect::<anyhow::Result<_>>()?
        };
        SearchSpace::new(depth, unary, binary)?
    };
    let strategy = match kind {
        StrategyKind::Exhaustive => Strategy::Exhaustive {
            batch: args.population,
        },
        StrategyKind::Random => Strategy::Random {
            population: args.population,
            generations: args.generations,
        },
        StrategyKind::Evolution => Strategy::Evolution(EvolutionConfig {
            population: args.population,
            elites: args.elites,
            random: args.random,
            generations: args.generations,
            fitness: match args.fitness {
                FitnessKind::Loss => FitnessMetric::Loss,
                FitnessKind::Accuracy => FitnessMetric::Accuracy,
            },
        }),
    };
    let config = SearchConfig {
        top_k: args.top,
        replace_wasted: !args.paper_exact,
        max_redraws: args.max_redraws,
        diversity: args.diversity,
        halving: args.halving.map(|eta| HalvingConfig {
            eta,
            min_epochs: args.halving_min_epochs.unwrap_or(1),
        }),
        ..SearchConfig::new(strategy, seed, space)
    };
    config.validate()?;
    Ok(config)
}

/// Refuses halving settings that do not fit the task, before any data is prepared: a
/// task without epochs, or a first rung above the budget.
fn check_halving(search: &SearchConfig, task: &Task) -> anyhow::Result<()> {
    let Some(halving) = &search.halving else {
        return Ok(());
    };
    match task {
        Task::Fit(_) => bail!(
            "--halving needs a task that trains for epochs (train, cifar10, cifar100): task \
             fit scores each candidate in one step"
        ),
        Task::Cifar(cifar) => {
            let budget = u32::try_from(cifar.train.epochs)
                .with_context(|| format!("--epochs {} is too large", cifar.train.epochs))?;
            halving.rungs(budget)?;
            Ok(())
        }
    }
}

fn unary_op(name: &str) -> anyhow::Result<UnaryOp> {
    let name = name.trim();
    UnaryOp::ALL
        .into_iter()
        .find(|op| op.name() == name)
        .with_context(|| format!("unknown unary op `{name}`"))
}

fn binary_op(name: &str) -> anyhow::Result<BinaryOp> {
    let name = name.trim();
    BinaryOp::ALL
        .into_iter()
        .find(|op| op.name() == name)
        .with_context(|| format!("unknown binary op `{name}`"))
}

/// Runs `actfn search`.
pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    args.executor.check()?;
    let dry_run = args.executor.dry_run;
    let progress = Progress::new();
    let bar = progress.bar.clone();
    // Above the bar on a terminal; plain lines on stderr otherwise (logs).
    let log = move |line: &str| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let (dir, stored, mut journal, evaluator, task) = match &args.resume {
        Some(dir) => {
            let context = || format!("cannot resume the search in {}", dir.display());
            // A dry run changes nothing, not even a cut-off last record.
            let (stored, journal): (Stored, _) = if dry_run {
                actfn_evo::read_dir(dir).with_context(context)?
            } else {
                open_dir(dir).with_context(context)?
            };
            let mut task = stored.task.clone();
            task::set_local(
                &mut task,
                args.training.data_dir.as_deref(),
                args.training.threads,
            );
            let evaluator = make_evaluator(&task, dir, log)?;
            stored.check_evaluator(evaluator.as_ref())?;
            (dir.clone(), stored, journal, evaluator, task)
        }
        None => {
            let dir = args.out.clone().context("--out DIR is required")?;
            let task = task_config(&args)?;
            let search = search_config(&args)?;
            check_halving(&search, &task)?;
            // Continuing a search with `--out`: the data folder and the thread count may
            // differ from the stored ones (the stored ones are kept in config.ron).
            let stored_task = match existing_task(&dir) {
                Some(existing) => task::with_local_of(&task, &existing),
                None => task.clone(),
            };
            let evaluator = make_evaluator(&task, &dir, log)?;
            let stored = Stored {
                search,
                task: stored_task,
                config_hash: evaluator.config_hash(),
            };
            let journal = if dry_run {
                Journal::in_memory()
            } else {
                create_dir(&dir, &stored)?
            };
            (dir, stored, journal, evaluator, task)
        }
    };
    for warning in journal.warnings() {
        eprintln!("actfn: warning: {warning}");
    }
    let printed = Rc::new(Cell::new(false));
    let mut evaluator = executor(&args, &dir, &task, evaluator, &printed)?;
    let resumed = journal.records().len();
    let outcome = run_search(
        &stored.search,
        &mut journal,
        evaluator.as_mut(),
        &mut |event| {
            progress.on(&event);
            if let Event::Recorded(record) = event {
                drop_finished_checkpoint(&dir, record);
            }
        },
    );
    progress.finish();
    if printed.get() {
        return Ok(());
    }
    let outcome = outcome?;
    let summary = &outcome.summary;
    if resumed > 0 {
        println!(
            "resumed {}: {resumed} records were already there",
            dir.display()
        );
    }
    crate::commands::report::print_text(&dir, summary);
    Ok(())
}

/// The evaluator of the chosen executor around the task's own `evaluator`.
fn executor(
    args: &SearchArgs,
    dir: &Path,
    task: &Task,
    evaluator: Box<dyn Evaluator>,
    printed: &Rc<Cell<bool>>,
) -> anyhow::Result<Box<dyn Evaluator>> {
    let options = &args.executor;
    let dispatch = match options.executor {
        ExecutorKind::Inline => return Ok(Box::new(InlineEvaluator(evaluator))),
        ExecutorKind::Local => {
            let gpus = actfn_wrn::train::cuda_device_count();
            let jobs = options.jobs.unwrap_or(gpus.max(1));
            let pool = LocalPool::new(jobs)?
                .retries(options.retries.unwrap_or(0))
                .slot_env(local_slot_env(jobs, gpus));
            Dispatch::Local(pool)
        }
        ExecutorKind::Slurm => Dispatch::Slurm(Box::new(options.slurm_options()?)),
    };
    let mut worker_args: Vec<OsString> = Vec::new();
    if let Some(cifar) = task.cifar() {
        // Threads: as given; else a share of this machine's cores, or what Slurm grants.
        let threads = match (&dispatch, args.training.threads) {
            (_, Some(t)) => t,
            (Dispatch::Local(_), None) => {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                let gpus = actfn_wrn::train::cuda_device_count();
                threads_per_job(cores, options.jobs.unwrap_or(gpus.max(1)))
            }
            (Dispatch::Slurm(o), None) => o.cpus_per_task.map_or(1, |c| c as usize),
        };
        let data_dir = std::path::absolute(&cifar.data_dir)
            .with_context(|| format!("cannot make {} absolute", cifar.data_dir.display()))?;
        worker_args.extend([
            "--threads".into(),
            threads.to_string().into(),
            "--data-dir".into(),
            data_dir.into(),
        ]);
    }
    let mut dispatcher =
        DispatchEvaluator::new(evaluator, dir.to_path_buf(), dispatch, worker_args)?;
    if options.dry_run {
        dispatcher = dispatcher.dry_run(printed.clone());
    }
    Ok(Box::new(dispatcher))
}

/// With halving, a recorded candidate's training is over (it stopped at a rung or
/// reached the last): its epoch checkpoint, which only a next rung would continue from,
/// is removed, so a search keeps one checkpoint per candidate still training rather than
/// one per candidate ever trained. Best effort: a checkpoint left behind (a kill between
/// the record and the removal, a failed removal) only takes space.
fn drop_finished_checkpoint(dir: &Path, record: &actfn_evo::Record) {
    if record.rung.is_none() || !record.trained() {
        return;
    }
    let run = candidate_dir(dir, record.generation, record.index).join(RUN_DIR);
    if let Err(e) = actfn_wrn::checkpoint::remove(&run) {
        eprintln!("actfn: warning: cannot remove a finished checkpoint: {e}");
    }
}

/// The task stored in `dir/config.ron`, if there is a readable one.
fn existing_task(dir: &Path) -> Option<Task> {
    if !dir.join(actfn_evo::CONFIG_FILE).is_file() {
        return None;
    }
    let (stored, _): (Stored, _) = actfn_evo::read_dir(dir).ok()?;
    Some(stored.task)
}

/// A progress bar on stderr (hidden when stderr is not a terminal): one bar per
/// generation, counting the trainings.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new() -> Progress {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} trained ({elapsed}, eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    fn on(&self, event: &Event<'_>) {
        match event {
            Event::Generation {
                generation,
                generations,
                to_train,
                ..
            } => {
                self.bar.set_length(*to_train as u64);
                self.bar.set_position(0);
                self.bar
                    .set_message(format!("generation {}/{}", generation + 1, generations));
            }
            Event::Recorded(record) => {
                if record.trained() {
                    self.bar.inc(1);
                }
            }
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
