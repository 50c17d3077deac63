//! Where the final runs of a table train: `inline` runs them one after another in
//! `Runner::finals`; `local` and `slurm` run the missing ones of a whole table at once
//! through actfn-cluster, each as `actfn train ... --json-out FILE` publishing that file,
//! before the table reads them. Each run has its own keyed folder and seed, so the
//! results are the same whichever executor trained them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use actfn_cluster::{threads_per_job, LocalPool, Outcome, Runner, SlurmArray, SlurmOptions, Task};
use actfn_expr::stable_hash;
use anyhow::{bail, Context};

use super::Options;

/// Where final runs train, as `--executor` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Inline,
    Local,
    Slurm,
}

impl ExecutorKind {
    /// The name `--executor` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExecutorKind::Inline => "inline",
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
        }
    }
}

/// How the final runs are trained.
#[derive(Debug, Clone)]
pub(crate) enum Executor {
    Inline,
    Local(usize),
    /// Job arrays with `options`: read from `file` (`--slurm-options`) where one was
    /// named, `jobs` (`--jobs`) their throttle where given. `file` and `jobs` are kept as
    /// given, for the searches' command lines.
    Slurm {
        options: Box<SlurmOptions>,
        file: Option<PathBuf>,
        jobs: Option<usize>,
    },
}

impl Executor {
    pub(super) fn from_options(options: &Options) -> anyhow::Result<Executor> {
        let kind = match options.executor {
            Some(kind) => kind,
            None if cuda_gpu_visible() => ExecutorKind::Inline,
            None => ExecutorKind::Local,
        };
        match kind {
            ExecutorKind::Inline => {
                if options.jobs.is_some() || options.slurm_options.is_some() {
                    bail!("--jobs and --slurm-options are for --executor local or slurm");
                }
                Ok(Executor::Inline)
            }
            ExecutorKind::Local => {
                if options.slurm_options.is_some() {
                    bail!("--slurm-options is for --executor slurm");
                }
                Ok(Executor::Local(options.jobs.unwrap_or_else(cores).max(1)))
            }
            ExecutorKind::Slurm => {
                let mut o = match &options.slurm_options {
                    Some(path) => SlurmOptions::from_ron_file(path)?,
                    None => SlurmOptions::default(),
                };
                if options.jobs.is_some() {
                    o.throttle = options.jobs;
                }
                o.check()?;
                Ok(Executor::Slurm {
                    options: Box::new(o),
                    file: options.slurm_options.clone(),
                    jobs: options.jobs,
                })
            }
        }
    }

    /// Which executor this is, as `--executor` names it.
    pub(crate) fn kind(&self) -> ExecutorKind {
        match self {
            Executor::Inline => ExecutorKind::Inline,
            Executor::Local(_) => ExecutorKind::Local,
            Executor::Slurm { .. } => ExecutorKind::Slurm,
        }
    }

    /// Threads of each `actfn` process when none are given: a local job's share of the
    /// cores; elsewhere libtorch's choice.
    pub(super) fn default_threads(&self) -> Option<usize> {
        match self {
            Executor::Local(jobs) => Some(threads_per_job(cores(), *jobs)),
            _ => None,
        }
    }
}

