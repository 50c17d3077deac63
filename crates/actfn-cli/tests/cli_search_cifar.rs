//! End-to-end test of `actfn search --task cifar10`: the real binary trains WRN-10-1 on a
//! small synthetic data set in the official CIFAR-10 binary layout, with the default
//! preprocessing (centring and ZCA). The data folder lives in cargo's target tmp folder so
//! that the whitening fitted on the first run (half a minute on two cores) is cached for
//! later runs.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{actfn, comparable_records, fails, ok};

/// Pixel bytes of synthetic image `i` of file `file`: a class-dependent brightness plus
/// pseudo-random noise.
fn image(file: u64, i: u64, label: u8) -> Vec<u8> {
    let mut state = (file << 32 | i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..3072)
        .map(|p| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let channel = p / 1024;
            let shift = if channel == usize::from(label % 3) {
                20 * u64::from(label)
            } else {
                0
            };
            ((state % 64) + shift).min(255) as u8
        })
        .collect()
}

/// Synthetic CIFAR-10 (`per_class` images of each class in each of the five training
/// files and the test file) in `data_dir/cifar-10-batches-bin/`, written once.
fn synthetic_cifar10(data_dir: &Path, per_class: u64) {
    let dir = data_dir.join("cifar-10-batches-bin");
    let files = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ];
    if files.iter().all(|f| dir.join(f).is_file()) {
        return;
    }
    std::fs::create_dir_all(&dir).unwrap();
    for (k, name) in files.iter().enumerate() {
        let mut bytes = Vec::new();
        for i in 0..per_class * 10 {
            let label = (i % 10) as u8;
            bytes.push(label);
            bytes.extend(image(k as u64, i, label));
        }
        // Written under another name and renamed: a killed run leaves no short file.
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_search_cifar_data");
    synthetic_cifar10(&dir, 8);
    dir
}

fn search_args<'a>(out: &'a str, data: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "search",
        "--task",
        "cifar10",
        "--strategy",
        "random",
        "--population",
        "2",
        "--generations",
        "1",
        "--wrn-depth",
        "10",
        "--wrn-width",
        "1",
        "--epochs",
        "1",
        "--train-size",
        "256",
        "--val-per-class",
        "5",
        "--seed",
        "1",
        "--test-size",
        "0",
        "--out",
        out,
        "--data-dir",
        data,
        // The synthetic files hold 80 records each, not the official 10,000.
        "--allow-partial",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn cifar_search_records_reports_resumes_and_refuses_another_configuration() {
    let data = data_dir();
    let data_s = data.to_str().unwrap();
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("search");
    let out_s = out.to_str().unwrap();

    // Without --allow-partial, the short files are refused, naming the count.
    let strict_out = tmp.path().join("strict");
    let strict: Vec<&str> = search_args(strict_out.to_str().unwrap(), data_s, &[])
        .into_iter()
        .filter(|a| *a != "--allow-partial")
        .collect();
    let err = fails(actfn(&strict));
    assert!(
        err.contains("80 records, but the official file holds 10000")
            && err.contains("--allow-partial"),
        "{err}"
    );

    // A fresh search: two candidates trained, one line each on stderr.
    let run = ok(actfn(&search_args(out_s, data_s, &["--threads", "2"])));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("cifar10: 256 training and 50 validation images"),
        "{stderr}"
    );
    assert!(stderr.contains("candidate 1/2: "), "{stderr}");
    assert!(stderr.contains("candidate 2/2: "), "{stderr}");
    let records_path = out.join("records.jsonl");
    let records = std::fs::read_to_string(&records_path).unwrap();
    let parsed: Vec<Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let trained: Vec<&Value> = parsed
        .iter()
        .filter(|r| r["duplicate_of"].is_null() && r["status"] != "rejected")
        .collect();
    assert_eq!(trained.len(), 2, "{records}");
    for r in &trained {
        assert_eq!(r["seed"], 1);
        assert_eq!(r["epochs"], 1, "{r}");
        assert!(
            ["ok", "diverged"].contains(&r["status"].as_str().unwrap()),
            "{r}"
        );
    }
    let config = std::fs::read_to_string(out.join("config.ron")).unwrap();
    for needle in [
        "Cifar(",
        "dataset: cifar10",
        "val_per_class: 5",
        "train_size: Some(256)",
    ] {
        assert!(config.contains(needle), "{needle} not in {config}");
    }

    let report = ok(actfn(&["report", out_s, "--json"]));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["trained"], 2, "{report}");
    assert_eq!(report["evaluations"].as_u64(), Some(parsed.len() as u64));
    assert_eq!(
        report["ok"].as_u64().unwrap() + report["diverged"].as_u64().unwrap(),
        2
    );

    // Resume from the directory alone (the data folder may be given anew): nothing
    // trained again, the records untouched.
    let run = ok(actfn(&["search", "--resume", out_s, "--data-dir", data_s]));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("records were already there"),
        "{run:?}"
    );
    assert!(!String::from_utf8_lossy(&run.stderr).contains("candidate 1/"));
    assert_eq!(std::fs::read_to_string(&records_path).unwrap(), records);

    // The same command again, with another thread count and `--milestones ''` (1 epoch has
    // none anyway): the same search, continued.
    ok(actfn(&search_args(
        out_s,
        data_s,
        &["--threads", "1", "--milestones", ""],
    )));
    assert_eq!(std::fs::read_to_string(&records_path).unwrap(), records);

    // Another training configuration in the same directory is refused, naming the field.
    let err = fails(actfn(&search_args(out_s, data_s, &["--batch", "64"])));
    assert!(err.contains("different configuration"), "{err}");
    assert!(err.contains("batch_size: 128 -> 64"), "{err}");
    // Training options do not go with --resume.
    let err = fails(actfn(&["search", "--resume", out_s, "--epochs", "2"]));
    assert!(err.contains("--epochs"), "{err}");
    assert_eq!(std::fs::read_to_string(&records_path).unwrap(), records);
}

