//! The Slurm runner: submits tasks as job arrays, watches them, resubmits the ones that
//! ended without a result, and re-attaches to its own jobs after a restart.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::outcome::log_tail;
use crate::publish::{is_published, publish_atomically};
use crate::slurm::journal::{Journal, JournalEvent, Submission};
use crate::slurm::options::SlurmOptions;
use crate::slurm::query::{self, TaskState};
use crate::slurm::script::{render, slurm_log};
use crate::slurm::split::{split_indices, Chunk};
use crate::{ClusterError, Outcome, Result, Task};

/// Reasons a pending task waits on a person or a configuration change, not on resources;
/// the runner keeps waiting (the cause may be fixed) but says so once.
const STUCK_REASONS: &[&str] = &[
    "JobHeldAdmin",
    "JobHeldUser",
    "launch_failed_requeued_held",
    "BadConstraints",
    "PartitionConfig",
    "PartitionDown",
    "PartitionInactive",
    "InvalidAccount",
    "InvalidQOS",
    "DependencyNeverSatisfied",
];
/// Slurm's default MaxArraySize, assumed by [`SlurmArray::dry_run`] (which asks Slurm
/// nothing) unless the options give a smaller bound.
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;
/// Log lines quoted in a failure reason, from each of Slurm's and the task's log.
const TAIL_LINES: usize = 10;
/// Failed looks at the queue in a row before the run gives up (slurmctld restarting or
/// overloaded answers with errors for a while).
const QUERY_TRIES: u32 = 5;

/// Runs tasks as Slurm job arrays from a directory of its own: `journal.jsonl`, the batch
/// scripts (`scripts/batch-N.sh`) and Slurm's output of every array task
/// (`slurm/JOB_INDEX.out`).
#[derive(Debug, Clone)]
pub struct SlurmArray {
    dir: PathBuf,
    options: SlurmOptions,
}

/// What [`SlurmArray::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmReport {
    /// One outcome per task, in the order of the tasks.
    pub outcomes: Vec<Outcome>,
    /// sbatch calls made by this call of `run` (not by earlier controllers).
    pub sbatch_calls: usize,
    /// Every batch in the journal, earlier controllers' included.
    pub submissions: Vec<Submission>,
}

impl SlurmArray {
    /// A runner keeping its journal, scripts and Slurm logs under `dir`.
    pub fn new(dir: impl Into<PathBuf>, options: SlurmOptions) -> Result<Self> {
        options.check()?;
        Ok(Self {
            dir: dir.into(),
            options,
        })
    }

    /// Folder of Slurm's own per-task output (`JOB_ARRAYINDEX.out`).
    pub fn slurm_log_dir(&self) -> PathBuf {
        self.dir.join("slurm")
    }

    /// The batch scripts a run of all `tasks` would submit first, one per array, without
    /// asking Slurm or writing anything. Arrays are cut at the options' `max_array_size`,
    /// or at [`DEFAULT_MAX_ARRAY_SIZE`]; the job names carry `dryrun` where a run puts the
    /// journal's id. With a throttle, every array after the first is submitted with
    /// `--dependency=afterany:<previous array>`, so the throttle holds across them (a
    /// resubmission likewise waits for the run's arrays still running).
    pub fn dry_run(&self, tasks: &[Task]) -> Result<Vec<String>> {
        check_tasks(tasks)?;
        let max = self
            .options
            .max_array_size
            .unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
        let all: Vec<usize> = (0..tasks.len()).collect();
        split_indices(&all, max)
            .iter()
            .enumerate()
            .map(|(b, chunk)| {
                let name = format!("{}-dryrun-{b}", self.options.job_name);
                render(&self.options, &name, chunk, tasks, &self.slurm_log_dir())
            })
            .collect()
    }

    /// Runs every task to a published result or to its last failed attempt, and returns
    /// when all are settled. Started again on the same directory after a crash or kill, it
    /// re-attaches to the jobs the journal names (or, for an intent without a job id, finds
    /// the job by its name), so no task is submitted while a job for it is queued or
    /// running or its result is published.
    pub fn run(&self, tasks: &[Task]) -> Result<SlurmReport> {
        self.run_observed(tasks, &mut |_, _| {})
    }

