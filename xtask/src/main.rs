//! `cargo xtask`: project automation (libtorch setup, the test command, reproductions).
//!
//! Every command is declared once, in [`Command`]. The xtask builds nothing of torch itself:
//! it prepares libtorch and then calls cargo (or the `actfn` CLI) to do the work.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

mod actfn_args;
mod bench_executors;
mod fuzz;
mod libtorch;
mod parity;
mod reproduce;
mod slurm;
mod tarballs;

/// Project automation for actfn.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make libtorch 2.13.0 available to tch and print where it is.
    ///
    /// Without LIBTORCH or LIBTORCH_USE_PYTORCH set, assembles a CPU libtorch from the
    /// PyTorch wheel (downloaded with pip) in the user cache and links
    /// `target/libtorch` to it; `.cargo/config.toml` points LIBTORCH there.
    Setup,
    /// Set up libtorch, then run `cargo test --workspace` with the given arguments.
    ///
    /// `--workspace` is left out when the arguments select packages (`-p NAME`).
    Test {
        /// Arguments passed on to `cargo test` (e.g. `-p actfn-wrn -- --nocapture`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Fuzz the expression language for SECONDS: parse, print in every style, parse back,
    /// evaluate, differentiate and fingerprint random, grammar-shaped and edited inputs,
    /// each batch in a child process; crashes and round-trip failures are saved under
    /// target/fuzz/ and make the command fail.
    Fuzz {
        /// How long to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the generated cases.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Reproduce the paper's Table 1: four searches on CIFAR-10, then their top functions
    /// with ReLU and Swish trained from scratch on CIFAR-10 and CIFAR-100.
    ReproduceTable1(ReproduceArgs),
    /// Reproduce the paper's Table 2: repeated CIFAR-100 runs and t-tests.
    ReproduceTable2(ReproduceArgs),
    /// Reproduce the paper's Table 3: transfer to another network and data set versus a
    /// search specialized to it.
    ReproduceTable3(ReproduceArgs),
    /// Train a network (--arch, default WRN-10-1) with ReLU side by side with a PyTorch
    /// eager reference of the same recipe on the same images and seeds, and write the
    /// table of mean accuracies (results/parity/parity.md); with --counts, compare the
    /// parameter counts of both sides' networks instead (results/parity/counts.md). Makes a
    /// PyTorch virtual environment in the user cache on first use. Resumes from the runs
    /// already in --out. With --step, time one training step of each --arch with each
    /// --threads, `actfn bench step` against experiments/parity/step.py in alternating
    /// processes (results/parity/step.md, step-runs.csv).
    Parity(ParityArgs),
    /// Time the same trainings one after another with all threads in each (`--executor
    /// inline`) and as single-threaded worker processes at once (`--executor local`), in
    /// one invocation, and print both wall times and their ratio.
    BenchExecutors(BenchExecutorsArgs),
    /// Start (`up`) or stop (`down`) a one-node Slurm cluster on this machine, for the
    /// cluster tests. `up` installs slurm-wlm and munge with apt-get when missing (as
    /// root), and prints the `export SLURM_CONF=...` line client commands need.
    Slurm {
        #[command(subcommand)]
        action: SlurmAction,
    },
}

/// `cargo xtask slurm up|down`.
#[derive(Debug, Subcommand)]
enum SlurmAction {
    /// Install if needed, configure and start munged, slurmctld and slurmd; wait until the
    /// node is idle. Does nothing when the same configuration already runs.
    Up {
        /// Folder of the configuration, state and logs.
        #[arg(long, default_value = slurm::DEFAULT_DIR)]
        dir: PathBuf,
        /// Slurm's MaxArraySize (array indices stay below it).
        #[arg(long, default_value_t = 1001)]
        max_array_size: usize,
    },
    /// Stop the daemons `up` started; a no-op when none runs.
    Down {
        /// Folder given to `up`.
        #[arg(long, default_value = slurm::DEFAULT_DIR)]
        dir: PathBuf,
    },
}

/// Options of `cargo xtask bench-executors`.
#[derive(Debug, clap::Args)]
struct BenchExecutorsArgs {
    /// Activations, one training each per side (`;`-separated).
    #[arg(
        long,
        value_delimiter = ';',
        default_value = "max(x, 0);tanh(x) * min(x, 0)"
    )]
    activations: Vec<String>,
    /// Training images (the cpu preset's final runs train 10,000).
    #[arg(long, default_value_t = 10_000)]
    train_size: usize,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long, default_value_t = 10)]
    wrn_depth: usize,
    #[arg(long, default_value_t = 1)]
    wrn_width: usize,
    /// Worker processes (and the threads of each inline training) [default: the cores].
    #[arg(long)]
    jobs: Option<usize>,
    /// Output folder, cleared first [default: target/bench-executors].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Options of `cargo xtask parity`.
