//! End-to-end tests of `actfn model`, `actfn train` and `actfn bench`: the real binary, run
//! in a fresh temporary directory.
//!
//! The training tests use the CIFAR-10 tarball in `$ACTFN_DATA_TARBALLS` or
//! `<repo>/../shared/data/` (development machines and CI); elsewhere they are skipped with a
//! note.

use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::actfn_in as actfn;

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts a failure with exit code 2 and a message containing `needle`.
fn assert_fails_with(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn model_summary_prints_the_reference_parameter_counts() {
    let dir = TempDir::new().unwrap();
    let text = stdout(&actfn(
        dir.path(),
        &[
            "model",
            "summary",
            "--depth",
            "28",
            "--width",
            "10",
            "--classes",
            "10",
        ],
    ));
    assert!(text.lines().any(|l| l == "parameters: 36479194"), "{text}");
    assert!(text.contains("wrn-28-10"), "{text}");
    let text = stdout(&actfn(
        dir.path(),
        &[
            "model",
            "summary",
            "--depth",
            "40",
            "--width",
            "4",
            "--classes",
            "10",
        ],
    ));
    assert!(text.lines().any(|l| l == "parameters: 8949210"), "{text}");
    let text = stdout(&actfn(
        dir.path(),
        &[
            "model",
            "summary",
            "--depth",
            "10",
            "--width",
            "1",
            "--classes",
            "100",
        ],
    ));
    assert!(text.lines().any(|l| l == "parameters: 83700"), "{text}");
}

#[test]
fn model_summary_rejects_impossible_depths() {
    let dir = TempDir::new().unwrap();
    let out = actfn(
        dir.path(),
        &["model", "summary", "--depth", "27", "--width", "10"],
    );
    assert_fails_with(&out, "depth 27 is not 6n + 4");
}

#[test]
fn train_without_data_says_how_to_fetch_it() {
    let dir = TempDir::new().unwrap();
    let out = actfn(
        dir.path(),
        &[
            "train",
            "--activation",
            "relu(x)",
            "--dataset",
            "cifar10",
            "--depth",
            "10",
        ],
    );
    assert_fails_with(&out, "actfn data fetch cifar10");
}

#[test]
fn train_rejects_a_bad_activation() {
    let dir = TempDir::new().unwrap();
    let out = actfn(
        dir.path(),
        &["train", "--activation", "relu(x", "--depth", "10"],
    );
    assert_fails_with(&out, "cannot read the activation");
}

#[test]
fn bench_step_reports_time_and_memory() {
    let dir = TempDir::new().unwrap();
    let text = stdout(&actfn(
        dir.path(),
        &[
            "bench",
            "step",
            "--depth",
            "10",
            "--width",
            "1",
            "--batch",
            "8",
            "--steps",
            "2",
            "--activation",
            "tanh(x) * min(x, 0)",
            "--threads",
            "1",
            "--json",
        ],
    ));
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["steps"], 2);
    assert_eq!(v["parameters"], 77850);
    assert_eq!(v["mode"], "symbolic");
    assert_eq!(v["relu_fast_path"], false);
    assert!(v["median_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["peak_rss_bytes"].as_u64().unwrap_or(1) > 0);
}

/// A temporary folder with real CIFAR-10 fetched into `data/`; `None` (the test is
/// skipped with a note) where no tarball is to be found.
fn with_real_cifar10() -> Option<TempDir> {
    let dir = TempDir::new().unwrap();
    common::fetched_cifar10(dir.path())?;
    Some(dir)
}

/// One epoch of WRN-10-1 on 500 real CIFAR-10 images: the JSON line, the run's files,
/// and the same numbers again from the same seed (a fresh process each time).
#[test]
fn train_one_epoch_on_real_cifar10() {
    let Some(dir) = with_real_cifar10() else {
        return;
    };
    let args = [
        "train",
        "--activation",
        "tanh(x) * min(x, 0)",
        "--dataset",
        "cifar10",
        "--depth",
        "10",
        "--width",
        "1",
        "--epochs",
        "1",
        "--train-size",
        "500",
        "--val-per-class",
        "20",
        "--batch",
        "50",
        "--threads",
        "2",
        "--seed",
        "3",
        "--json",
    ];
    let mut with_out = args.to_vec();
    with_out.extend(["--out", "run", "--json-out", "result.json"]);
    let first = stdout(&actfn(dir.path(), &with_out));
    // `--json-out` writes the line that `--json` prints.
    let written = std::fs::read_to_string(dir.path().join("result.json")).unwrap();
    assert_eq!(written, first);
    assert_eq!(first.lines().count(), 1, "one JSON line: {first}");
    let v: Value = serde_json::from_str(first.trim()).unwrap();
    assert!(first.starts_with(r#"{"val_acc":"#), "{first}");
    let order: Vec<usize> = [
        "\"val_acc\"",
        "\"val_loss\"",
        "\"test_acc\"",
        "\"status\"",
        "\"seconds\"",
    ]
    .iter()
    .map(|k| first.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert_eq!(v.as_object().unwrap().len(), 5, "{first}");
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(v["status"], "ok");
    for key in ["val_acc", "test_acc"] {
        let acc = v[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{key} {acc}");
    }
    assert!(v["val_loss"].as_f64().unwrap() > 0.0);
    for file in [
        "config.ron",
        "data.ron",
        "metrics.csv",
        "outcome.ron",
        "checkpoint/state.ron",
    ] {
        assert!(dir.path().join("run").join(file).is_file(), "{file}");
    }
    let csv = std::fs::read_to_string(dir.path().join("run/metrics.csv")).unwrap();
    assert!(csv.starts_with("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n"));
    assert_eq!(csv.lines().count(), 2);

    // The defaults are recorded: ZCA ε 1e-2 and PyTorch's conv initialisation.
    let config = std::fs::read_to_string(dir.path().join("run/config.ron")).unwrap();
    assert!(config.contains("init: uniform"), "{config}");
    let data = std::fs::read_to_string(dir.path().join("run/data.ron")).unwrap();
    assert!(data.contains("zca_epsilon: 0.01"), "{data}");

    // Same seed, fresh process, no output folder: the same numbers (timing aside).
    let results = |text: &str| {
        let mut v: Value = serde_json::from_str(text.trim()).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    let second = stdout(&actfn(dir.path(), &args));
    assert_eq!(results(&second), results(&first));
    // Rerunning into the finished folder resumes after its last epoch: nothing to train.
    let third = stdout(&actfn(dir.path(), &with_out));
    assert_eq!(results(&third), results(&first));

    // The paper's initialisation and Keras' ε, asked for by name, are used and recorded.
    let mut paper = args.to_vec();
    paper.extend(["--init", "he", "--zca-epsilon", "1e-6", "--out", "paper"]);
    let fourth = stdout(&actfn(dir.path(), &paper));
    assert_ne!(results(&fourth), results(&first));
    // `he` is what configurations meant before the choice existed: it is written by
    // leaving the field out, so that they keep their hash.
    let config = std::fs::read_to_string(dir.path().join("paper/config.ron")).unwrap();
    assert!(!config.contains("init:"), "{config}");
    let data = std::fs::read_to_string(dir.path().join("paper/data.ron")).unwrap();
    assert!(
        data.contains("zca_epsilon: 0.000001") || data.contains("zca_epsilon: 1e-6"),
        "{data}"
    );
    let mut bad = args.to_vec();
    bad.extend(["--init", "kaiming"]);
    let out = actfn(dir.path(), &bad);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("kaiming"));

    // `data split` prints the images that `train --train-size 500 --val-per-class 20` used.
    let split = stdout(&actfn(
        dir.path(),
        &[
            "data",
            "split",
            "cifar10",
            "--train-size",
            "500",
            "--val-per-class",
            "20",
        ],
    ));
    let split: Value = serde_json::from_str(split.trim()).unwrap();
    let positions = |key: &str| -> Vec<u64> {
        split[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    let (train, val) = (positions("train"), positions("val"));
    assert_eq!((train.len(), val.len()), (500, 200));
    assert!(train.windows(2).all(|w| w[0] < w[1]) && val.windows(2).all(|w| w[0] < w[1]));
    assert!(train
        .iter()
        .all(|i| val.binary_search(i).is_err() && *i < 50_000));
}

/// The exit-code table (README): 0 for a finished or diverged training, 1 for a training
/// that failed, 2 for bad input; each with one line on stderr.
#[test]
fn exit_codes_follow_the_table() {
    let Some(dir) = with_real_cifar10() else {
        return;
    };
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--activation",
            "relu(x)",
            "--depth",
            "10",
            "--train-size",
            "300",
            "--val-per-class",
            "5",
            "--threads",
            "2",
            "--json",
        ];
        args.extend_from_slice(extra);
        // Without RUST_BACKTRACE, as a user runs it (the test harness may set it).
        std::process::Command::new(env!("CARGO_BIN_EXE_actfn"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap()
    };
    let one_line = |out: &Output| {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        err
    };

    // 0: a diverged training is a result.
    let out = run(&[
        "--width",
        "1",
        "--epochs",
        "1",
        "--test-size",
        "100",
        "--lr",
        "1e6",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["status"], "diverged");

    // 1: a training that fails (a network too large to allocate), one line, no backtrace.
    let out = run(&["--width", "100000", "--epochs", "1", "--test-size", "100"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = one_line(&out);
    assert!(
        err.contains("training failed") && err.contains("wrn-10-100000"),
        "{err}"
    );
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["status"], "failed");

    // 2: bad input, refused before any training.
    for (extra, needle) in [
        (&["--epochs", "0"][..], "--epochs 0"),
        (
            &["--epochs", "2", "--milestones", "2"][..],
            "epoch 2 is outside 1..2",
        ),
        (&["--test-size", "20000"][..], "test size 20000"),
        (&["--lr", "-0.1"][..], "learning rate -0.1"),
        (&["--zca-epsilon", "-1"][..], "zca epsilon -1"),
    ] {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {out:?}");
        let err = one_line(&out);
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?}");
    }
}

/// `model summary --arch` counts every network family; the counts are those of the PyTorch
/// definitions in experiments/parity/networks.py (`cargo xtask parity --counts`).
#[test]
fn model_summary_counts_every_network() {
    let dir = TempDir::new().unwrap();
    for (arch, classes, expected) in [
        ("resnet-20", "10", "269722"),
        ("resnet-56", "10", "853018"),
        ("allcnn-c", "10", "1372254"),
        ("allcnn-c-nobn", "10", "1369738"),
        ("mobilenetv2", "10", "2236682"),
        ("wrn-28-10", "10", "36479194"),
    ] {
        let text = stdout(&actfn(
            dir.path(),
            &["model", "summary", "--arch", arch, "--classes", classes],
        ));
        let line = format!("parameters: {expected}");
        assert!(text.lines().any(|l| l == line), "{arch}: {text}");
        assert!(
            text.starts_with(&format!("model: {arch} for {classes} classes")),
            "{text}"
        );
    }
    for (arch, needle) in [
        ("resnet-21", "6n + 2"),
        ("vgg-15", "11, 13, 16, 19"),
        ("densenet-121", "is not one of: wrn-D-K, resnet-N"),
    ] {
        let out = actfn(dir.path(), &["model", "summary", "--arch", arch]);
        assert_fails_with(&out, needle);
    }
    // A network is named once: --arch with a WRN's depth is a contradiction.
    let out = actfn(
        dir.path(),
        &["model", "summary", "--arch", "resnet-20", "--depth", "16"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Every network trains end to end through `train --arch` on real images, and records
/// its name in the run's configuration; a WRN keeps the text it always had.
#[test]
fn train_arch_runs_each_network_family() {
    let Some(dir) = with_real_cifar10() else {
        return;
    };
    for arch in [
        "resnet-8",
        "vgg-11",
        "allcnn-c-nobn",
        "mlp-32-2",
        "mobilenetv2",
    ] {
        let out_dir = format!("run-{arch}");
        let text = stdout(&actfn(
            dir.path(),
            &[
                "train",
                "--arch",
                arch,
                "--activation",
                "x * sigmoid(x)",
                "--epochs",
                "1",
                "--train-size",
                "100",
                "--val-per-class",
                "5",
                "--test-size",
                "50",
                "--batch",
                "25",
                "--threads",
                "2",
                "--json",
                "--out",
                &out_dir,
            ],
        ));
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["status"], "ok", "{arch}: {text}");
        let config = std::fs::read_to_string(dir.path().join(&out_dir).join("config.ron")).unwrap();
        assert!(
            config.contains(&format!("arch: Some(\"{arch}\")")),
            "{arch}: {config}"
        );
    }
}

/// `bench step --arch` measures another network than the default WRN.
#[test]
fn bench_step_takes_any_network() {
    let dir = TempDir::new().unwrap();
    let text = stdout(&actfn(
        dir.path(),
        &[
            "bench",
            "step",
            "--arch",
            "resnet-8",
            "--batch",
            "4",
            "--steps",
            "1",
            "--threads",
            "1",
            "--json",
        ],
    ));
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["network"], "resnet-8");
    assert_eq!(v["steps"], 1);
}