#[test]
fn missing_data_says_how_to_fetch_it() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("search");
    let empty = tmp.path().join("nodata");
    let err = fails(actfn(&search_args(
        out.to_str().unwrap(),
        empty.to_str().unwrap(),
        &[],
    )));
    assert!(err.contains("actfn data fetch cifar10"), "{err}");
    assert!(err.contains("--from PATH"), "{err}");
    assert!(!out.join("config.ron").exists());
    let err = fails(actfn(&search_args(
        out.to_str().unwrap(),
        empty.to_str().unwrap(),
        &["--milestones", "25,x"],
    )));
    assert!(err.contains("`x` is not an epoch number"), "{err}");
}

/// An exhaustive search of the six functions `u(x) * v(x)` over tanh, atan and exp, with
/// `extra` options.
fn products_search<'a>(out: &'a str, data: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "search",
        "--task",
        "cifar10",
        "--strategy",
        "exhaustive",
        "--depth",
        "1",
        "--unary",
        "tanh,atan,exp",
        "--binary",
        "mul",
        "--population",
        "9",
        "--wrn-depth",
        "10",
        "--wrn-width",
        "1",
        "--epochs",
        "1",
        "--train-size",
        "256",
        "--val-per-class",
        "5",
        "--seed",
        "1",
        "--threads",
        "1",
        "--out",
        out,
        "--data-dir",
        data,
        "--allow-partial",
    ];
    args.extend_from_slice(extra);
    args
}

