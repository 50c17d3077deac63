//! `actfn search --executor local|slurm`: candidates trained by worker processes give the
//! records an inline search writes (timings and the `worker` field aside), on the fit task
//! and on a tiny real CIFAR-10 search; a cancelled Slurm task is retried; a controller
//! killed mid-generation resumes without submitting a candidate twice; a CIFAR candidate
//! killed by its Slurm time limit resumes from its epoch checkpoint.
//!
//! The Slurm tests need a reachable Slurm (`cargo xtask slurm up`) and are skipped with a
//! printed reason without one, unless ACTFN_REQUIRE_SLURM=1, where that fails. The CIFAR
//! test uses the CIFAR-10 tarball in `$ACTFN_DATA_TARBALLS` or `<repo>/../shared/data/` and
//! is skipped without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actfn_cluster::{Journal, JournalEvent};
use tempfile::TempDir;

mod common;
use common::{actfn, fetched_cifar10, ok};

fn slurm_up() -> bool {
    actfn_cluster::slurm_up_or_skip()
}

/// The records of the search in `dir`, one JSON line each, without `seconds` and
/// `worker`, keys sorted.
fn records(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = v.as_object_mut().unwrap();
            object.remove("seconds");
            object.remove("worker");
            serde_json::to_string(&v).unwrap()
        })
        .collect()
}

/// The `worker` fields of the records in `dir`.
fn workers(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["worker"].as_str().map(str::to_string)
        })
        .collect()
}

fn fit_search(out: &Path, population: &str, generations: &str) -> Vec<String> {
    [
        "search",
        "--task",
        "fit",
        "--target",
        "mul(sigmoid(x), erf(x))",
        "--strategy",
        "evolution",
        "--depth",
        "2",
        "--population",
        population,
        "--elites",
        "1",
        "--random",
        "1",
        "--generations",
        generations,
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn run(args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(actfn(&args));
}

fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// Journal folders of the generations of the search in `dir` that ran on Slurm.
fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("work"))
        .unwrap()
        .map(|e| e.unwrap().path().join("slurm"))
        .filter(|p| p.join("journal.jsonl").is_file())
        .collect();
    found.sort();
    found
}

