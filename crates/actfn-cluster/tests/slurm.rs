//! The Slurm runner against a real Slurm (`cargo xtask slurm up`). Skipped with a printed
//! reason when no Slurm answers, unless ACTFN_REQUIRE_SLURM=1 (CI), where that fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use actfn_cluster::{Journal, JournalEvent, Outcome, SlurmArray, SlurmOptions, Task};
use common::{interval, max_overlap, shell_task, timed_sleep};

fn slurm_up() -> bool {
    actfn_cluster::slurm_up_or_skip()
}

fn options(name: &str) -> SlurmOptions {
    SlurmOptions {
        job_name: format!("t-{name}"),
        cpus_per_task: Some(1),
        mem: Some("100M".into()),
        poll_seconds: 0.5,
        retries: 2,
        ..SlurmOptions::default()
    }
}

fn submitted_jobs(dir: &Path) -> Vec<(usize, String)> {
    Journal::events(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::Submitted { batch, job, .. } => Some((batch, job)),
            _ => None,
        })
        .collect()
}

/// Waits until array task `job_index` (e.g. `12_1`) runs.
fn wait_running(id: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let out = Command::new("squeue")
            .args(["--noheader", "--array", "--states=RUNNING", "--format=%i"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == id)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{id} did not start within {within:?}");
}

fn wait_for_submission(dir: &Path, batch: usize, within: Duration) -> String {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some((_, job)) = submitted_jobs(dir).into_iter().find(|(b, _)| *b == batch) {
            return job;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("batch {batch} was not submitted within {within:?}");
}

fn run_ok(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd).args(args).status().unwrap();
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

#[test]
fn array_of_five_throttled_to_two_publishes_all() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let tasks: Vec<Task> = (0..5)
        .map(|i| shell_task(dir.path(), i, &timed_sleep(1.0)))
        .collect();
    let runner = SlurmArray::new(
        dir.path().join("run"),
        SlurmOptions {
            throttle: Some(2),
            ..options("throttle")
        },
    )
    .unwrap();
    let report = runner.run(&tasks).unwrap();
    eprintln!("array of 5 %2: {:?}", started.elapsed());
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == Outcome::Published { attempts: 1 }),
        "{report:?}"
    );
    assert_eq!(report.sbatch_calls, 1);
    let intervals: Vec<_> = tasks.iter().map(|t| interval(&t.result)).collect();
    assert!(max_overlap(&intervals) <= 2, "{intervals:?}");
    let script = std::fs::read_to_string(dir.path().join("run/scripts/batch-0.sh")).unwrap();
    assert!(script.contains("#SBATCH --array=0-4%2"), "{script}");
}

#[test]
fn a_cancelled_task_is_submitted_again() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let tasks: Vec<Task> = (0..3)
        .map(|i| shell_task(dir.path(), i, "sleep 4; publish done"))
        .collect();
    // With a throttle, the resubmission also waits for the first array to finish.
    let opts = SlurmOptions {
        throttle: Some(2),
        ..options("cancel")
    };
    let runner = SlurmArray::new(&run_dir, opts).unwrap();
    let report = std::thread::scope(|s| {
        let handle = s.spawn(|| runner.run(&tasks).unwrap());
        let job = wait_for_submission(&run_dir, 0, Duration::from_secs(30));
        let id = format!("{job}_1");
        wait_running(&id, Duration::from_secs(60));
        run_ok("scancel", &[&id]);
        handle.join().unwrap()
    });
    eprintln!("scancel and retry: {:?}", started.elapsed());
    assert_eq!(report.outcomes[0], Outcome::Published { attempts: 1 });
    assert_eq!(report.outcomes[1], Outcome::Published { attempts: 2 });
    assert_eq!(report.outcomes[2], Outcome::Published { attempts: 1 });
    assert_eq!(report.submissions.len(), 2);
    assert_eq!(report.submissions[1].indices, [1]);
    let ended: Vec<_> = Journal::events(&run_dir)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::Ended { index, reason, .. } => Some((index, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].0, 1);
    assert!(ended[0].1.contains("CANCELLED"), "{}", ended[0].1);
}

/// The controller of [`killed_controller_resumes`], run in a
/// child process so that it can be killed with SIGKILL; does nothing when run directly.
#[test]
#[ignore = "run as a child process by killed_controller_resumes"]
fn controller_child() {
    let Ok(dir) = std::env::var("ACTFN_CLUSTER_CHILD_DIR") else {
        return;
    };
    assert!(slurm_up());
    let dir = PathBuf::from(dir);
    SlurmArray::new(
        dir.join("run"),
        SlurmOptions {
            throttle: Some(2),
            ..options("kill")
        },
    )
    .unwrap()
    .run(&kill_tasks(&dir))
    .unwrap();
}

