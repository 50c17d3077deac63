//! The dispatching evaluator: trains each candidate of a generation in a worker process
//! (`actfn evaluate`), run by actfn-cluster's local pool or Slurm job arrays, and hands
//! each published result to the search as it settles. The search stays the only writer
//! of `records.jsonl`; workers only publish their own `result.json` (see `work_dir`).
//!
//! The task list of a generation is fixed the first time the generation is dispatched
//! (`tasks.json`), so that a controller killed mid-generation and resumed hands the same
//! list to the Slurm runner, which re-attaches to its journal's jobs instead of
//! submitting their candidates again.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::rc::Rc;

use actfn_cluster::{LocalPool, Outcome, Runner, SlurmArray, SlurmOptions, Task};
use actfn_evo::{Candidate, Evaluation, Evaluator, EvoError, Job, RecordId};
use anyhow::{bail, Context};

use crate::commands::evaluate::WORKER_VAR;
use crate::execution::work_dir::{
    candidate_dir, generation_dir, publish_json, read_evaluation, read_json, result_file,
    slurm_dir, tasks_file, TaskFile, LOG_FILE, TASK_FILE,
};

/// How the worker processes are run.
#[derive(Debug, Clone)]
pub enum Dispatch {
    /// Child processes of the search.
    Local(LocalPool),
    /// Slurm job arrays; each generation's runner folder is `work/g{G}/slurm`.
    Slurm(Box<SlurmOptions>),
}

/// Trains candidates in worker processes (see the module).
pub struct DispatchEvaluator {
    /// The evaluator the workers rebuild; the controller asks it only its hash.
    inner: Box<dyn Evaluator>,
    search: PathBuf,
    dispatch: Dispatch,
    program: PathBuf,
    /// Arguments every worker gets after its candidate's (threads, data folder).
    worker_args: Vec<OsString>,
    /// Set: print what the first generation would run, write nothing, and stop.
    dry_run: Option<Rc<Cell<bool>>>,
}

impl DispatchEvaluator {
    /// Workers for the search in `search` (made absolute: Slurm runs them elsewhere),
    /// running this program.
    pub fn new(
        inner: Box<dyn Evaluator>,
        search: PathBuf,
        dispatch: Dispatch,
        worker_args: Vec<OsString>,
    ) -> anyhow::Result<Self> {
        let search = std::path::absolute(&search)
            .with_context(|| format!("cannot make {} absolute", search.display()))?;
        let program = std::env::current_exe().context("cannot find this program's path")?;
        Ok(Self {
            inner,
            search,
            dispatch,
            program,
            worker_args,
            dry_run: None,
        })
    }

    /// Print the first generation's work instead of running it; `done` is set once it is
    /// printed, and the search then stops with an error the caller recognises by it.
    #[must_use]
    pub fn dry_run(mut self, done: Rc<Cell<bool>>) -> Self {
        self.dry_run = Some(done);
        self
    }

    fn task(&self, generation: usize, index: usize, until: Option<u32>) -> Task {
        let folder = candidate_dir(&self.search, generation, index);
        let mut argv: Vec<OsString> = vec![
            self.program.clone().into(),
            "evaluate".into(),
            "--search".into(),
            self.search.clone().into(),
            "--generation".into(),
            generation.to_string().into(),
            "--index".into(),
            index.to_string().into(),
        ];
        if let Some(epochs) = until {
            argv.extend(["--until-epoch".into(), epochs.to_string().into()]);
        }
        argv.extend(self.worker_args.iter().cloned());
        Task::new(
            argv,
            &folder,
            folder.join(LOG_FILE),
            folder.join(result_file(until)),
        )
    }

    /// The generation's (or the rung's) task list: the stored one, or `at` (stored with
    /// the task files).
    fn task_list(
        &self,
        generation: usize,
        at: &[RecordId],
        batch: &[Candidate],
        until: Option<u32>,
    ) -> anyhow::Result<Vec<usize>> {
        let list_path = generation_dir(&self.search, generation).join(tasks_file(until));
        let stored: Option<Vec<usize>> = read_json(&list_path)?;
        let writing = self.dry_run.is_none();
        // Task files first, then the list: a list on disk means its task files are there.
        for (id, candidate) in at.iter().zip(batch) {
            let path = candidate_dir(&self.search, generation, id.index).join(TASK_FILE);
            let task = TaskFile::of(candidate);
            match read_json::<TaskFile>(&path)? {
                Some(existing) if existing == task => {}
                Some(existing) => bail!(
                    "{} holds `{}` with seed {}, but the search plans `{}` with seed {} there: \
                     the work folder belongs to another search",
                    path.display(),
                    existing.expr,
                    existing.seed,
                    task.expr,
                    task.seed
                ),
                None if writing => publish_json(&path, &task)?,
                None => {}
            }
        }
        let indices: Vec<usize> = at.iter().map(|id| id.index).collect();
        match stored {
            Some(list) => {
                if let Some(missing) = indices.iter().find(|i| !list.contains(i)) {
                    bail!(
                        "{} does not list candidate {missing} of generation {generation}",
                        list_path.display()
                    );
                }
                Ok(list)
            }
            None => {
                if writing {
                    publish_json(&list_path, &indices)?;
                }
                Ok(indices)
            }
        }
    }

    fn print_dry_run(
        &self,
        generation: usize,
        tasks: &[Task],
        until: Option<u32>,
    ) -> anyhow::Result<()> {
        match &self.dispatch {
            Dispatch::Slurm(options) => {
                let runner = SlurmArray::new(
                    generation_dir(&self.search, generation).join(slurm_dir(until)),
                    (**options).clone(),
                )?;
                for script in runner.dry_run(tasks)? {
                    println!("{script}");
                }
            }
            Dispatch::Local(_) => {
                for task in tasks {
                    let words: Vec<String> = task
                        .argv
                        .iter()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect();
                    println!("{}", words.join(" "));
                }
            }
        }
        Ok(())
    }

