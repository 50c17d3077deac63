//! `cargo xtask bench-executors`: the same final-run-sized trainings once one after
//! another with every core's thread in each (`--executor inline`), once as single-threaded
//! worker processes, one per core (`--executor local`), in one invocation, so that the
//! ratio is measured under the same conditions. It decides which executor suits a machine:
//! on 2 cores, process parallelism won for WRN-10-1 (the reproduce commands' default).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use actfn_cluster::{LocalPool, Outcome, Runner, Task};
use actfn_evo::TrainResult;
use anyhow::{bail, Context};

use crate::actfn_args;
use crate::reproduce::build_actfn;

/// What to train, and how many processes at once.
#[derive(Debug, Clone)]
pub struct Options {
    /// Activations trained, in turn; each is one training of each side.
    pub activations: Vec<String>,
    pub train_size: usize,
    pub epochs: usize,
    pub wrn_depth: usize,
    pub wrn_width: usize,
    /// Worker processes of the `local` side; the `inline` side gives each training
    /// `jobs` threads.
    pub jobs: usize,
    pub out: PathBuf,
}

/// Runs both sides and prints their wall times and the ratio.
pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    if options.activations.is_empty() {
        bail!("--activations: give at least one activation");
    }
    if options.jobs == 0 {
        bail!("--jobs: at least one worker is needed");
    }
    let actfn = build_actfn(root)?;
    let data_dir = root.join("data");
    if !data_dir.join("cifar-10-batches-bin").is_dir() {
        let status = Command::new(&actfn)
            .args(actfn_args::data_fetch("cifar10", &data_dir))
            .stdin(Stdio::null())
            .status()
            .context("cannot run actfn data fetch")?;
        if !status.success() {
            bail!("actfn data fetch cifar10 failed ({status})");
        }
    }
    if options.out.exists() {
        std::fs::remove_dir_all(&options.out)
            .with_context(|| format!("cannot clear {}", options.out.display()))?;
    }

    // The first training of these images fits and caches their whitening; whichever side
    // came first would pay for it, so an untimed training pays instead.
    eprintln!("xtask: one untimed training, to prepare and cache the data");
    let warm_up = Options {
        activations: options.activations[..1].to_vec(),
        ..options.clone()
    };
    timed(
        &LocalPool::new(1)?,
        &trainings(&actfn, root, &warm_up, "warm-up", options.jobs)?,
    )?;

    let inline = trainings(&actfn, root, options, "inline", options.jobs)?;
    eprintln!(
        "xtask: {} trainings one after another, {} threads each",
        inline.len(),
        options.jobs
    );
    let inline_wall = timed(&LocalPool::new(1)?, &inline)?;

    let local = trainings(&actfn, root, options, "local", 1)?;
    eprintln!(
        "xtask: the same {} trainings as {} single-threaded processes at once",
        local.len(),
        options.jobs
    );
    let local_wall = timed(&LocalPool::new(options.jobs)?, &local)?;

    println!(
        "| activation | inline: seconds ({} threads) | local: seconds (1 thread) |",
        options.jobs
    );
    println!("| --- | ---: | ---: |");
    for ((activation, a), b) in options.activations.iter().zip(&inline).zip(&local) {
        println!(
            "| `{activation}` | {:.1} | {:.1} |",
            read_result(&a.result)?.seconds,
            read_result(&b.result)?.seconds
        );
    }
    println!(
        "\nwall time: inline {inline_wall:.1} s, local ({} jobs) {local_wall:.1} s; \
         local is {:.2}x as fast",
        options.jobs,
        inline_wall / local_wall
    );
    Ok(())
}

/// One `actfn train` task per activation, with `threads` threads, under `out/side/`.
fn trainings(
    actfn: &Path,
    root: &Path,
    options: &Options,
    side: &str,
    threads: usize,
) -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for (i, activation) in options.activations.iter().enumerate() {
        let dir = options.out.join(side).join(format!("run-{i}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let json = dir.join("train.json");
        let mut argv: Vec<OsString> = vec![actfn.into()];
        argv.extend(
            actfn_args::bench_train(activation, options, threads, &dir.join("run"), &json)
                .into_iter()
                .map(OsString::from),
        );
        tasks.push(Task::new(argv, root, dir.join("train.log"), json));
    }
    Ok(tasks)
}

/// Runs `tasks` on `pool` and returns the wall time in seconds; a failed training is an
/// error (the figures would compare unequal work).
fn timed(pool: &LocalPool, tasks: &[Task]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let outcomes = pool.run_tasks(tasks, &mut |_, _| {})?;
    let seconds = started.elapsed().as_secs_f64();
    for (task, outcome) in tasks.iter().zip(outcomes) {
        if let Outcome::Failed { reason, .. } = outcome {
            bail!("a training failed ({reason}); see {}", task.log.display());
        }
    }
    Ok(seconds)
}

fn read_result(path: &Path) -> anyhow::Result<TrainResult> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a training result", path.display()))
}