fn kill_tasks(dir: &Path) -> Vec<Task> {
    (0..4)
        .map(|i| shell_task(dir, i, "sleep 3; publish done"))
        .collect()
}

#[test]
fn a_killed_controller_reattaches_to_its_job() {
    if slurm_up() {
        killed_controller_resumes(false);
    }
}

#[test]
fn a_controller_killed_before_recording_the_job_id_finds_the_job_by_name() {
    if slurm_up() {
        killed_controller_resumes(true);
    }
}

/// Kills a controller with SIGKILL once it has submitted, optionally drops the job id
/// from its journal, resumes, and checks that nothing was submitted twice.
fn killed_controller_resumes(drop_job_id: bool) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["controller_child", "--exact", "--ignored", "--nocapture"])
        .env("ACTFN_CLUSTER_CHILD_DIR", dir.path())
        .spawn()
        .unwrap();
    let job = wait_for_submission(&run_dir, 0, Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    if drop_job_id {
        // As if the kill had come between sbatch returning and the journal write.
        let journal = run_dir.join("journal.jsonl");
        let text = std::fs::read_to_string(&journal).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("\"submitted\""))
            .collect();
        std::fs::write(&journal, format!("{}\n", kept.join("\n"))).unwrap();
    }

    let runner = SlurmArray::new(
        &run_dir,
        SlurmOptions {
            throttle: Some(2),
            ..options("kill")
        },
    )
    .unwrap();
    let report = runner.run(&kill_tasks(dir.path())).unwrap();
    eprintln!(
        "kill -9 and resume (job id dropped: {drop_job_id}): {:?}",
        started.elapsed()
    );
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == Outcome::Published { attempts: 1 }),
        "{report:?}"
    );
    assert_eq!(
        report.sbatch_calls, 0,
        "the resumed controller submitted again"
    );
    assert_eq!(report.submissions.len(), 1);
    assert_eq!(report.submissions[0].job.as_deref(), Some(job.as_str()));
    let recovered = Journal::events(&run_dir).unwrap().into_iter().any(|e| {
        matches!(e, JournalEvent::Submitted { recovered: true, ref job, .. } if *job == report.submissions[0].job.clone().unwrap())
    });
    assert_eq!(recovered, drop_job_id);
    // Slurm agrees: one array job under this journal's name.
    let name = &report.submissions[0].name;
    let out = Command::new("squeue")
        .args(["--noheader", "--states=all", "--name", name, "--format=%F"])
        .output()
        .unwrap();
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, [job]);
}

/// Writes a checkpoint, then runs past the 1-minute limit; the next attempt resumes.
const CHECKPOINTED: &str = "if [ -f ckpt ]; then publish \"resumed from $(cat ckpt)\"; \
                            else echo epoch-1 > ckpt; sleep 600; fi";

#[test]
fn a_task_over_its_time_limit_resumes_from_its_checkpoint() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let tasks = vec![shell_task(dir.path(), 0, CHECKPOINTED)];
    let runner = SlurmArray::new(
        &run_dir,
        SlurmOptions {
            time: Some("1".into()),
            ..options("timeout")
        },
    )
    .unwrap();
    let report = runner.run(&tasks).unwrap();
    eprintln!("time limit and resume: {:?}", started.elapsed());
    assert_eq!(report.outcomes[0], Outcome::Published { attempts: 2 });
    assert_eq!(
        std::fs::read_to_string(&tasks[0].result).unwrap(),
        "resumed from epoch-1\n"
    );
    let reason = Journal::events(&run_dir)
        .unwrap()
        .into_iter()
        .find_map(|e| match e {
            JournalEvent::Ended { reason, .. } => Some(reason),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("TIMEOUT (TimeLimit)") && reason.contains("DUE TO TIME LIMIT"),
        "{reason}"
    );
}