    /// Runs `batch` in workers; `until`, a rung of halving: the workers stop after that
    /// epoch, each rung with its own task list, result files and Slurm runner.
    fn dispatch(
        &mut self,
        at: &[RecordId],
        batch: &[Candidate],
        until: Option<u32>,
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> anyhow::Result<Result<(), EvoError>> {
        let Some(first) = at.first() else {
            return Ok(Ok(()));
        };
        let generation = first.generation;
        if at.len() != batch.len() || at.iter().any(|id| id.generation != generation) {
            bail!("a batch must be one generation's, with one record id per candidate");
        }
        // Slurm needs the generation's whole list (its journal is per list); the local pool
        // runs only what is asked.
        let list = match self.dispatch {
            Dispatch::Slurm(_) => self.task_list(generation, at, batch, until)?,
            Dispatch::Local(_) => {
                self.task_list(generation, at, batch, until)?;
                at.iter().map(|id| id.index).collect()
            }
        };
        let tasks: Vec<Task> = list
            .iter()
            .map(|&i| self.task(generation, i, until))
            .collect();
        if let Some(done) = &self.dry_run {
            self.print_dry_run(generation, &tasks, until)?;
            done.set(true);
            bail!("dry run: nothing was run");
        }
        let in_batch: HashMap<usize, usize> =
            at.iter().enumerate().map(|(i, id)| (id.index, i)).collect();
        let executor = match self.dispatch {
            Dispatch::Local(_) => "local",
            Dispatch::Slurm(_) => "slurm",
        };
        let mut stopped: Option<EvoError> = None;
        let mut held: Vec<Option<Evaluation>> = vec![None; batch.len()];
        let mut next = 0;
        let mut on_settled = |position: usize, outcome: &Outcome| {
            let Some(&i) = in_batch.get(&list[position]) else {
                return;
            };
            if stopped.is_some() {
                return;
            }
            let task = TaskFile::of(&batch[i]);
            let evaluation = match outcome {
                Outcome::Published { .. } => read_evaluation(&tasks[position].result, &task)
                    .unwrap_or_else(|e| Evaluation::failed(format!("{e:#}"), 0.0)),
                Outcome::Failed { attempts, reason } => {
                    let mut e = Evaluation::failed(
                        format!("worker failed after {attempts} attempts: {reason}"),
                        0.0,
                    );
                    e.worker = Some(executor.into());
                    e
                }
            };
            // Released in batch order, so that records.jsonl reads the same whatever
            // the executor; a result held back is already durable in its result file.
            held[i] = Some(evaluation);
            while next < held.len() {
                let Some(evaluation) = held[next].take() else {
                    break;
                };
                if let Err(e) = sink(next, evaluation) {
                    stopped = Some(e);
                    return;
                }
                next += 1;
            }
        };
        let generation_dir = generation_dir(&self.search, generation);
        match &self.dispatch {
            Dispatch::Local(pool) => pool.run_tasks(&tasks, &mut on_settled)?,
            Dispatch::Slurm(options) => {
                SlurmArray::new(generation_dir.join(slurm_dir(until)), (**options).clone())?
                    .run_tasks(&tasks, &mut on_settled)?
            }
        };
        Ok(stopped.map_or(Ok(()), Err))
    }
}

impl Evaluator for DispatchEvaluator {
    fn config_hash(&self) -> String {
        self.inner.config_hash()
    }

    fn halving_budget(&self) -> Option<u32> {
        self.inner.halving_budget()
    }

    /// Dispatches `jobs`, which must all stop at the same epoch (one rung, or the full
    /// evaluations of a generation): each rung has its own task list and result files.
    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        if self.halving_budget().is_none() {
            Job::refuse_partial(jobs)?;
        }
        let until = jobs.first().and_then(|job| job.until_epoch);
        if jobs.iter().any(|job| job.until_epoch != until) {
            return Err(EvoError::Protocol(
                "the dispatching evaluator runs one rung at a time: every job must stop at \
                 the same epoch"
                    .into(),
            ));
        }
        let at: Vec<RecordId> = jobs.iter().map(|job| job.id).collect();
        let batch: Vec<Candidate> = jobs.iter().map(|job| job.candidate.clone()).collect();
        match self.dispatch(&at, &batch, until, sink) {
            Ok(result) => result,
            Err(e) => Err(EvoError::Evaluator(e.into())),
        }
    }
}

/// The local pool's per-slot environment: each slot names itself in its records, and
/// with GPUs sees only its own.
pub fn local_slot_env(jobs: usize, gpus: usize) -> Vec<Vec<(OsString, OsString)>> {
    (0..jobs)
        .map(|slot| {
            let mut env: Vec<(OsString, OsString)> =
                vec![(WORKER_VAR.into(), format!("local {}", slot + 1).into())];
            if gpus > 0 {
                env.push((
                    "CUDA_VISIBLE_DEVICES".into(),
                    (slot % gpus).to_string().into(),
                ));
            }
            env
        })
        .collect()
}

/// An evaluator in the search process that names itself `inline` in its records.
pub struct InlineEvaluator(pub Box<dyn Evaluator>);

impl Evaluator for InlineEvaluator {
    fn config_hash(&self) -> String {
        self.0.config_hash()
    }

    fn halving_budget(&self) -> Option<u32> {
        self.0.halving_budget()
    }

    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        self.0.evaluate(jobs, &mut |i, mut e| {
            e.worker = Some("inline".into());
            sink(i, e)
        })
    }
}