/// This machine's cores, as the operating system lets this process use them.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Whether `nvidia-smi` lists a CUDA GPU.
pub(super) fn cuda_gpu_visible() -> bool {
    Command::new("nvidia-smi")
        .arg("-L")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One final run: its `actfn train` arguments and the file it publishes.
#[derive(Debug, Clone)]
pub(super) struct FinalRun {
    pub(super) args: Vec<String>,
    pub(super) dir: PathBuf,
    pub(super) json_out: PathBuf,
}

/// Trains `runs` with `actfn` (whose working directory is `root`) through `executor`;
/// the Slurm runner's journal lives under `slurm_root`, in a folder named by the list of
/// runs, so that a restarted reproduction hands the same list to the same journal and
/// re-attaches to its jobs. A run that fails every attempt is an error, as inline.
pub(super) fn train_all(
    executor: &Executor,
    actfn: &Path,
    root: &Path,
    slurm_root: &Path,
    runs: &[FinalRun],
) -> anyhow::Result<()> {
    if runs.is_empty() || matches!(executor, Executor::Inline) {
        return Ok(());
    }
    let tasks: Vec<Task> = runs
        .iter()
        .map(|run| {
            let mut argv: Vec<OsString> = vec![actfn.into()];
            argv.extend(run.args.iter().map(OsString::from));
            Task::new(argv, root, run.dir.join("train.log"), &run.json_out)
        })
        .collect();
    for run in runs {
        std::fs::create_dir_all(&run.dir)
            .with_context(|| format!("cannot create {}", run.dir.display()))?;
    }
    let mut report = |i: usize, outcome: &Outcome| {
        if outcome.is_published() {
            eprintln!("xtask: final run {} done", runs[i].dir.display());
        }
    };
    let outcomes = match executor {
        Executor::Inline => return Ok(()),
        Executor::Local(jobs) => LocalPool::new(*jobs)?.run_tasks(&tasks, &mut report)?,
        Executor::Slurm { options, .. } => {
            let names: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
            let key = format!("{:016x}", stable_hash(names.join("\n").as_bytes()));
            SlurmArray::new(slurm_root.join(key), (**options).clone())?
                .run_tasks(&tasks, &mut report)?
        }
    };
    for (run, outcome) in runs.iter().zip(outcomes) {
        if let Outcome::Failed { attempts, reason } = outcome {
            bail!(
                "the final run in {} failed after {attempts} attempts: {reason}",
                run.dir.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(executor: Option<ExecutorKind>, jobs: Option<usize>) -> Options {
        Options {
            preset: None,
            fresh: false,
            functions: Vec::new(),
            work_dir: None,
            results_dir: None,
            threads: None,
            executor,
            jobs,
            slurm_options: None,
        }
    }

    #[test]
    fn the_default_is_one_single_threaded_local_job_per_core_without_a_gpu() {
        let executor = Executor::from_options(&options(None, None)).unwrap();
        if cuda_gpu_visible() {
            assert!(matches!(executor, Executor::Inline));
            return;
        }
        let Executor::Local(jobs) = executor else {
            panic!("expected a local executor, got {executor:?}");
        };
        assert_eq!(jobs, cores());
        assert_eq!(executor.default_threads(), Some(1));
        assert_eq!(
            crate::actfn_args::executor_options(&executor),
            ["--executor", "local", "--jobs", &cores().to_string()]
        );
    }

    #[test]
    fn jobs_without_an_executor_means_local_and_shares_the_cores() {
        if cuda_gpu_visible() {
            return;
        }
        let executor = Executor::from_options(&options(None, Some(1))).unwrap();
        assert!(matches!(executor, Executor::Local(1)));
        assert_eq!(executor.default_threads(), Some(cores()));
    }

    #[test]
    fn inline_takes_no_jobs() {
        let err =
            Executor::from_options(&options(Some(ExecutorKind::Inline), Some(2))).unwrap_err();
        assert!(err.to_string().contains("--jobs"), "{err}");
        assert!(matches!(
            Executor::from_options(&options(Some(ExecutorKind::Inline), None)).unwrap(),
            Executor::Inline
        ));
    }

    #[test]
    fn slurm_hands_its_jobs_and_options_file_to_the_searches() {
        let file = std::env::temp_dir().join(format!("xtask-slurm-{}.ron", std::process::id()));
        std::fs::write(&file, "()").unwrap();
        let mut with_file = options(Some(ExecutorKind::Slurm), Some(2));
        with_file.slurm_options = Some(file.clone());
        let executor = Executor::from_options(&with_file).unwrap();
        std::fs::remove_file(&file).unwrap();
        let Executor::Slurm { options: o, .. } = &executor else {
            panic!("expected a Slurm executor, got {executor:?}");
        };
        assert_eq!(o.throttle, Some(2));
        assert_eq!(
            crate::actfn_args::executor_options(&executor),
            [
                "--executor".to_owned(),
                "slurm".into(),
                "--jobs".into(),
                "2".into(),
                "--slurm-options".into(),
                file.display().to_string()
            ]
        );
        let bare = Executor::from_options(&options(Some(ExecutorKind::Slurm), None)).unwrap();
        assert_eq!(
            crate::actfn_args::executor_options(&bare),
            ["--executor", "slurm"]
        );
    }
}