/// `--precheck` records a candidate it stops as diverged (`pre-check: ...`, no epoch run)
/// and leaves every candidate that passes bit for bit as trained without it, inline and
/// through `actfn evaluate` workers alike.
#[test]
fn precheck_stops_divergers_and_leaves_passing_candidates_bit_for_bit() {
    let data = data_dir();
    let data_s = data.to_str().unwrap();
    let tmp = TempDir::new().unwrap();
    let dirs: Vec<PathBuf> = ["plain", "checked", "workers", "strict"]
        .iter()
        .map(|n| tmp.path().join(n))
        .collect();
    let s: Vec<&str> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
    ok(actfn(&products_search(s[0], data_s, &[])));
    ok(actfn(&products_search(s[1], data_s, &["--precheck"])));
    ok(actfn(&products_search(
        s[2],
        data_s,
        &["--precheck", "--executor", "local", "--jobs", "2"],
    )));
    // A loss bound below ln(10), which every network exceeds at its first step.
    ok(actfn(&products_search(
        s[3],
        data_s,
        &["--precheck", "--precheck-loss-factor", "0.01"],
    )));

    let plain_config = std::fs::read_to_string(dirs[0].join("config.ron")).unwrap();
    assert!(!plain_config.contains("precheck:"), "{plain_config}");
    let checked_config = std::fs::read_to_string(dirs[1].join("config.ron")).unwrap();
    assert!(
        checked_config.contains(
            "precheck: Some((\n                steps: 3,\n                loss_factor: 500.0,"
        ),
        "{checked_config}"
    );

    let plain = comparable_records(&dirs[0], true);
    let checked = comparable_records(&dirs[1], true);
    assert_eq!(plain.len(), checked.len());
    let mut passed = 0;
    for (p, c) in plain.iter().zip(&checked) {
        let stopped = c["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("pre-check: "));
        if stopped {
            assert_eq!(c["status"], "diverged", "{c}");
            assert_eq!(c["epochs"], 0, "{c}");
            assert_eq!(
                p["status"], "diverged",
                "the pre-check stopped {c}, which trains fine"
            );
        } else {
            assert_eq!(
                p, c,
                "a candidate that passes trains as without the pre-check"
            );
            passed += usize::from(c["duplicate_of"].is_null());
        }
    }
    assert!(passed >= 2, "{checked:?}");
    // Workers check the same way.
    assert_eq!(
        comparable_records(&dirs[2], false),
        comparable_records(&dirs[1], false)
    );
    // Every trained candidate stopped by the bound, with the reason saying so.
    let strict = comparable_records(&dirs[3], true);
    let trained: Vec<&Value> = strict
        .iter()
        .filter(|r| r["duplicate_of"].is_null())
        .collect();
    assert_eq!(trained.len(), 6, "{strict:?}");
    for r in trained {
        assert_eq!(r["status"], "diverged", "{r}");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason == "pre-check: training loss is NaN at step 1"
                || (reason.starts_with("pre-check: training loss ")
                    && reason.ends_with("at step 1 is above 0.0230 (0.01 ln 10)")),
            "{reason}"
        );
    }
}

/// A search trains the network `--arch` names, records it in its configuration, and
/// resumes from it without being told again.
#[test]
fn search_with_another_network_records_and_resumes_it() {
    let data = data_dir();
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("resnet");
    let out_s = out.to_str().unwrap();
    let args = search_args(out_s, data.to_str().unwrap(), &["--arch", "resnet-8"]);
    // --arch names the network alone: drop the WRN's options.
    let mut without_wrn = Vec::new();
    let mut skip = 0;
    for a in args {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if a == "--wrn-depth" || a == "--wrn-width" {
            skip = 1;
            continue;
        }
        without_wrn.push(a);
    }
    ok(actfn(&without_wrn));
    let config = std::fs::read_to_string(out.join("config.ron")).unwrap();
    assert!(config.contains("arch: Some(\"resnet-8\")"), "{config}");
    let records = comparable_records(&out, false);
    assert_eq!(records.len(), 2, "{records:?}");
    // Resuming trains nothing more and leaves the records as they were.
    ok(actfn(&[
        "search",
        "--resume",
        out_s,
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(comparable_records(&out, false), records);
    // --arch is part of the configuration: it cannot be given anew on resume.
    let out2 = actfn(&["search", "--resume", out_s, "--arch", "resnet-14"]);
    assert_eq!(out2.status.code(), Some(2), "{out2:?}");
}
