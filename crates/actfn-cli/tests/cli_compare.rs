//! End-to-end tests of `actfn compare`: the real binary on real CIFAR-10 (skipped with a
//! note where no tarball is to be found), inline and on local workers, resumed, and refused
//! when a folder holds another comparison.

use std::path::Path;

use tempfile::TempDir;

mod common;
use common::{actfn_in, fails, ok};

/// A tiny recipe: ResNet-8, one epoch on 100 images, tested on 50, one thread.
fn compare_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "compare",
        "--arch",
        "resnet-8",
        "--activation",
        "max(x, 0)",
        "--activation",
        "x * sigmoid(x)",
        "--runs",
        "2",
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
        "1",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

/// runs.csv without the seconds column, which differs between equal trainings.
fn runs_without_seconds(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
        .collect()
}

#[test]
fn compare_trains_every_run_resumes_and_agrees_across_executors() {
    let dir = TempDir::new().unwrap();
    if common::fetched_cifar10(dir.path()).is_none() {
        return;
    }
    let out = ok(actfn_in(dir.path(), &compare_args("inline", &[])));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| `max(x, 0)` (baseline) | 2 | 0 |"),
        "{table}"
    );
    assert!(table.contains("`x * sigmoid(x)`"), "{table}");
    let inline = dir.path().join("inline");
    for file in ["compare.ron", "runs.csv", "compare.csv", "compare.md"] {
        assert!(inline.join(file).is_file(), "{file}");
    }
    let runs = runs_without_seconds(&inline);
    assert_eq!(runs[0], "function,run,seed,status,val_acc,test_acc");
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(runs[1].starts_with("\"max(x, 0)\",0,0,ok,"), "{runs:?}");
    assert!(runs[4].starts_with("x * sigmoid(x),1,1,ok,"), "{runs:?}");
    let config = std::fs::read_to_string(inline.join("compare.ron")).unwrap();
    assert!(config.contains("resnet-8"), "{config}");

    // Rerun: every run has its result, nothing is trained, the same table comes out.
    let before = std::fs::metadata(inline.join("runs/f1-r1/result.json"))
        .unwrap()
        .modified()
        .unwrap();
    let again = ok(actfn_in(dir.path(), &compare_args("inline", &[])));
    assert!(String::from_utf8_lossy(&again.stderr).contains("4 of 4 runs done, 0 to train"));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), table);
    let after = std::fs::metadata(inline.join("runs/f1-r1/result.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);

    // A lost result is trained again, to the same numbers.
    std::fs::remove_file(inline.join("runs/f0-r1/result.json")).unwrap();
    std::fs::remove_dir_all(inline.join("runs/f0-r1/checkpoint")).unwrap();
    ok(actfn_in(dir.path(), &compare_args("inline", &[])));
    assert_eq!(runs_without_seconds(&inline), runs);

    // The same comparison on two local workers gives the same runs.
    ok(actfn_in(
        dir.path(),
        &compare_args("local", &["--executor", "local", "--jobs", "2"]),
    ));
    assert_eq!(runs_without_seconds(&dir.path().join("local")), runs);

    // More runs of the same comparison: the four finished ones stay, two are added.
    let grown = compare_args("inline", &[]);
    let grown: Vec<&str> = grown
        .into_iter()
        .map(|a| if a == "2" { "3" } else { a })
        .collect();
    let out = ok(actfn_in(dir.path(), &grown));
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 of 6 runs done, 2 to train"));
    let more = runs_without_seconds(&inline);
    assert_eq!(more.len(), 7, "{more:?}");
    assert_eq!(&more[1..3], &runs[1..3]);
    assert_eq!(&more[4..6], &runs[3..5]);
    // Fewer runs than recorded is another comparison.
    let err = fails(actfn_in(dir.path(), &compare_args("inline", &[])));
    assert!(err.contains("3 runs from seed 0"), "{err}");

    // Another recipe in the same folder is refused before anything is trained.
    let err = fails(actfn_in(
        dir.path(),
        &compare_args("local", &["--seed", "7"]),
    ));
    assert!(
        err.contains("holds another comparison") && err.contains("2 runs from seed 0"),
        "{err}"
    );
}

#[test]
fn compare_refuses_bad_input_before_training() {
    let dir = TempDir::new().unwrap();
    for (extra, needle) in [
        (&["--runs", "0"][..], "--runs 0"),
        (&["--activation", "max(x, 0)"][..], "given twice"),
        (
            &["--activation", "relu(x"][..],
            "cannot read the activation",
        ),
        (&["--arch", "resnet-9"][..], "6n + 2"),
    ] {
        let mut args = vec!["compare", "--activation", "max(x, 0)", "--out", "c"];
        args.extend_from_slice(extra);
        let err = fails(actfn_in(dir.path(), &args));
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!dir.path().join("c").exists(), "{extra:?} wrote a folder");
    }
}