#[derive(Debug, clap::Args)]
struct ParityArgs {
    /// The network both sides train: wrn-D-K, resnet-N, vgg-11|13|16|19, allcnn-c,
    /// allcnn-c-nobn, mlp-W-D or mobilenetv2 [default: wrn-10-1]. With --step, the networks
    /// to time, repeated or comma-separated [default: wrn-10-1,wrn-16-4,resnet-20].
    #[arg(long, value_delimiter = ',')]
    arch: Vec<String>,
    /// Train nothing: compare both sides' parameter counts of a fixed list of networks,
    /// write OUT/counts.md and fail when any differ.
    #[arg(long, conflicts_with = "step")]
    counts: bool,
    /// Train nothing: time one training step of each --arch with each --threads on
    /// random data, `actfn bench step` and experiments/parity/step.py alternating process
    /// by process, write OUT/step.md and append every process's time to OUT/step-runs.csv.
    #[arg(long)]
    step: bool,
    /// With --step: images per step.
    #[arg(long, default_value_t = 128, requires = "step")]
    batch: usize,
    /// With --step: timed steps in each process.
    #[arg(long, default_value_t = 20, requires = "step")]
    steps: usize,
    /// With --step: untimed steps first in each process.
    #[arg(long, default_value_t = 3, requires = "step")]
    warmup: usize,
    /// With --step: processes per side for each network and thread count.
    #[arg(long, default_value_t = 3, requires = "step")]
    rounds: usize,
    /// Data sets, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "cifar10,cifar100")]
    datasets: Vec<String>,
    /// Budgets as IMAGESxEPOCHS, comma-separated.
    #[arg(long, default_value = "5000x4,10000x8")]
    budgets: String,
    /// Seeds per budget and side (0, 1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Threads of each side. With --step, a list (repeated or comma-separated, e.g.
    /// `1,2`): every network is timed with each.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    threads: Vec<usize>,
    /// ZCA ε of both sides.
    #[arg(long, default_value_t = 1e-2)]
    zca_epsilon: f64,
    /// Convolution initialisation of both sides: uniform or he.
    #[arg(long, default_value = "uniform")]
    init: String,
    /// Test images (the first N of the official test set).
    #[arg(long, default_value_t = 10_000)]
    test_size: usize,
    /// Output folder [default: results/parity].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Options of the reproduce commands.
#[derive(Debug, clap::Args)]
struct ReproduceArgs {
    /// `smoke` (minutes, for CI), `cpu` (a real small run on a CPU) or `paper` (the
    /// paper's settings, for a CUDA machine) [default: paper with a GPU, cpu without].
    #[arg(long)]
    preset: Option<String>,
    /// Remove this preset's earlier searches and final runs and start over.
    #[arg(long)]
    fresh: bool,
    /// Functions given by hand, as NAME=EXPR (Table 2: best-s1, best-s2; Table 3:
    /// transferred, specialized).
    #[arg(long, num_args = 1..)]
    functions: Vec<String>,
    /// Where searches and final runs live [default: runs/].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where tables and figures are written [default: results/].
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Threads for libtorch in each training [default: with --executor local, the cores
    /// shared among the jobs; otherwise libtorch's choice]. Results are bit-for-bit the
    /// same for the same thread count, whichever executor ran them; another thread count
    /// changes the last bits of libtorch's sums, and so the trainings a little.
    #[arg(long)]
    threads: Option<usize>,
    /// Where searches and final runs train: inline (in turn), local (worker processes)
    /// or slurm (job arrays) [default: local, one single-threaded job per core, when no
    /// CUDA GPU is visible (faster than intra-op threads for these small networks, and
    /// the same results on any number of cores); inline with a GPU].
    #[arg(long, value_enum)]
    executor: Option<reproduce::ExecutorKind>,
    /// Trainings at once: local worker processes [default: one per core], or Slurm array
    /// tasks running at once.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Slurm options as RON (actfn-cluster's SlurmOptions), e.g.
    /// `(partition: Some("gpu"), gpus: Some("1"), time: Some("4:00:00"))`.
    #[arg(long, value_name = "FILE")]
    slurm_options: Option<PathBuf>,
}

impl ReproduceArgs {
    fn options(self) -> reproduce::Options {
        reproduce::Options {
            preset: self.preset,
            fresh: self.fresh,
            functions: self.functions,
            work_dir: self.work_dir,
            results_dir: self.results_dir,
            threads: self.threads,
            executor: self.executor,
            jobs: self.jobs,
            slurm_options: self.slurm_options,
        }
    }
}

/// The repository root (the parent of `xtask/`).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = project_root();
    match cli.command {
        Command::Setup => {
            let found = libtorch::setup(&root)?;
            println!("{found}");
            Ok(())
        }
        Command::Test { args } => {
            let found = libtorch::setup(&root)?;
            eprintln!("xtask: {found}");
            cargo_test(&root, &args)
        }
        Command::Fuzz { seconds, seed } => fuzz::run(&root, seconds, seed),
        Command::ReproduceTable1(args) => {
            libtorch::setup(&root)?;
            reproduce::table1(&root, &args.options())
        }
        Command::ReproduceTable2(args) => {
            libtorch::setup(&root)?;
            reproduce::table2(&root, &args.options())
        }
        Command::ReproduceTable3(args) => {
            libtorch::setup(&root)?;
            reproduce::table3(&root, &args.options())
        }
        Command::BenchExecutors(args) => {
            libtorch::setup(&root)?;
            bench_executors::run(
                &root,
                &bench_executors::Options {
                    activations: args.activations,
                    train_size: args.train_size,
                    epochs: args.epochs,
                    wrn_depth: args.wrn_depth,
                    wrn_width: args.wrn_width,
                    jobs: args.jobs.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, usize::from)
                    }),
                    out: args
                        .out
                        .unwrap_or_else(|| root.join("target").join("bench-executors")),
                },
            )
        }
        Command::Parity(args) => {
            libtorch::setup(&root)?;
            let out = args
                .out
                .unwrap_or_else(|| root.join("results").join("parity"));
            if args.counts {
                return parity::counts(&root, &out);
            }
            if args.step {
                let archs = if args.arch.is_empty() {
                    parity::STEP_ARCHS.map(String::from).to_vec()
                } else {
                    args.arch
                };
                return parity::step(
                    &root,
                    &parity::StepOptions {
                        archs,
                        threads: args.threads,
                        batch: args.batch,
                        steps: args.steps,
                        warmup: args.warmup,
                        rounds: args.rounds,
                        out,
                    },
                );
            }
            let arch = match args.arch.as_slice() {
                [] => "wrn-10-1".to_owned(),
                [arch] => arch.clone(),
                _ => bail!("--arch takes one network, except with --step"),
            };
            let &[threads] = args.threads.as_slice() else {
                bail!("--threads takes one count, except with --step");
            };
            let options = parity::Options {
                arch,
                datasets: args.datasets,
                budgets: parity::parse_budgets(&args.budgets)?,
                seeds: args.seeds,
                threads,
                zca_epsilon: args.zca_epsilon,
                init: args.init,
                test_size: args.test_size,
                out,
            };
            parity::run(&root, &options)
        }
        Command::Slurm { action } => match action {
            SlurmAction::Up {
                dir,
                max_array_size,
            } => slurm::up(&slurm::UpOptions {
                dir,
                max_array_size,
            }),
            SlurmAction::Down { dir } => slurm::down(&dir),
        },
    }
}

