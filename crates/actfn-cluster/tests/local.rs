//! The local pool with real child processes.

mod common;

use std::ffi::OsString;
use std::time::Instant;

use actfn_cluster::{LocalPool, Outcome};
use common::{interval, max_overlap, shell_task, timed_sleep};

#[test]
fn runs_five_tasks_two_at_a_time_with_slot_environments() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{}; echo \"slot=$WORKER_SLOT\"", timed_sleep(1.0));
    let tasks: Vec<_> = (0..5).map(|i| shell_task(dir.path(), i, &script)).collect();
    let slots = (0..2)
        .map(|s| vec![(OsString::from("WORKER_SLOT"), OsString::from(s.to_string()))])
        .collect();
    let started = Instant::now();
    let report = LocalPool::new(2)
        .unwrap()
        .slot_env(slots)
        .run(&tasks)
        .unwrap();
    eprintln!("five 1 s tasks, two at a time: {:?}", started.elapsed());
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| *o == Outcome::Published { attempts: 1 }),
        "{report:?}"
    );
    assert_eq!(report.starts, 5);
    let intervals: Vec<_> = tasks.iter().map(|t| interval(&t.result)).collect();
    assert_eq!(max_overlap(&intervals), 2, "{intervals:?}");
    for t in &tasks {
        let log = std::fs::read_to_string(&t.log).unwrap();
        assert!(log.contains("slot=0") || log.contains("slot=1"), "{log}");
    }

    // A second run finds every result published and starts nothing.
    let again = LocalPool::new(2).unwrap().run(&tasks).unwrap();
    assert_eq!(again.starts, 0);
    assert!(again
        .outcomes
        .iter()
        .all(|o| *o == Outcome::Published { attempts: 0 }));
}

#[test]
fn retries_and_reports_the_last_failure() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = vec![
        // Fails once, then succeeds.
        shell_task(
            dir.path(),
            0,
            "if [ -f tried ]; then publish ok; else touch tried; exit 1; fi",
        ),
        shell_task(dir.path(), 1, "echo boom; exit 3"),
        shell_task(dir.path(), 2, "kill -9 $$"),
        shell_task(dir.path(), 3, "echo exits 0 without a result"),
    ];
    let report = LocalPool::new(2).unwrap().retries(1).run(&tasks).unwrap();
    assert_eq!(report.outcomes[0], Outcome::Published { attempts: 2 });
    let reason = |i: usize| match &report.outcomes[i] {
        Outcome::Failed {
            attempts: 2,
            reason,
        } => reason.clone(),
        other => panic!("task {i}: {other:?}"),
    };
    let r1 = reason(1);
    assert!(
        r1.starts_with("exit status 3") && r1.contains("boom"),
        "{r1}"
    );
    assert!(
        reason(2).starts_with("killed by signal 9 (SIGKILL)"),
        "{}",
        reason(2)
    );
    assert!(reason(3).contains("without publishing"), "{}", reason(3));
    assert_eq!(report.starts, 2 + 2 + 2 + 2);
    let log = std::fs::read_to_string(&tasks[1].log).unwrap();
    assert_eq!(log.matches("actfn-cluster: attempt").count(), 2, "{log}");
}

#[test]
fn a_missing_program_is_a_failed_task_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let task = actfn_cluster::Task::new(
        ["/nonexistent/program"],
        dir.path(),
        dir.path().join("log"),
        dir.path().join("result"),
    );
    let report = LocalPool::new(1).unwrap().run(&[task]).unwrap();
    match &report.outcomes[0] {
        Outcome::Failed { reason, .. } => {
            assert!(reason.contains("/nonexistent/program"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(LocalPool::new(0).unwrap_err().to_string().contains("jobs"));
}

#[test]
fn reports_each_task_as_it_settles() {
    use actfn_cluster::Runner;
    let dir = tempfile::tempdir().unwrap();
    // Task 0 is slow, so the others settle (and are reported) while it still runs.
    let tasks = vec![
        shell_task(dir.path(), 0, "sleep 1.5; publish slow"),
        shell_task(dir.path(), 1, "publish fast"),
        shell_task(dir.path(), 2, "publish fast"),
    ];
    let mut seen = Vec::new();
    let pool: Box<dyn Runner> = Box::new(LocalPool::new(2).unwrap());
    let outcomes = pool
        .run_tasks(&tasks, &mut |i, o| {
            assert!(o.is_published());
            seen.push((i, tasks[0].result.exists()));
        })
        .unwrap();
    assert_eq!(outcomes.len(), 3);
    let mut indices: Vec<usize> = seen.iter().map(|s| s.0).collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(seen.last().unwrap().0, 0, "{seen:?}");
    assert!(
        seen[..2].iter().all(|(_, slow_done)| !slow_done),
        "{seen:?}"
    );
}
