//! The files a search shares with its worker processes, under `DIR/work/`:
//!
//! ```text
//! work/g{G}/tasks.json          record indices of the generation's tasks, in task order
//! work/g{G}/c{I}/task.json      the candidate of record (G, I): canonical text and seed
//! work/g{G}/c{I}/result.json    its evaluation, published atomically by the worker
//! work/g{G}/c{I}/log.txt        the worker's output, one header line per attempt
//! work/g{G}/c{I}/run/           the training run's files and epoch checkpoint
//! work/g{G}/slurm/              the Slurm runner's journal, batch scripts and logs
//! work/g{G}/rungs.json          halving: the search's results of the rungs below the last
//! work/g{G}/tasks-e{E}.json     halving: the task list of the rung of E epochs
//! work/g{G}/c{I}/result-e{E}.json  halving: its evaluation after epoch E (a rung)
//! work/g{G}/slurm-e{E}/         halving: the Slurm runner of the rung of E epochs
//! ```
//!
//! With halving, each rung is one batch of tasks with its own list, result files and
//! Slurm runner; a candidate's rungs share its `run/` folder, so each continues from the
//! epoch checkpoint the previous one left.
//!
//! The controller writes `tasks.json` and the task files, workers write only their own
//! result (and run folder), and the controller alone turns results into records.

use std::path::{Path, PathBuf};

use actfn_cluster::{publish_atomically, read_result};
use actfn_evo::{Candidate, Evaluation, Status};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The folder of generation `generation`'s tasks.
pub fn generation_dir(search: &Path, generation: usize) -> PathBuf {
    search.join("work").join(format!("g{generation}"))
}

/// The folder of record (`generation`, `index`)'s task.
pub fn candidate_dir(search: &Path, generation: usize, index: usize) -> PathBuf {
    generation_dir(search, generation).join(format!("c{index}"))
}

/// File names inside a candidate's folder.
pub const TASK_FILE: &str = "task.json";
pub const RESULT_FILE: &str = "result.json";
pub const LOG_FILE: &str = "log.txt";
pub const RUN_DIR: &str = "run";
/// File name of the task list inside a generation's folder.
pub const TASKS_FILE: &str = "tasks.json";

/// The result file of a candidate's task: `result.json`, or for a rung of halving,
/// `result-e{E}.json`.
pub fn result_file(until: Option<u32>) -> String {
    until.map_or_else(|| RESULT_FILE.to_string(), |e| format!("result-e{e}.json"))
}

/// The generation's task list file: `tasks.json`, or for a rung, `tasks-e{E}.json`.
pub fn tasks_file(until: Option<u32>) -> String {
    until.map_or_else(|| TASKS_FILE.to_string(), |e| format!("tasks-e{e}.json"))
}

/// The generation's Slurm runner folder name: `slurm`, or for a rung, `slurm-e{E}`.
pub fn slurm_dir(until: Option<u32>) -> String {
    until.map_or_else(|| "slurm".to_string(), |e| format!("slurm-e{e}"))
}

/// What a worker trains: the candidate as the controller planned it, so that a worker
/// never re-derives candidates from the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFile {
    /// The candidate in canonical text.
    pub expr: String,
    /// Its training seed.
    pub seed: u64,
}

impl TaskFile {
    pub fn of(candidate: &Candidate) -> Self {
        Self {
            expr: candidate.expr.to_string(),
            seed: candidate.seed,
        }
    }

    pub fn candidate(&self) -> anyhow::Result<Candidate> {
        Ok(Candidate {
            expr: self
                .expr
                .parse()
                .with_context(|| format!("task expression `{}`", self.expr))?,
            seed: self.seed,
        })
    }
}

/// A worker's published evaluation. The metrics travel as bit patterns: JSON has no NaN,
/// and the records must hold exactly the values training produced, whatever a decimal
/// round trip would do to their last bit. The decimal values are there for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    pub expr: String,
    pub seed: u64,
    pub val_acc: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_acc_bits: u64,
    pub val_loss_bits: u64,
    pub status: Status,
    pub epochs: u32,
    pub seconds: f64,
    pub worker: Option<String>,
}

impl ResultFile {
    pub fn new(task: &TaskFile, e: &Evaluation) -> Self {
        let finite = |v: f64| v.is_finite().then_some(v);
        Self {
            expr: task.expr.clone(),
            seed: task.seed,
            val_acc: finite(e.val_acc),
            val_loss: finite(e.val_loss),
            val_acc_bits: e.val_acc.to_bits(),
            val_loss_bits: e.val_loss.to_bits(),
            status: e.status.clone(),
            epochs: e.epochs,
            seconds: e.seconds,
            worker: e.worker.clone(),
        }
    }

    pub fn evaluation(&self) -> Evaluation {
        Evaluation {
            val_acc: f64::from_bits(self.val_acc_bits),
            val_loss: f64::from_bits(self.val_loss_bits),
            status: self.status.clone(),
            epochs: self.epochs,
            seconds: self.seconds,
            worker: self.worker.clone(),
        }
    }
}

/// Writes `value` as JSON to `path` atomically, creating its folder.
pub fn publish_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut text = serde_json::to_vec_pretty(value).context("cannot serialise")?;
    text.push(b'\n');
    publish_atomically(path, &text)?;
    Ok(())
}

/// The JSON file at `path`, or `None` when there is none.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Option<T>> {
    match read_result(path)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not what it should be", path.display())),
    }
}

/// The evaluation published for `task` at `path`; an error when the file is missing or
/// belongs to another candidate.
pub fn read_evaluation(path: &Path, task: &TaskFile) -> anyhow::Result<Evaluation> {
    let Some(result) = read_json::<ResultFile>(path)? else {
        bail!("{} is missing", path.display());
    };
    if result.expr != task.expr || result.seed != task.seed {
        bail!(
            "{} holds `{}` with seed {}, not the task's `{}` with seed {}",
            path.display(),
            result.expr,
            result.seed,
            task.expr,
            task.seed
        );
    }
    Ok(result.evaluation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_every_bit_and_nan() {
        let task = TaskFile {
            expr: "relu(x)".into(),
            seed: 3,
        };
        let e = Evaluation {
            val_acc: 0.1 + 0.2,
            val_loss: f64::NAN,
            status: Status::Diverged {
                reason: "nan".into(),
            },
            epochs: 2,
            seconds: 1.5,
            worker: Some("local 1".into()),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULT_FILE);
        publish_json(&path, &ResultFile::new(&task, &e)).unwrap();
        let back = read_evaluation(&path, &task).unwrap();
        assert_eq!(back.val_acc.to_bits(), e.val_acc.to_bits());
        assert!(back.val_loss.is_nan());
        assert_eq!(back.status, e.status);
        let other = TaskFile {
            seed: 4,
            ..task.clone()
        };
        let err = read_evaluation(&path, &other).unwrap_err().to_string();
        assert!(err.contains("seed 3"), "{err}");
    }
}
