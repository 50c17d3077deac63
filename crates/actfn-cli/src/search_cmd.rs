//! `actfn search`: run, or resume, an activation-function search into a directory of
//! durable records.
//!
//! The task decides what evaluating a candidate means: `fit` (a cheap curve fit) or
//! `cifar10` / `cifar100` (training a WRN on a split of the training set, scored on its
//! validation part). [`TaskConfig`] is what is stored in the search's `config.ron`;
//! [`make_evaluator`] builds its evaluator, on a fresh start and on resume alike. A new
//! task adds a [`TaskKind`] value, a [`TaskConfig`] variant with its options, and a match
//! arm in each of [`task_config`] and [`make_evaluator`].

use std::path::{Path, PathBuf};

use actfn_evo::{
    create_dir, open_dir, run_search, Evaluator, Event, EvolutionConfig, FitConfig, FitEvaluator,
    FitnessMetric, SearchConfig, StoredConfig, Strategy,
};
use actfn_expr::{BinaryOp, Expr, SearchSpace, UnaryOp};
use actfn_wrn::data::{self, Cifar, DataConfig, SplitConfig};
use actfn_wrn::evaluator::WrnEvaluator;
use actfn_wrn::train::TrainConfig;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::input_args::InputArgs;

/// Arguments of `actfn search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Continue the search stored in DIR (every other option comes from DIR/config.ron,
    /// except --data-dir and --threads, which may be given anew).
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "task", "strategy", "out", "seed", "target", "wrn_depth", "wrn_width", "epochs",
        "milestones", "train_size", "val_per_class", "batch", "no_zca", "zca_epsilon", "init", "allow_partial",
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
    /// Tasks cifar10/100: WRN depth d = 6n + 4 (not the search space's --depth).
    #[arg(long, value_name = "D", default_value_t = 28)]
    pub wrn_depth: i64,
    /// Tasks cifar10/100: WRN widening factor k.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub wrn_width: i64,
    /// Tasks cifar10/100: training epochs per candidate.
    #[arg(long, value_name = "E", default_value_t = 50)]
    pub epochs: usize,
    /// Tasks cifar10/100: epochs at which the learning rate is multiplied by 0.2,
    /// comma-separated; '' for none [default: 50%, 80% and 90% of the epochs, the paper's
    /// 25,40,45 for 50].
    #[arg(long, value_name = "E1,E2,...")]
    pub milestones: Option<String>,
    /// Tasks cifar10/100: keep only this many training images (balanced over classes)
    /// [default: all that the validation split leaves].
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
    /// Tasks cifar10/100: validation images per class [default: the paper's 500 for
    /// CIFAR-10, 50 for CIFAR-100].
    #[arg(long, value_name = "V")]
    pub val_per_class: Option<usize>,
    /// Tasks cifar10/100: training batch size.
    #[arg(long, value_name = "B", default_value_t = 128)]
    pub batch: usize,
    /// Tasks cifar10/100: preprocessing and initialisation.
    #[command(flatten)]
    pub input: InputArgs,
    /// Tasks cifar10/100: the data folder (fill it with `actfn data fetch`) [default: data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Tasks cifar10/100: libtorch threads [default: libtorch's choice].
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Accepted for symmetry with `actfn train` and ignored: a search never uses the test
    /// set.
    #[arg(long, value_name = "N")]
    pub test_size: Option<usize>,
}

/// The tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskKind {
    /// Fit a target function on a grid (cheap; for tests and experiments).
    Fit,
    /// Train WRN-d-k on CIFAR-10 (training split) and score on its validation split.
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

/// A task's configuration, as stored in `config.ron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskConfig {
    /// Fit a target function.
    Fit(FitConfig),
    /// Train a WRN on CIFAR-10 or CIFAR-100.
    Cifar(CifarTask),
}

/// The CIFAR training task: data, split, preprocessing and training schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CifarTask {
    /// The data folder. Not part of the evaluator's hash (the data are identified by
    /// content); `--data-dir` overrides it on resume.
    pub data_dir: PathBuf,
    /// Data set, train/validation split (seed 0, the same for every search) and
    /// preprocessing.
    pub data: DataConfig,
    /// The training schedule. Its seed is the search's; `threads` is not part of the hash
    /// and `--threads` overrides it on resume.
    pub train: TrainConfig,
}

impl TaskConfig {
    /// Sets what belongs to the machine rather than to the experiment (data folder,
    /// threads) from the command line, where given.
    fn set_local(&mut self, data_dir: Option<&Path>, threads: Option<usize>) {
        if let TaskConfig::Cifar(task) = self {
            if let Some(dir) = data_dir {
                task.data_dir = dir.to_path_buf();
            }
            if threads.is_some() {
                task.train.threads = threads;
            }
        }
    }

    /// This task with the machine-local settings of `other`, where both are CIFAR tasks.
    fn with_local_of(&self, other: &TaskConfig) -> TaskConfig {
        let mut task = self.clone();
        if let (TaskConfig::Cifar(t), TaskConfig::Cifar(o)) = (&mut task, other) {
            t.data_dir.clone_from(&o.data_dir);
            t.train.threads = o.train.threads;
        }
        task
    }
}

/// The search directory's stored configuration.
pub type Stored = StoredConfig<TaskConfig>;

