//! What the integration tests share: shell tasks that publish files, and the
//! overlap of their run intervals.

#![allow(dead_code)]

use std::path::Path;

use actfn_cluster::Task;

/// A task running `script` under `sh -c` in `dir/<i>/`, logging to `dir/<i>/log` and
/// publishing `dir/<i>/result`. The script may use `$R` (the result path) and `publish
/// TEXT`, which writes `$R` atomically (temporary file, then rename).
pub fn shell_task(dir: &Path, i: usize, script: &str) -> Task {
    let work = dir.join(i.to_string());
    std::fs::create_dir_all(&work).unwrap();
    let result = work.join("result");
    let body = format!(
        "publish() {{ printf '%s\\n' \"$1\" > \"$R.tmp\" && mv \"$R.tmp\" \"$R\"; }}\n{script}"
    );
    Task::new(
        ["sh", "-c", body.as_str()],
        &work,
        work.join("log"),
        &result,
    )
    .env("R", result.as_os_str())
    .env("TASK_INDEX", i.to_string())
}

/// `publish "START END"` around a sleep of `seconds`, for overlap checks.
pub fn timed_sleep(seconds: f64) -> String {
    format!("s=$(date +%s.%N); sleep {seconds}; publish \"$s $(date +%s.%N)\"")
}

/// The (start, end) pair a [`timed_sleep`] task published.
pub fn interval(result: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(result).unwrap();
    let mut words = text.split_whitespace().map(|w| w.parse::<f64>().unwrap());
    (words.next().unwrap(), words.next().unwrap())
}

/// Most intervals open at one time.
pub fn max_overlap(intervals: &[(f64, f64)]) -> usize {
    let mut events: Vec<(f64, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    // At equal times, ends before starts: back-to-back tasks do not overlap.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut most) = (0i32, 0i32);
    for (_, step) in events {
        open += step;
        most = most.max(open);
    }
    most as usize
}
