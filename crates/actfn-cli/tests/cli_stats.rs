//! End-to-end tests of `actfn stats`: the real binary, run in a fresh temporary
//! directory, checked on its JSON output, text output, error messages and exit codes.

use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::actfn_in as actfn;

/// A temporary directory holding the given files.
fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one JSON object: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

/// Asserts a failure with exit code 2 and a one-line message containing `needle`.
fn assert_fails_with(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    assert!(out.stdout.is_empty());
}

fn close(v: &Value, expected: f64, tol: f64) -> bool {
    let x = v.as_f64().unwrap_or(f64::NAN);
    (x - expected).abs() <= tol * expected.abs()
}

// Reference values from SciPy 1.17.1 / NumPy 2.4.6:
// scipy.stats.ttest_ind(a, b) and ttest_ind(a, b, equal_var=False), np.std(ddof=1).
const A: &str = "94.1\n93.8\n94.3\n\n94.0\n93.9\n94.2\n94.05\n";
const B: &str = "93.7\n93.9\n93.6\n94.0\n93.8\n";

#[test]
fn ttest_json_matches_scipy() {
    let dir = dir_with(&[("a.txt", A), ("b.txt", B)]);
    let v = stdout_json(&actfn(
        dir.path(),
        &["stats", "ttest", "a.txt", "b.txt", "--json"],
    ));
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "b", "student", "welch"]);

    assert!(close(&v["student"]["t"], 2.5746432527220326, 1e-12), "{v}");
    assert_eq!(v["student"]["df"], 10.0);
    assert!(close(&v["student"]["p"], 0.02766940398060168, 1e-9), "{v}");
    assert!(close(&v["welch"]["t"], 2.6111648393353035, 1e-12), "{v}");
    assert!(close(&v["welch"]["df"], 9.189873417721426, 1e-12), "{v}");
    assert!(close(&v["welch"]["p"], 0.027752104109645726, 1e-9), "{v}");

    assert_eq!(v["a"]["n"], 7);
    assert!(close(&v["a"]["mean"], 94.05, 1e-14));
    assert!(close(&v["a"]["sd"], 0.17078251276599263, 1e-12));
    assert!(close(&v["a"]["median"], 94.05, 1e-14));
    assert_eq!(v["b"]["n"], 5);
    assert!(close(&v["b"]["mean"], 93.8, 1e-14));
    assert!(close(&v["b"]["sd"], 0.15811388300842122, 1e-12));
    assert!(close(&v["b"]["median"], 93.8, 1e-14));
}

#[test]
fn ttest_text_output_names_both_tests() {
    let dir = dir_with(&[("a.txt", A), ("b.txt", B)]);
    let out = actfn(dir.path(), &["stats", "ttest", "a.txt", "b.txt"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let student = text.lines().find(|l| l.starts_with("Student")).unwrap();
    assert!(
        student.contains("2.57464") && student.contains("0.0276694"),
        "{text}"
    );
    let welch = text.lines().find(|l| l.starts_with("Welch")).unwrap();
    assert!(welch.contains("9.18987"), "{text}");
    assert!(text.contains("a.txt") && text.contains("b.txt"), "{text}");
}

#[test]
fn ttest_reads_a_csv_column() {
    let dir = dir_with(&[
        (
            "a.csv",
            "run,acc\n1,94.1\n2,93.8\n3,94.3\n4,94.0\n5,93.9\n6,94.2\n7,94.05\n",
        ),
        (
            "b.csv",
            "run, acc\n1, 93.7\n2, 93.9\n3, 93.6\n4, 94.0\n5, 93.8\n",
        ),
    ]);
    let v = stdout_json(&actfn(
        dir.path(),
        &[
            "stats", "ttest", "a.csv", "b.csv", "--column", "acc", "--json",
        ],
    ));
    assert!(close(&v["student"]["t"], 2.5746432527220326, 1e-12), "{v}");
    assert_eq!(v["a"]["n"], 7);
}

#[test]
fn summary_json_and_text() {
    let dir = dir_with(&[("a.txt", A)]);
    let v = stdout_json(&actfn(dir.path(), &["stats", "summary", "a.txt", "--json"]));
    assert_eq!(v["n"], 7);
    assert!(close(&v["mean"], 94.05, 1e-14));
    assert!(close(&v["sd"], 0.17078251276599263, 1e-12));
    assert_eq!(v["min"], 93.8);
    assert_eq!(v["max"], 94.3);

    let out = actfn(dir.path(), &["stats", "summary", "a.txt"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("median  94.05"), "{text}");
}

#[test]
fn non_numeric_line_names_file_and_line() {
    let dir = dir_with(&[("a.txt", "1\n2\nabc\n"), ("b.txt", B)]);
    let out = actfn(dir.path(), &["stats", "ttest", "a.txt", "b.txt"]);
    assert_fails_with(&out, r#"a.txt:3: not a number: "abc""#);
    let dir = dir_with(&[("a.txt", A), ("b.txt", "1\n\ninf\n")]);
    let out = actfn(dir.path(), &["stats", "ttest", "a.txt", "b.txt", "--json"]);
    assert_fails_with(&out, r#"b.txt:3: not a finite number: "inf""#);
}

#[test]
fn missing_file_is_named() {
    let dir = dir_with(&[("a.txt", A)]);
    let out = actfn(dir.path(), &["stats", "ttest", "a.txt", "nope.txt"]);
    assert_fails_with(&out, "cannot read nope.txt");
}

#[test]
fn missing_column_and_bad_cell_are_named() {
    let dir = dir_with(&[
        ("a.csv", "run,acc\n1,94\n2,x\n"),
        ("b.csv", "run,acc\n1,93\n2,94\n"),
    ]);
    let out = actfn(
        dir.path(),
        &["stats", "summary", "b.csv", "--column", "loss"],
    );
    assert_fails_with(&out, r#"b.csv: no column "loss" (columns: run, acc)"#);
    let out = actfn(
        dir.path(),
        &["stats", "ttest", "a.csv", "b.csv", "--column", "acc"],
    );
    assert_fails_with(&out, r#"a.csv:3: not a number: "x""#);
}

#[test]
fn too_few_values_and_constant_samples() {
    let dir = dir_with(&[
        ("one.txt", "5\n"),
        ("c1.txt", "1\n1\n"),
        ("c2.txt", "2\n2\n2\n"),
        ("b.txt", B),
    ]);
    let out = actfn(dir.path(), &["stats", "ttest", "one.txt", "b.txt"]);
    assert_fails_with(&out, "one.txt: need at least 2 values for a t-test, got 1");
    let out = actfn(dir.path(), &["stats", "ttest", "c1.txt", "c2.txt"]);
    assert_fails_with(
        &out,
        "t-test of c1.txt against c2.txt: zero variance in both groups",
    );
    let empty = dir_with(&[("e.txt", "\n\n")]);
    let out = actfn(empty.path(), &["stats", "summary", "e.txt"]);
    assert_fails_with(&out, "e.txt: too few samples: need at least 1, got 0");
}