/// (index, job) of every submission in the journal in `dir`.
fn submissions(dir: &Path) -> Vec<(usize, String)> {
    let events = Journal::events(dir).unwrap();
    let mut intents = std::collections::HashMap::new();
    let mut out = Vec::new();
    for e in events {
        match e {
            JournalEvent::Intent { batch, indices, .. } => {
                intents.insert(batch, indices);
            }
            JournalEvent::Submitted { batch, job, .. } => {
                for &i in &intents[&batch] {
                    out.push((i, job.clone()));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn fit_records_match_inline_with_two_local_workers() {
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let inline = tmp.path().join("inline");
    let local = tmp.path().join("local");
    run(&fit_search(&inline, "6", "3"));
    run(&with(
        fit_search(&local, "6", "3"),
        &["--executor", "local", "--jobs", "2"],
    ));
    assert_eq!(records(&local), records(&inline));
    let names = workers(&local);
    assert!(
        names.iter().all(|w| w == "local 1" || w == "local 2"),
        "{names:?}"
    );
    assert!(workers(&inline).iter().all(|w| w == "inline"));
    // Started inline and stopped in the second generation (its records cut there),
    // resumed on workers: the executor is not part of the configuration.
    let mixed = tmp.path().join("mixed");
    run(&fit_search(&mixed, "6", "3"));
    let text = std::fs::read_to_string(mixed.join("records.jsonl")).unwrap();
    let kept: String = text.lines().take(8).map(|l| format!("{l}\n")).collect();
    std::fs::write(mixed.join("records.jsonl"), kept).unwrap();
    run(&[
        "search".into(),
        "--resume".into(),
        mixed.to_str().unwrap().into(),
        "--executor".into(),
        "local".into(),
        "--jobs".into(),
        "2".into(),
    ]);
    assert_eq!(records(&mixed), records(&inline));
    eprintln!("fit, local --jobs 2: {:?}", started.elapsed());
}

#[test]
fn dry_run_prints_the_batch_script_and_writes_nothing() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("s");
    let args = with(
        fit_search(&dir, "4", "2"),
        &[
            "--executor",
            "slurm",
            "--partition",
            "debug",
            "--time",
            "5",
            "--dry-run",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(actfn(&args));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("#SBATCH --partition=debug"), "{script}");
    assert!(script.contains("#SBATCH --array=0-3"), "{script}");
    assert!(
        script.contains("'evaluate' '--search'") || script.contains("evaluate --search"),
        "{script}"
    );
    assert!(!dir.exists(), "a dry run writes nothing");
}

#[test]
fn fit_records_match_inline_on_slurm() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let inline = tmp.path().join("inline");
    let slurm = tmp.path().join("slurm");
    run(&fit_search(&inline, "5", "2"));
    run(&with(
        fit_search(&slurm, "5", "2"),
        &["--executor", "slurm", "--jobs", "4"],
    ));
    assert_eq!(records(&slurm), records(&inline));
    assert!(workers(&slurm).iter().all(|w| w.starts_with("slurm ")));
    eprintln!("fit on Slurm: {:?}", started.elapsed());
}

/// Waits until the search in `dir` has a generation-0 job and `squeue` shows its task
/// `index` running; returns "JOB_INDEX".
fn running_task(dir: &Path, index: usize, within: Duration) -> String {
    let journal = dir.join("work/g0/slurm");
    let start = Instant::now();
    while start.elapsed() < within {
        if journal.join("journal.jsonl").is_file() {
            if let Some((_, job)) = submissions(&journal).into_iter().find(|(i, _)| *i == index) {
                let id = format!("{job}_{index}");
                let out = Command::new("squeue")
                    .args(["--noheader", "--format=%T", "--jobs", &id])
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&out.stdout).contains("RUNNING") {
                    return id;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("task {index} of the first generation was not running within {within:?}");
}

#[test]
fn a_cancelled_slurm_task_is_retried_with_the_same_records() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let inline = tmp.path().join("inline");
    let slurm = tmp.path().join("slurm");
    run(&fit_search(&inline, "3", "1"));
    let args = with(
        fit_search(&slurm, "3", "1"),
        &["--executor", "slurm", "--eval-delay-ms", "6000"],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_actfn"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = running_task(&slurm, 0, Duration::from_secs(60));
    assert!(Command::new("scancel").arg(&id).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    assert_eq!(records(&slurm), records(&inline));
    let submitted = submissions(&slurm.join("work/g0/slurm"));
    assert_eq!(
        submitted.iter().filter(|(i, _)| *i == 0).count(),
        2,
        "{submitted:?}"
    );
    eprintln!("scancel and retry: {:?}", started.elapsed());
}

#[test]
fn a_killed_controller_resumes_on_slurm_without_submitting_twice() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let inline = tmp.path().join("inline");
    let slurm = tmp.path().join("slurm");
    run(&fit_search(&inline, "3", "2"));
    let args = with(
        fit_search(&slurm, "3", "2"),
        &["--executor", "slurm", "--eval-delay-ms", "5000"],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_actfn"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    running_task(&slurm, 0, Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    run(&[
        "search".into(),
        "--resume".into(),
        slurm.to_str().unwrap().into(),
        "--executor".into(),
        "slurm".into(),
    ]);
    assert_eq!(records(&slurm), records(&inline));
    for journal in journals(&slurm) {
        let submitted = submissions(&journal);
        let mut indices: Vec<usize> = submitted.iter().map(|(i, _)| *i).collect();
        indices.sort_unstable();
        let before = indices.len();
        indices.dedup();
        assert_eq!(
            before,
            indices.len(),
            "{}: {submitted:?}",
            journal.display()
        );
    }
    eprintln!("killed controller, resumed: {:?}", started.elapsed());
}

/// WRN-10-1 training options on one thread, with the search's data and output folders.
fn wrn10_training(
    data: &Path,
    out: &Path,
    epochs: usize,
    train_size: usize,
    seed: u64,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--wrn-depth",
        "10",
        "--wrn-width",
        "1",
        "--val-per-class",
        "10",
        "--batch",
        "128",
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "--epochs".into(),
        epochs.to_string(),
        "--train-size".into(),
        train_size.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ]);
    args
}

fn cifar_search(out: &Path, data: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "search",
        "--task",
        "cifar10",
        "--strategy",
        "evolution",
        "--fitness",
        "accuracy",
        "--depth",
        "2",
        "--population",
        "3",
        "--elites",
        "1",
        "--random",
        "1",
        "--generations",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(wrn10_training(data, out, 1, 256, 3));
    args
}

#[test]
fn cifar_records_match_inline_on_local_workers_and_slurm() {
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let Some(data) = fetched_cifar10(tmp.path()) else {
        return;
    };
    let inline = tmp.path().join("inline");
    run(&cifar_search(&inline, &data));
    let local = tmp.path().join("local");
    run(&with(
        cifar_search(&local, &data),
        &["--executor", "local", "--jobs", "2"],
    ));
    assert_eq!(records(&local), records(&inline));
    // Each worker trained in its candidate's run folder.
    let run_dirs = std::fs::read_dir(local.join("work/g0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("run").is_dir())
        .count();
    assert_eq!(run_dirs, workers(&local).len());
    eprintln!("CIFAR inline and local: {:?}", started.elapsed());
    if slurm_up() {
        let slurm = tmp.path().join("slurm");
        run(&with(cifar_search(&slurm, &data), &["--executor", "slurm"]));
        assert_eq!(records(&slurm), records(&inline));
        eprintln!("CIFAR inline, local and Slurm: {:?}", started.elapsed());
    }
}

/// One CIFAR-10 candidate (`tanh(x) + tanh(x)`, the only function of that S1) trained for
/// 12 short epochs: about 100 s on one thread, past a 1-minute Slurm limit.
fn long_cifar_search(out: &Path, data: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "search",
        "--task",
        "cifar10",
        "--strategy",
        "exhaustive",
        "--depth",
        "1",
        "--unary",
        "tanh",
        "--binary",
        "add",
    ]
    .map(String::from)
    .to_vec();
    args.extend(wrn10_training(data, out, 12, 4000, 5));
    args
}

#[test]
fn a_cifar_candidate_over_its_time_limit_resumes_from_its_checkpoint() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let Some(data) = fetched_cifar10(tmp.path()) else {
        return;
    };
    // The reference trains inline meanwhile, on the other core.
    let inline = tmp.path().join("inline");
    let reference = {
        let args = long_cifar_search(&inline, &data);
        std::thread::spawn(move || run(&args))
    };
    let slurm = tmp.path().join("slurm");
    run(&with(
        long_cifar_search(&slurm, &data),
        &["--executor", "slurm", "--time", "1", "--retries", "4"],
    ));
    reference.join().unwrap();
    eprintln!("CIFAR over its time limit: {:?}", started.elapsed());

    let journal = slurm.join("work/g0/slurm");
    let timeouts = Journal::events(&journal)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e, JournalEvent::Ended { reason, .. } if reason.contains("TIMEOUT")))
        .count();
    assert!(timeouts >= 1, "no attempt ended at the time limit");
    // Every retry after a time limit continued from a later epoch than the one before.
    let log = std::fs::read_to_string(slurm.join("work/g0/c0/log.txt")).unwrap();
    let resumed_after: Vec<usize> = log
        .lines()
        .filter_map(|l| l.split(" after epoch ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(resumed_after.len(), timeouts, "{log}");
    assert!(resumed_after.windows(2).all(|w| w[0] < w[1]), "{log}");
    assert!((1..12).contains(&resumed_after[0]), "{log}");
    let submitted = submissions(&journal);
    assert_eq!(submitted.len(), timeouts + 1);
    assert!(submitted.iter().all(|(i, _)| *i == 0));
    assert_eq!(records(&slurm), records(&inline));
}
