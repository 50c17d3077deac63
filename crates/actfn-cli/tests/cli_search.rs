//! End-to-end tests of `actfn search` and `actfn report`: the real binary in a fresh
//! temporary directory; killing a running search with SIGKILL at random moments and
//! resuming it to exactly the records of an uninterrupted run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{actfn, fails, ok};

fn report_json(dir: &Path) -> Value {
    let out = ok(actfn(&["report", dir.to_str().unwrap(), "--json"]));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The records of a search directory without the timings, ordered by address.
fn records(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    let mut rs: Vec<Value> = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect();
    rs.sort_by_key(|v| (v["generation"].as_u64(), v["index"].as_u64()));
    rs
}

/// A member of S2, fitted by evolution in the tests below.
const S2_TARGET: &str = "mul(tanh(mul(atan(x), min0(x))), exp(sub(erf(x), relu(x))))";

fn evolution_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "search",
        "--task",
        "fit",
        "--target",
        S2_TARGET,
        "--strategy",
        "evolution",
        "--population",
        "8",
        "--elites",
        "2",
        "--random",
        "2",
        "--generations",
        "6",
        "--grid-points",
        "200",
        "--seed",
        "11",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn exhaustive_s1_finds_the_target_exactly() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("s1");
    let out = ok(actfn(&[
        "search",
        "--task",
        "fit",
        "--target",
        "mul(sigmoid(x), erf(x))",
        "--strategy",
        "exhaustive",
        "--population",
        "500",
        "--grid-points",
        "101",
        "--seed",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("top 3 by validation accuracy"), "{text}");
    let report = report_json(&dir);
    assert_eq!(report["evaluations"], 3456);
    assert_eq!(report["generations"].as_array().unwrap().len(), 7);
    let top = &report["top"][0];
    assert_eq!(top["val_loss"], 0.0, "{report}");
    assert_eq!(top["val_acc"], 1.0);
    let best = top["expr"].as_str().unwrap();
    assert!(best.contains("sigmoid") && best.contains("erf"), "{best}");
    let trained = report["trained"].as_u64().unwrap();
    let saved = report["trainings_saved"].as_u64().unwrap();
    assert!(trained + saved == 3456 && saved > 500, "{report}");
    // `--json-out` writes the object that `--json` prints, also for the text report.
    let file = tmp.path().join("report.json");
    ok(actfn(&[
        "report",
        dir.to_str().unwrap(),
        "--json-out",
        file.to_str().unwrap(),
    ]));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written, report);
}

#[test]
fn kill_at_random_moments_and_resume_to_the_uninterrupted_result() {
    kill_and_resume(&[]);
}

/// The same with population diversity: the near-duplicates replaced are part of the plan
/// that resume replays.
#[test]
fn kill_and_resume_with_diversity_too() {
    let tmp = kill_and_resume(&["--diversity", "0.05"]);
    let records = records(&tmp.path().join("reference"));
    let near = records
        .iter()
        .filter(|r| {
            r["reason"]
                .as_str()
                .is_some_and(|w| w.starts_with("near-duplicate of `"))
        })
        .count();
    assert!(near > 0, "no near-duplicate was replaced");
}

/// Runs a search to the end, and the same search killed at random moments and resumed
/// until it finishes; asserts both have the same records. Returns the folder holding
/// `reference` and `killed`.
fn kill_and_resume(extra: &[&str]) -> TempDir {
    let tmp = TempDir::new().unwrap();
    let reference = tmp.path().join("reference");
    let killed = tmp.path().join("killed");
    let (reference_s, killed_s) = (reference.to_str().unwrap(), killed.to_str().unwrap());
    let delayed = [extra, &["--eval-delay-ms", "25"]].concat();
    ok(actfn(&evolution_args(reference_s, extra)));

    // Kill moments from a fixed xorshift, so a failure reproduces. A run killed before it
    // recorded anything (a slow start on a busy machine) makes later kills come later.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random_ms = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % 250
    };
    let mut base_ms = 30;
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..30 {
        let args: Vec<&str> = if killed.join("config.ron").exists() {
            vec!["search", "--resume", killed_s]
        } else {
            evolution_args(killed_s, &delayed)
        };
        let before = complete_records(&killed).len();
        let mut child = Command::new(env!("CARGO_BIN_EXE_actfn"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_millis(base_ms + random_ms());
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                assert!(status.success(), "{err}");
                finished = true;
                break;
            }
            if Instant::now() >= deadline {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished {
            break;
        }
        // Never a second record for one address, whatever the moment of the kill.
        let mut ids = complete_records(&killed);
        let n = ids.len();
        if n == before {
            base_ms += 100;
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "a record was written twice");
    }
    eprintln!("{kills} kills; finished by itself: {finished}; last base delay {base_ms} ms");
    // 38 trainings of 25 ms and the first kills within 280 ms: at least three kills land.
    assert!(kills >= 3, "only {kills} kills landed");
    if !finished {
        ok(actfn(&if killed.join("config.ron").exists() {
            vec!["search", "--resume", killed_s]
        } else {
            evolution_args(killed_s, &delayed)
        }));
    }
    let (a, b) = (records(&reference), records(&killed));
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
    let (ra, rb) = (report_json(&reference), report_json(&killed));
    assert_eq!(ra["top"], rb["top"]);
    assert_eq!(ra["generations"], rb["generations"]);
    // Resuming a finished search evaluates nothing.
    ok(actfn(&["search", "--resume", killed_s]));
    assert_eq!(records(&killed), b);
    tmp
}

/// The addresses of the complete records of a search directory (none if it has no file).
fn complete_records(dir: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(dir.join("records.jsonl")) else {
        return Vec::new();
    };
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["generation"].as_u64().unwrap(),
                v["index"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn truncated_last_line_is_dropped_and_corruption_refused() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("s");
    let dir_s = dir.to_str().unwrap();
    ok(actfn(&evolution_args(dir_s, &[])));
    let full = records(&dir);
    let path = dir.join("records.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cut the file in the middle of line 10: the run resumes from line 9.
    let mut cut = lines[..9].join("\n");
    cut.push('\n');
    cut.push_str(&lines[9][..lines[9].len() / 2]);
    std::fs::write(&path, &cut).unwrap();
    let out = ok(actfn(&["search", "--resume", dir_s]));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 10: dropped a truncated last line"),
        "{err}"
    );
    assert_eq!(records(&dir), full);
    // A corrupt line in the middle is an error naming the file and the line.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = "{\"generation\": 0, garbage".into();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = fails(actfn(&["search", "--resume", dir_s]));
    assert!(
        err.contains("records.jsonl: line 5: corrupt record"),
        "{err}"
    );
    // Another configuration in the same directory is refused, naming what differs.
    let err = fails(actfn(&[
        "search",
        "--task",
        "fit",
        "--target",
        S2_TARGET,
        "--strategy",
        "random",
        "--seed",
        "12",
        "--out",
        dir_s,
    ]));
    assert!(err.contains("different configuration"), "{err}");
    assert!(err.contains("search.seed: 11 -> 12"), "{err}");
    // A record repeated mid-file is refused by `report` as by `resume`: one reader.
    let mut repeated = lines.clone();
    repeated[4] = repeated[2].clone();
    std::fs::write(&path, repeated.join("\n") + "\n").unwrap();
    for args in [["search", "--resume", dir_s], ["report", dir_s, "--json"]] {
        let err = fails(actfn(&args));
        assert!(
            err.contains("line 5: corrupt record: a second record for generation"),
            "{args:?}: {err}"
        );
    }
    // A directory whose search never wrote its configuration (killed while preparing
    // data) says so, and how to go on.
    let never = tmp.path().join("never");
    std::fs::create_dir(&never).unwrap();
    let err = fails(actfn(&["search", "--resume", never.to_str().unwrap()]));
    assert!(
        err.contains("no search configuration")
            && err.contains("run the original search command again"),
        "{err}"
    );
}

#[test]
fn report_counts_and_paper_exact_mode() {
    let tmp = TempDir::new().unwrap();
    let (a, b) = (tmp.path().join("default"), tmp.path().join("paper"));
    let common = [
        "search",
        "--task",
        "fit",
        "--target",
        "x",
        "--strategy",
        "random",
        "--depth",
        "1",
        "--population",
        "40",
        "--generations",
        "3",
        "--grid-points",
        "50",
        "--seed",
        "5",
        "--out",
    ];
    let mut args: Vec<&str> = common.to_vec();
    args.push(a.to_str().unwrap());
    ok(actfn(&args));
    let mut args: Vec<&str> = common.to_vec();
    args.extend([b.to_str().unwrap(), "--paper-exact"]);
    ok(actfn(&args));
    let (ra, rb) = (report_json(&a), report_json(&b));
    for key in [
        "evaluations",
        "trained",
        "top",
        "generations",
        "duplicates",
        "rejected",
        "trainings_saved",
    ] {
        assert!(ra.get(key).is_some(), "{key} missing: {ra}");
    }
    // With waste replaced, all 120 places are filled by trainings; in the paper's mode,
    // wasted draws keep their places untrained.
    assert_eq!(ra["trained"], 120, "{ra}");
    assert_eq!(rb["evaluations"], 120, "{rb}");
    assert!(rb["trained"].as_u64().unwrap() < 120, "{rb}");
    assert_eq!(
        ra["evaluations"].as_u64().unwrap(),
        120 + ra["trainings_saved"].as_u64().unwrap()
    );
    for g in ra["generations"].as_array().unwrap() {
        assert!(g["best_val_acc"].is_number() && g["best_val_loss"].is_number());
    }
    let text = String::from_utf8(ok(actfn(&["report", a.to_str().unwrap()])).stdout).unwrap();
    assert!(text.contains("trainings saved"), "{text}");
    assert!(text.contains("top 3 by validation accuracy"), "{text}");
}

#[test]
fn resume_needs_a_search_directory() {
    let tmp = TempDir::new().unwrap();
    let err = fails(actfn(&["search", "--resume", tmp.path().to_str().unwrap()]));
    assert!(err.contains("cannot resume"), "{err}");
    let err = fails(actfn(&[
        "search",
        "--task",
        "fit",
        "--strategy",
        "random",
        "--seed",
        "1",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]));
    assert!(err.contains("--target"), "{err}");
}