#[test]
fn a_requeued_task_resumes_from_its_checkpoint_in_the_same_job() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let tasks = vec![shell_task(dir.path(), 0, CHECKPOINTED)];
    let runner = SlurmArray::new(&run_dir, options("requeue")).unwrap();
    let report = std::thread::scope(|s| {
        let handle = s.spawn(|| runner.run(&tasks).unwrap());
        let job = wait_for_submission(&run_dir, 0, Duration::from_secs(30));
        let id = format!("{job}_0");
        wait_running(&id, Duration::from_secs(60));
        let ckpt = dir.path().join("0/ckpt");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ckpt.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // What preemption with PreemptMode=REQUEUE does to a --requeue job.
        run_ok("scontrol", &["requeue", &id]);
        handle.join().unwrap()
    });
    eprintln!("requeue and resume: {:?}", started.elapsed());
    assert_eq!(report.outcomes[0], Outcome::Published { attempts: 1 });
    assert_eq!(report.sbatch_calls, 1);
    assert_eq!(
        std::fs::read_to_string(&tasks[0].result).unwrap(),
        "resumed from epoch-1\n"
    );
    let log = std::fs::read_to_string(&tasks[0].log).unwrap();
    assert!(log.contains("restart 1"), "{log}");
}

#[test]
fn arrays_are_split_below_max_array_size_and_keep_the_throttle() {
    if !slurm_up() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let tasks: Vec<Task> = (0..5)
        .map(|i| shell_task(dir.path(), i, &timed_sleep(0.5)))
        .collect();
    let opts = SlurmOptions {
        max_array_size: Some(2),
        throttle: Some(2),
        ..options("split")
    };
    let runner = SlurmArray::new(dir.path().join("run"), opts).unwrap();
    assert_eq!(runner.dry_run(&tasks).unwrap().len(), 3);
    let report = runner.run(&tasks).unwrap();
    eprintln!("split into arrays of 2: {:?}", started.elapsed());
    assert!(
        report.outcomes.iter().all(Outcome::is_published),
        "{report:?}"
    );
    assert_eq!(report.sbatch_calls, 3);
    let offsets: Vec<usize> = report.submissions.iter().map(|s| s.offset).collect();
    assert_eq!(offsets, [0, 2, 4]);
    let intervals: Vec<_> = tasks.iter().map(|t| interval(&t.result)).collect();
    assert!(max_overlap(&intervals) <= 2, "{intervals:?}");
}

#[test]
fn a_task_failing_every_attempt_is_reported_with_its_log() {
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tasks = vec![
        shell_task(dir.path(), 0, "publish fine"),
        shell_task(dir.path(), 1, "echo boom; exit 3"),
    ];
    let runner = SlurmArray::new(
        dir.path().join("run"),
        SlurmOptions {
            retries: 1,
            ..options("fail")
        },
    )
    .unwrap();
    let mut settled = Vec::new();
    let report = runner
        .run_observed(&tasks, &mut |i, _| settled.push(i))
        .unwrap();
    // Task 0 settles in the first round; task 1 only after its second attempt.
    assert_eq!(settled, [0, 1]);
    assert_eq!(report.outcomes[0], Outcome::Published { attempts: 1 });
    match &report.outcomes[1] {
        Outcome::Failed {
            attempts: 2,
            reason,
        } => {
            assert!(
                reason.contains("FAILED (NonZeroExitCode), exit code 3:0")
                    && reason.contains("boom"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_partition_is_a_clear_error() {
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tasks = vec![shell_task(dir.path(), 0, "publish x")];
    let runner = SlurmArray::new(
        dir.path().join("run"),
        SlurmOptions {
            partition: Some("nosuchpartition".into()),
            ..options("partition")
        },
    )
    .unwrap();
    let err = runner.run(&tasks).unwrap_err().to_string();
    assert!(err.contains("sbatch") && err.contains("partition"), "{err}");
}

#[test]
fn max_array_size_is_read_from_slurm() {
    if !slurm_up() {
        return;
    }
    let conf = std::fs::read_to_string(std::env::var("SLURM_CONF").unwrap()).unwrap();
    let configured = conf
        .lines()
        .find_map(|l| l.strip_prefix("MaxArraySize="))
        .map_or(1001, |v| v.trim().parse().unwrap());
    assert_eq!(actfn_cluster::max_array_size().unwrap(), configured);
}

#[test]
fn a_held_task_is_waited_for_until_released() {
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let tasks = vec![shell_task(dir.path(), 0, "publish released")];
    let opts = SlurmOptions {
        extra: vec!["--hold".into()],
        ..options("hold")
    };
    let runner = SlurmArray::new(&run_dir, opts).unwrap();
    let report = std::thread::scope(|s| {
        let handle = s.spawn(|| runner.run(&tasks).unwrap());
        let job = wait_for_submission(&run_dir, 0, Duration::from_secs(30));
        // Long enough for the runner to look at the held task a few times.
        std::thread::sleep(Duration::from_secs(2));
        assert!(!tasks[0].result.exists());
        run_ok("scontrol", &["release", &job]);
        handle.join().unwrap()
    });
    assert_eq!(report.outcomes[0], Outcome::Published { attempts: 1 });
}
