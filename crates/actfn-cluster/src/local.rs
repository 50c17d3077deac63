//! The local pool: tasks as child processes of this one, at most N at a time.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::outcome::{describe_exit, log_tail};
use crate::publish::is_published;
use crate::{ClusterError, Outcome, Result, Task};

/// Lines of a task's log quoted in a failure reason.
const TAIL_LINES: usize = 20;

/// Runs tasks as child processes, at most `jobs` at once, each retried up to `retries`
/// times. Worker slot `s` (0-based) adds `slot_env[s % len]` to its tasks' environment,
/// e.g. `CUDA_VISIBLE_DEVICES=s` for one GPU per worker.
#[derive(Debug, Clone)]
pub struct LocalPool {
    jobs: usize,
    retries: u32,
    slot_env: Vec<Vec<(OsString, OsString)>>,
}

/// What [`LocalPool::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReport {
    /// One outcome per task, in the order of the tasks.
    pub outcomes: Vec<Outcome>,
    /// Processes started, retries included.
    pub starts: usize,
}

/// Threads each of `jobs` concurrent CPU workers gets when they split `cores` (at least 1).
pub fn threads_per_job(cores: usize, jobs: usize) -> usize {
    (cores / jobs.max(1)).max(1)
}

impl LocalPool {
    /// A pool of `jobs` worker slots with no retries.
    pub fn new(jobs: usize) -> Result<Self> {
        if jobs == 0 {
            return Err(ClusterError::InvalidOption {
                option: "jobs",
                value: "0".into(),
                why: "at least one worker is needed".into(),
            });
        }
        Ok(Self {
            jobs,
            retries: 0,
            slot_env: Vec::new(),
        })
    }

    /// One worker per GPU: slot `s` sees only `gpus[s]` through `CUDA_VISIBLE_DEVICES`.
    pub fn one_per_gpu<S: AsRef<str>>(gpus: &[S]) -> Result<Self> {
        let slot_env = gpus
            .iter()
            .map(|g| vec![("CUDA_VISIBLE_DEVICES".into(), g.as_ref().into())])
            .collect();
        Ok(Self::new(gpus.len())?.slot_env(slot_env))
    }

    /// Attempts after the first one for a task that ends without publishing its result.
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Per-slot environments: slot `s` uses `slot_env[s % slot_env.len()]`.
    #[must_use]
    pub fn slot_env(mut self, slot_env: Vec<Vec<(OsString, OsString)>>) -> Self {
        self.slot_env = slot_env;
        self
    }

    /// Runs every task whose result is not yet published, and returns once each has
    /// published it or failed its last attempt. Per-task trouble (a program that does not
    /// start, a log that cannot be opened) is a failed attempt, not an error.
    pub fn run(&self, tasks: &[Task]) -> Result<LocalReport> {
        self.run_observed(tasks, &mut |_, _| {})
    }

    /// [`run`](Self::run), calling `on_settled(index, outcome)` on this thread as each
    /// task settles, so the caller can record results while others still run.
    pub fn run_observed(
        &self,
        tasks: &[Task],
        on_settled: &mut dyn FnMut(usize, &Outcome),
    ) -> Result<LocalReport> {
        for (i, task) in tasks.iter().enumerate() {
            task.check(i)?;
        }
        let queue = Mutex::new((0..tasks.len()).collect::<VecDeque<usize>>());
        let starts = AtomicUsize::new(0);
        let mut outcomes = vec![None; tasks.len()];
        let (sender, receiver) = mpsc::channel::<(usize, Outcome)>();
        std::thread::scope(|scope| {
            for slot in 0..self.jobs.min(tasks.len()) {
                let (queue, starts, sender) = (&queue, &starts, sender.clone());
                scope.spawn(move || loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(index) = next else { break };
                    let outcome = self.run_task(slot, &tasks[index], starts);
                    if sender.send((index, outcome)).is_err() {
                        break;
                    }
                });
            }
            drop(sender);
            for (index, outcome) in receiver {
                on_settled(index, &outcome);
                outcomes[index] = Some(outcome);
            }
        });
        let outcomes = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Failed {
                    attempts: 0,
                    reason: "its worker stopped before running it".into(),
                })
            })
            .collect();
        Ok(LocalReport {
            outcomes,
            starts: starts.into_inner(),
        })
    }

    fn run_task(&self, slot: usize, task: &Task, starts: &AtomicUsize) -> Outcome {
        if is_published(&task.result) {
            return Outcome::Published { attempts: 0 };
        }
        let allowed = self.retries.saturating_add(1);
        let mut reason = String::new();
        for attempt in 1..=allowed {
            starts.fetch_add(1, Ordering::Relaxed);
            match self.attempt(slot, task, attempt, allowed) {
                Ok(()) => return Outcome::Published { attempts: attempt },
                Err(why) => reason = why,
            }
        }
        Outcome::Failed {
            attempts: allowed,
            reason: format!("{reason}; {}", log_tail(&task.log, TAIL_LINES)),
        }
    }

    /// One attempt; `Err` holds why it did not publish the result.
    fn attempt(&self, slot: usize, task: &Task, attempt: u32, allowed: u32) -> Result<(), String> {
        if let Some(parent) = task.log.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the log folder {}: {e}", parent.display()))?;
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&task.log)
            .map_err(|e| format!("cannot open the log {}: {e}", task.log.display()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = writeln!(
            log,
            "actfn-cluster: attempt {attempt} of {allowed} in local slot {slot} at unix time {now}"
        );
        let stderr = log
            .try_clone()
            .map_err(|e| format!("cannot open the log {}: {e}", task.log.display()))?;
        let mut cmd = Command::new(&task.argv[0]);
        cmd.args(&task.argv[1..])
            .current_dir(&task.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        if !self.slot_env.is_empty() {
            cmd.envs(
                self.slot_env[slot % self.slot_env.len()]
                    .iter()
                    .map(|(k, v)| (k, v)),
            );
        }
        cmd.envs(task.env.iter().map(|(k, v)| (k, v)));
        let status = cmd
            .status()
            .map_err(|e| format!("cannot start {}: {e}", Path::new(&task.argv[0]).display()))?;
        match (status.success(), is_published(&task.result)) {
            (_, true) => Ok(()),
            (true, false) => Err(format!(
                "exited successfully without publishing {}",
                task.result.display()
            )),
            (false, false) => Err(describe_exit(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cores_and_gpus() {
        assert_eq!(threads_per_job(16, 4), 4);
        assert_eq!(threads_per_job(2, 4), 1);
        assert_eq!(threads_per_job(7, 0), 7);
        let pool = LocalPool::one_per_gpu(&["0", "1"]).unwrap();
        assert_eq!(pool.jobs, 2);
        assert_eq!(pool.slot_env[1][0].1, OsString::from("1"));
        assert!(LocalPool::one_per_gpu::<&str>(&[]).is_err());
    }
}