/// Runs `cargo test [--workspace] ARGS` in the repository root.
fn cargo_test(root: &Path, args: &[OsString]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(&cargo);
    cmd.current_dir(root).arg("test");
    if !selects_packages(args) {
        cmd.arg("--workspace");
    }
    cmd.args(args);
    // Property tests draw fresh cases on every run unless seeded. Seeding them from
    // the commit makes a run reproducible: CI on a commit draws exactly the cases a
    // developer's run of the same commit drew, and every new commit draws new ones.
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        if let Some(seed) = commit_seed(root) {
            eprintln!(
                "xtask: property tests seeded with PROPTEST_RNG_SEED={seed} (from the commit; set it to override)"
            );
            cmd.env("PROPTEST_RNG_SEED", seed.to_string());
        }
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// A seed from the first 16 hex digits of the checked-out commit; `None` outside git.
fn commit_seed(root: &Path) -> Option<u64> {
    let out = std::process::Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let hash = String::from_utf8(out.stdout).ok()?;
    u64::from_str_radix(hash.trim().get(..16)?, 16).ok()
}

/// Whether the cargo arguments (before any `--`) already choose what to test.
fn selects_packages(args: &[OsString]) -> bool {
    args.iter()
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .any(|a| {
            matches!(
                a,
                "-p" | "--package" | "--workspace" | "--all" | "--manifest-path"
            ) || a.starts_with("--package=")
                || a.starts_with("--manifest-path=")
                || (a.starts_with("-p") && !a.starts_with("--"))
        })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn package_selection_is_detected() {
        assert!(selects_packages(&args(&["-p", "actfn-wrn"])));
        assert!(selects_packages(&args(&["-pactfn-wrn"])));
        assert!(selects_packages(&args(&[
            "--package=actfn-wrn",
            "--release"
        ])));
        assert!(!selects_packages(&args(&["--release"])));
        assert!(!selects_packages(&args(&["--", "-p"])));
        assert!(!selects_packages(&[]));
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["xtask", "test", "-p", "x", "--", "--nocapture"]).unwrap();
        match cli.command {
            Command::Test { args: a } => assert_eq!(a, args(&["-p", "x", "--", "--nocapture"])),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn parity(list: &[&str]) -> Result<ParityArgs, clap::Error> {
        let cli = Cli::try_parse_from(["xtask", "parity"].iter().chain(list))?;
        match cli.command {
            Command::Parity(a) => Ok(a),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parity_step_takes_lists_of_networks_and_threads() {
        let a = parity(&[
            "--step",
            "--arch",
            "wrn-10-1,resnet-8",
            "--arch",
            "vgg-11",
            "--threads",
            "1,2",
            "--rounds",
            "1",
        ])
        .unwrap();
        assert!(a.step);
        assert_eq!(a.arch, ["wrn-10-1", "resnet-8", "vgg-11"]);
        assert_eq!(a.threads, [1, 2]);
        assert_eq!((a.batch, a.steps, a.warmup, a.rounds), (128, 20, 3, 1));
        let a = parity(&[]).unwrap();
        assert!(a.arch.is_empty() && !a.step);
        assert_eq!(a.threads, [2]);
        assert!(parity(&["--steps", "5"]).is_err());
        assert!(parity(&["--step", "--counts"]).is_err());
    }
}