    /// [`run`](Self::run), calling `on_settled(index, outcome)` as each task settles, so
    /// the caller can record results while others still run.
    pub fn run_observed(
        &self,
        tasks: &[Task],
        on_settled: &mut dyn FnMut(usize, &Outcome),
    ) -> Result<SlurmReport> {
        check_tasks(tasks)?;
        let log_dir = self.slurm_log_dir();
        for folder in [self.dir.clone(), log_dir.clone(), self.dir.join("scripts")] {
            std::fs::create_dir_all(&folder).map_err(|e| ClusterError::io("create", &folder, e))?;
        }
        for task in tasks {
            for file in [&task.log, &task.result] {
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| ClusterError::io("create", parent, e))?;
                }
            }
        }
        let mut journal = Journal::open(&self.dir, tasks.len())?;
        self.resolve_intents(&mut journal)?;
        let max = match self.options.max_array_size {
            Some(m) => m.min(query::max_array_size()?),
            None => query::max_array_size()?,
        };
        let allowed = self.options.retries.saturating_add(1);
        let mut settled: Vec<Option<Outcome>> = vec![None; tasks.len()];
        let mut sbatch_calls = 0;
        let mut warned = HashSet::new();
        loop {
            let mut to_submit = Vec::new();
            let mut live: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
            for (i, task) in tasks.iter().enumerate() {
                if settled[i].is_some() {
                    continue;
                }
                if is_published(&task.result) {
                    let outcome = Outcome::Published {
                        attempts: journal.attempts(i),
                    };
                    settle(&mut settled, on_settled, i, outcome);
                } else if let Some(batch) = journal.live_batch(i) {
                    let job = batch.job.clone().unwrap_or_default();
                    live.entry(job).or_default().push((i, i - batch.offset));
                } else if journal.attempts(i) < allowed {
                    to_submit.push(i);
                } else {
                    settle(&mut settled, on_settled, i, self.failed(&journal, i));
                }
            }
            let mut busy_jobs = Vec::new();
            for (job, members) in &live {
                let states = query_with_retries(job, self.options.poll_interval())?;
                if states
                    .as_ref()
                    .is_some_and(|s| s.values().any(|t| t.job_state().is_active()))
                {
                    busy_jobs.push(job.clone());
                }
                for &(i, array_index) in members {
                    let state = states.as_ref().and_then(|s| s.get(&array_index));
                    if let Some(s) = state.filter(|s| s.job_state().is_active()) {
                        if STUCK_REASONS.contains(&s.reason.as_str())
                            && warned.insert((job.clone(), array_index, s.reason.clone()))
                        {
                            eprintln!(
                                "actfn-cluster: task {i} (job {job}_{array_index}) is {} with reason \
                                 {}; it will not start until that changes",
                                s.state, s.reason
                            );
                        }
                        continue;
                    }
                    // Read after the state: a task that ended had published by then or
                    // never will.
                    if is_published(&tasks[i].result) {
                        let outcome = Outcome::Published {
                            attempts: journal.attempts(i),
                        };
                        settle(&mut settled, on_settled, i, outcome);
                        continue;
                    }
                    let reason = self.end_reason(job, array_index, state, &tasks[i]);
                    journal.record(JournalEvent::Ended {
                        index: i,
                        job: job.clone(),
                        reason,
                    })?;
                    if journal.attempts(i) < allowed {
                        to_submit.push(i);
                    } else {
                        settle(&mut settled, on_settled, i, self.failed(&journal, i));
                    }
                }
            }
            if settled.iter().all(Option::is_some) {
                break;
            }
            if !to_submit.is_empty() {
                sbatch_calls += self.submit(&mut journal, tasks, &to_submit, max, busy_jobs)?;
            }
            std::thread::sleep(self.options.poll_interval());
        }
        Ok(SlurmReport {
            outcomes: settled.into_iter().flatten().collect(),
            sbatch_calls,
            submissions: journal.submissions().to_vec(),
        })
    }

    /// For every intent without a job id (a controller killed around sbatch), finds the
    /// job by its name, or records that it was never submitted.
    fn resolve_intents(&self, journal: &mut Journal) -> Result<()> {
        for batch in journal.unresolved() {
            let jobs = query::jobs_named(&batch.name)?;
            let event = match jobs.first() {
                Some(job) => JournalEvent::Submitted {
                    batch: batch.batch,
                    job: job.clone(),
                    recovered: true,
                },
                None => JournalEvent::Abandoned {
                    batch: batch.batch,
                    why: format!("no job named {} after a restart", batch.name),
                },
            };
            journal.record(event)?;
        }
        Ok(())
    }

    /// Submits `indices`, one array per chunk below `max`; returns the sbatch calls made.
    /// With a throttle, each array waits (`--dependency=afterany`) for the one before it
    /// and the first for the run's arrays still `busy`, so that no more than the throttle
    /// of tasks run at once: a throttle holds within one array only.
    fn submit(
        &self,
        journal: &mut Journal,
        tasks: &[Task],
        indices: &[usize],
        max: usize,
        busy: Vec<String>,
    ) -> Result<usize> {
        let mut after = busy;
        let mut calls = 0;
        for chunk in split_indices(indices, max) {
            let Chunk { offset, indices } = &chunk;
            let batch = journal.next_batch();
            let name = format!("{}-{}-{batch}", self.options.job_name, journal.id());
            let script = render(&self.options, &name, &chunk, tasks, &self.slurm_log_dir())?;
            let path = self.dir.join("scripts").join(format!("batch-{batch}.sh"));
            publish_atomically(&path, script.as_bytes())?;
            journal.record(JournalEvent::Intent {
                batch,
                name,
                offset: *offset,
                indices: indices.clone(),
            })?;
            let args: Vec<String> = if self.options.throttle.is_some() && !after.is_empty() {
                vec![format!("--dependency=afterany:{}", after.join(":"))]
            } else {
                Vec::new()
            };
            calls += 1;
            match query::submit(&path, &args) {
                Ok(job) => {
                    journal.record(JournalEvent::Submitted {
                        batch,
                        job: job.clone(),
                        recovered: false,
                    })?;
                    after = vec![job];
                }
                Err(e) => {
                    journal.record(JournalEvent::Abandoned {
                        batch,
                        why: e.to_string(),
                    })?;
                    return Err(e);
                }
            }
        }
        Ok(calls)
    }

    /// Why an attempt ended: Slurm's state, then the tails of Slurm's and the task's logs.
    fn end_reason(
        &self,
        job: &str,
        array_index: usize,
        state: Option<&TaskState>,
        task: &Task,
    ) -> String {
        let what = match state {
            Some(s) if s.job_state() == query::JobState::Completed => {
                format!(
                    "{}, but {} was not published",
                    s.describe(),
                    task.result.display()
                )
            }
            Some(s) => s.describe(),
            None => {
                "no longer known to Slurm (cancelled while pending, or ended and purged)".into()
            }
        };
        format!(
            "job {job}_{array_index}: {what}; {}; {}",
            log_tail(
                &slurm_log(&self.slurm_log_dir(), job, array_index),
                TAIL_LINES
            ),
            log_tail(&task.log, TAIL_LINES)
        )
    }

    fn failed(&self, journal: &Journal, index: usize) -> Outcome {
        Outcome::Failed {
            attempts: journal.attempts(index),
            reason: journal
                .last_reason(index)
                .unwrap_or("no attempt was made")
                .to_string(),
        }
    }
}

fn settle(
    settled: &mut [Option<Outcome>],
    on_settled: &mut dyn FnMut(usize, &Outcome),
    index: usize,
    outcome: Outcome,
) {
    on_settled(index, &outcome);
    settled[index] = Some(outcome);
}

fn check_tasks(tasks: &[Task]) -> Result<()> {
    tasks.iter().enumerate().try_for_each(|(i, t)| t.check(i))
}

fn query_with_retries(job: &str, pause: Duration) -> Result<Option<BTreeMap<usize, TaskState>>> {
    let mut tries = 0;
    loop {
        match query::array_tasks(job) {
            Ok(states) => return Ok(states),
            Err(e) if tries + 1 >= QUERY_TRIES => return Err(e),
            Err(e) => {
                eprintln!("actfn-cluster: {e}; trying again");
                tries += 1;
                std::thread::sleep(pause.max(Duration::from_secs(1)));
            }
        }
    }
}
