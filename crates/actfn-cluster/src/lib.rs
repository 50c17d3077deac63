//! Runs a list of opaque task commands to completion, either as worker processes on this
//! machine ([`LocalPool`]) or as Slurm job arrays ([`SlurmArray`]).
//!
//! A [`Task`] is an argv, an environment, a working directory, a log file and the path of
//! the result file it must publish. The runners know nothing of what a task computes: a
//! task is done when its result file exists, and a task publishes that file atomically
//! ([`publish_atomically`]), so a reader never sees half a result. Whoever owns the
//! records of the work (the search's `records.jsonl`) reads the result files after the run
//! and stays their only writer.
//!
//! The Slurm runner keeps an append-only intent journal ([`Journal`]) in a directory the
//! caller chooses: an intent before every `sbatch`, the job id after it, and every attempt
//! that ended without a result. A controller killed at any moment and started again on the
//! same directory re-attaches to the jobs still queued or running, collects the results
//! already published and never submits an index again while a job for it is alive.

mod error;
mod local;
mod outcome;
mod publish;
mod runner;
mod shell;
mod slurm;
mod task;

pub use error::ClusterError;
pub use local::{threads_per_job, LocalPool, LocalReport};
pub use outcome::{describe_exit, log_tail, Outcome};
pub use publish::{publish_atomically, read_result};
pub use runner::Runner;
pub use slurm::array::{SlurmArray, SlurmReport};
pub use slurm::journal::{Journal, JournalEvent, Submission};
pub use slurm::options::SlurmOptions;
pub use slurm::query::{max_array_size, JobState, TaskState};
pub use slurm::reachable::{slurm_reachable, slurm_up_or_skip};
pub use slurm::split::{array_spec, split_indices, Chunk};
pub use task::Task;

/// This crate's result type.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