/// Builds the evaluator of a task: the one place that knows every task. `log` receives a
/// line about each finished candidate of a training task.
pub fn make_evaluator(
    task: &TaskConfig,
    log: impl FnMut(&str) + 'static,
) -> anyhow::Result<Box<dyn Evaluator>> {
    match task {
        TaskConfig::Fit(config) => Ok(Box::new(FitEvaluator::new(config.clone())?)),
        TaskConfig::Cifar(task) => {
            let kind = task.data.dataset;
            let dir = &task.data_dir;
            if !data::is_present(kind, dir) {
                bail!(
                    "{kind} is not in the data folder {}: run `actfn data fetch {kind} \
                     --data-dir {}` first (add `--from PATH` to unpack a tarball you have)",
                    dir.display(),
                    dir.display()
                );
            }
            let evaluator = WrnEvaluator::new(dir, task.data.clone(), task.train.clone())
                .with_context(|| format!("cannot prepare {kind} from {}", dir.display()))?;
            let d = evaluator.data();
            eprintln!(
                "{kind}: {} training and {} validation images, prepared in {:.1} s",
                d.train_images.size()[0],
                d.val_images.size()[0],
                evaluator.prepare_seconds()
            );
            Ok(Box::new(evaluator.with_log(log)))
        }
    }
}

/// Parses `--milestones`: comma-separated epochs, or nothing for none.
pub(crate) fn parse_milestones(text: &str) -> anyhow::Result<Vec<usize>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("--milestones: `{s}` is not an epoch number"))
        })
        .collect()
}

/// Refuses a schedule that would silently not be what was asked: no epochs, or a
/// learning-rate milestone outside `1..epochs` (one at or past the last epoch never acts).
pub(crate) fn check_schedule(epochs: usize, milestones: &[usize]) -> anyhow::Result<()> {
    if epochs == 0 {
        bail!("--epochs 0: nothing would be trained");
    }
    if let Some(m) = milestones.iter().find(|&&m| m == 0 || m >= epochs) {
        bail!(
            "--milestones: epoch {m} is outside 1..{epochs} (a milestone is the epoch, counting \
             from 0, at whose start the learning rate drops; it must fall inside the run)"
        );
    }
    Ok(())
}

/// The task configuration from the command line.
pub fn task_config(args: &SearchArgs) -> anyhow::Result<TaskConfig> {
    match args.task {
        Some(TaskKind::Fit) => {
            let Some(text) = &args.target else {
                bail!("task fit needs --target EXPR");
            };
            let target: Expr = text.parse().with_context(|| format!("--target `{text}`"))?;
            Ok(TaskConfig::Fit(FitConfig {
                grid_points: args.grid_points,
                delay_ms: args.eval_delay_ms,
                timeout_ms: args.eval_timeout_ms,
                ..FitConfig::new(target)
            }))
        }
        Some(kind @ (TaskKind::Cifar10 | TaskKind::Cifar100)) => {
            if args.target.is_some() {
                bail!("--target is for task fit only");
            }
            let dataset = match kind {
                TaskKind::Cifar100 => Cifar::Cifar100,
                _ => Cifar::Cifar10,
            };
            let milestones = match &args.milestones {
                Some(text) => parse_milestones(text)?,
                None => TrainConfig::scaled_milestones(args.epochs),
            };
            check_schedule(args.epochs, &milestones)?;
            let train = TrainConfig {
                depth: args.wrn_depth,
                width: args.wrn_width,
                epochs: args.epochs,
                milestones,
                batch_size: args.batch,
                seed: args.seed.unwrap_or(0),
                threads: args.threads,
                init: args.input.init,
                ..TrainConfig::search()
            };
            train.validate()?;
            let data = DataConfig {
                dataset,
                split: SplitConfig {
                    val_per_class: args
                        .val_per_class
                        .unwrap_or_else(|| dataset.paper_val_per_class()),
                    train_size: args.train_size,
                    seed: 0,
                },
                preprocess: args.input.preprocess()?,
                allow_partial: args.input.allow_partial,
            };
            Ok(TaskConfig::Cifar(CifarTask {
                data_dir: args
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data")),
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
        ..SearchConfig::new(strategy, seed, space)
    };
    config.validate()?;
    Ok(config)
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
    let (dir, stored, mut journal, mut evaluator) = match &args.resume {
        Some(dir) => {
            let (stored, journal): (Stored, _) = open_dir(dir)
                .with_context(|| format!("cannot resume the search in {}", dir.display()))?;
            let mut task = stored.task.clone();
            task.set_local(args.data_dir.as_deref(), args.threads);
            let evaluator = make_evaluator(&task, log)?;
            stored.check_evaluator(evaluator.as_ref())?;
            (dir.clone(), stored, journal, evaluator)
        }
        None => {
            let dir = args.out.clone().context("--out DIR is required")?;
            let task = task_config(&args)?;
            let search = search_config(&args)?;
            // Continuing a search with `--out`: the data folder and the thread count may
            // differ from the stored ones (the stored ones are kept in config.ron).
            let stored_task = match existing_task(&dir) {
                Some(existing) => task.with_local_of(&existing),
                None => task.clone(),
            };
            let evaluator = make_evaluator(&task, log)?;
            let stored = Stored {
                search,
                task: stored_task,
                config_hash: evaluator.config_hash(),
            };
            let journal = create_dir(&dir, &stored)?;
            (dir, stored, journal, evaluator)
        }
    };
    for warning in journal.warnings() {
        eprintln!("actfn: warning: {warning}");
    }
    let resumed = journal.records().len();
    let outcome = run_search(
        &stored.search,
        &mut journal,
        evaluator.as_mut(),
        &mut |event| progress.on(&event),
    )?;
    progress.finish();
    let summary = &outcome.summary;
    if resumed > 0 {
        println!(
            "resumed {}: {resumed} records were already there",
            dir.display()
        );
    }
    crate::report_cmd::print_text(&dir, summary);
    Ok(())
}

/// The task stored in `dir/config.ron`, if there is a readable one.
fn existing_task(dir: &Path) -> Option<TaskConfig> {
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
