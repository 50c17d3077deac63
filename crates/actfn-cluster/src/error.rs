//! The one error type of actfn-cluster.

use std::path::PathBuf;

/// Everything that can stop a run before its tasks do. A task that fails is not an error
/// but an [`Outcome::Failed`](crate::Outcome::Failed).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A file or directory operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A program (sbatch, squeue, scontrol, ...) could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A Slurm command ran and failed.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A Slurm command printed something this crate cannot read.
    #[error("cannot read the output of {command}: {output:?}")]
    Parse { command: String, output: String },
    /// A task cannot be run as given.
    #[error("task {index}: {why}")]
    InvalidTask { index: usize, why: String },
    /// An option has a value that cannot be used.
    #[error("invalid {option} {value:?}: {why}")]
    InvalidOption {
        option: &'static str,
        value: String,
        why: String,
    },
    /// The intent journal has a line that is neither an event nor a cut-off last line.
    #[error("journal {} line {line}: {why}", path.display())]
    Journal {
        path: PathBuf,
        line: usize,
        why: String,
    },
    /// The journal was written for a different list of tasks.
    #[error("journal {} was written for {journal} tasks, not {given}", path.display())]
    TaskCountMismatch {
        path: PathBuf,
        journal: usize,
        given: usize,
    },
}

impl ClusterError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
