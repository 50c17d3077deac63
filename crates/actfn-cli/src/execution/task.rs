//! The tasks of `actfn search` as this binary stores them: actfn-evo's [`TaskConfig`] with
//! the CIFAR task's configuration ([`CifarTask`], made of actfn-wrn types), and
//! [`make_evaluator`], the one place that turns a stored task into its evaluator, on a
//! fresh start and on resume alike. A new task adds a `TaskConfig` variant in actfn-evo, a
//! match arm here, and its options in `commands::search`.

use std::path::{Path, PathBuf};

use actfn_evo::{Candidate, Evaluation, Evaluator, FitEvaluator, RecordId, StoredConfig};
use actfn_wrn::data::DataConfig;
use actfn_wrn::evaluator::WrnEvaluator;
use actfn_wrn::train::TrainConfig;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::execution::work_dir::{candidate_dir, RUN_DIR};

/// A task, as stored in `config.ron`.
pub type Task = actfn_evo::TaskConfig<CifarTask>;

/// The search directory's stored configuration.
pub type Stored = StoredConfig<Task>;

/// The CIFAR training task: data, split, preprocessing and training schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CifarTask {
    /// The data folder. Not part of the evaluator's hash (the data are identified by
    /// content); `--data-dir` overrides it on resume.
    pub data_dir: PathBuf,
    /// Data set, train/validation split (seed 0, the same for every search) and
    /// preprocessing.
    pub data: DataConfig,
    /// The training schedule; `threads` is not part of the hash and `--threads`
    /// overrides it on resume. Its `seed` holds the search's seed, though the evaluator
    /// trains each candidate with the candidate's own seed and the hash leaves it out:
    /// it stays so that `config.ron` keeps its text, and the directories written before
    /// keep comparing equal when a search is continued with `--out`.
    pub train: TrainConfig,
}

/// Sets what belongs to the machine rather than to the experiment (data folder,
/// threads) from the command line, where given.
pub fn set_local(task: &mut Task, data_dir: Option<&Path>, threads: Option<usize>) {
    if let Some(task) = task.cifar_mut() {
        if let Some(dir) = data_dir {
            task.data_dir = dir.to_path_buf();
        }
        if threads.is_some() {
            task.train.threads = threads;
        }
    }
}

/// `task` with the machine-local settings of `other`, where both are CIFAR tasks.
pub fn with_local_of(task: &Task, other: &Task) -> Task {
    let mut task = task.clone();
    if let (Some(t), Some(o)) = (task.cifar_mut(), other.cifar()) {
        t.data_dir.clone_from(&o.data_dir);
        t.train.threads = o.train.threads;
    }
    task
}

/// Builds the evaluator of a task: the one place that knows every task. `log` receives a
/// line about each finished candidate of a training task. A training task of a halving
/// search trains each candidate in its worker folder's `run/` under `search`, where one
/// rung continues the previous one (inline as in a worker).
pub fn make_evaluator(
    task: &Task,
    search: &Path,
    log: impl FnMut(&str) + 'static,
) -> anyhow::Result<Box<dyn Evaluator>> {
    match task {
        Task::Fit(config) => Ok(Box::new(FitEvaluator::new(config.clone())?)),
        Task::Cifar(task) => {
            let search = search.to_path_buf();
            Ok(Box::new(
                wrn_evaluator(task)?
                    .with_log(log)
                    .with_run_folders(move |id: RecordId| {
                        candidate_dir(&search, id.generation, id.index).join(RUN_DIR)
                    }),
            ))
        }
    }
}

/// Evaluates one candidate, record `id` of the search, as a worker process does: with the
/// evaluator `search` builds (refused unless its configuration hash is `expected_hash`),
/// and, for a training task, the run's files and epoch checkpoints in `run_dir`, so that a
/// worker started again on the same folder resumes from its last epoch. `until`: a rung of
/// halving (stop after that epoch of the full schedule), which a task without epochs
/// refuses.
pub fn evaluate_in_folder(
    task: &Task,
    expected_hash: &str,
    id: RecordId,
    candidate: &Candidate,
    run_dir: &Path,
    until: Option<u32>,
) -> anyhow::Result<Evaluation> {
    let check = |hash: String| {
        if hash != expected_hash {
            bail!(
                "this worker's evaluator has configuration hash {hash}, the search's is \
                 {expected_hash}: the data or the program differ from the controller's"
            );
        }
        Ok(())
    };
    match task {
        Task::Fit(_) if until.is_some() => {
            bail!("task fit has no epochs: it cannot stop at a rung of halving")
        }
        Task::Fit(config) => {
            let mut evaluator = FitEvaluator::new(config.clone())?;
            check(evaluator.config_hash())?;
            let job = actfn_evo::Job {
                id,
                candidate: candidate.clone(),
                until_epoch: until,
            };
            let mut result = None;
            evaluator.evaluate(std::slice::from_ref(&job), &mut |_, e| {
                result = Some(e);
                Ok(())
            })?;
            result.context("the fit evaluator reported nothing")
        }
        Task::Cifar(task) => {
            let evaluator = wrn_evaluator(task)?;
            check(evaluator.config_hash())?;
            std::fs::create_dir_all(run_dir)
                .with_context(|| format!("cannot create {}", run_dir.display()))?;
            Ok(evaluator.evaluate_in(candidate, run_dir, until)?)
        }
    }
}

/// The evaluator of a training task, its data prepared (one line about them on stderr).
pub fn wrn_evaluator(task: &CifarTask) -> anyhow::Result<WrnEvaluator> {
    let kind = &task.data.dataset;
    let dir = &task.data_dir;
    kind.check_present(dir)?;
    let evaluator = WrnEvaluator::new(dir, task.data.clone(), task.train.clone())
        .with_context(|| format!("cannot prepare {kind} from {}", dir.display()))?;
    let d = evaluator.data();
    eprintln!(
        "{kind}: {} training and {} validation images, prepared in {:.1} s",
        d.train_images.size()[0],
        d.val_images.size()[0],
        evaluator.prepare_seconds()
    );
    Ok(evaluator)
}
