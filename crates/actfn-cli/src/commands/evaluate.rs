//! `actfn evaluate`: the worker entry point. Trains the one candidate the controller
//! wrote to `DIR/work/g{G}/c{I}/task.json` with the evaluator `actfn search` builds from
//! `DIR/config.ron`, and publishes its evaluation atomically to `result.json` beside it.
//! The worker writes nothing else of the search: the controller reads the result and
//! stays the only writer of `records.jsonl`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::execution::task::{self, evaluate_in_folder, Stored};
use crate::execution::work_dir::{
    candidate_dir, publish_json, read_json, result_file, ResultFile, TaskFile, RUN_DIR, TASK_FILE,
};

/// Variable naming the worker in its records (`local 2`); a Slurm array task is named by
/// Slurm's own variables instead.
pub const WORKER_VAR: &str = "ACTFN_WORKER";

/// Arguments of `actfn evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The search directory.
    #[arg(long, value_name = "DIR")]
    pub search: PathBuf,
    /// The generation of the candidate.
    #[arg(long, value_name = "G")]
    pub generation: usize,
    /// The candidate's index in the generation (its record's `index`).
    #[arg(long, value_name = "I")]
    pub index: usize,
    /// libtorch threads [default: the search's].
    #[arg(long)]
    pub threads: Option<usize>,
    /// The data folder [default: the search's].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Halving: stop after epoch E of the full schedule (a rung), publishing
    /// `result-e{E}.json`; a later rung continues from the run folder's checkpoint.
    #[arg(long, value_name = "E")]
    pub until_epoch: Option<u32>,
}

/// Runs `actfn evaluate`.
pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let folder = candidate_dir(&args.search, args.generation, args.index);
    let result_path = folder.join(result_file(args.until_epoch));
    if result_path.exists() {
        eprintln!("{} is already published", result_path.display());
        return Ok(());
    }
    let task_path = folder.join(TASK_FILE);
    let task_file: TaskFile =
        read_json(&task_path)?.with_context(|| format!("no task file {}", task_path.display()))?;
    let candidate = task_file.candidate()?;
    let (stored, _): (Stored, _) = actfn_evo::read_dir(&args.search)
        .with_context(|| format!("cannot read the search in {}", args.search.display()))?;
    let mut task = stored.task.clone();
    task::set_local(&mut task, args.data_dir.as_deref(), args.threads);
    let id = actfn_evo::RecordId {
        generation: args.generation,
        index: args.index,
    };
    let mut evaluation = evaluate_in_folder(
        &task,
        &stored.config_hash,
        id,
        &candidate,
        &folder.join(RUN_DIR),
        args.until_epoch,
    )?
    .sanitized();
    evaluation.worker = Some(worker_name());
    publish_json(&result_path, &ResultFile::new(&task_file, &evaluation))?;
    eprintln!(
        "generation {} candidate {}: `{}` {:?} in {:.1} s",
        args.generation, args.index, task_file.expr, evaluation.status, evaluation.seconds
    );
    Ok(())
}

/// Where this process runs, as its records say: `slurm JOB_INDEX` in a Slurm array task,
/// else what the local pool set, else `worker`.
fn worker_name() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(name) = var(WORKER_VAR) {
        return name;
    }
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(index)) => format!("slurm {job}_{index}"),
        _ => "worker".into(),
    }
}
