//! Helpers shared by the CLI integration tests: run the real `actfn` binary, check how
//! it ended, and find the real CIFAR-10 the training tests use.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `actfn ARGS` in the current directory.
pub fn actfn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_actfn"))
        .args(args)
        .output()
        .expect("the actfn binary runs")
}

/// Runs `actfn ARGS` in `dir`.
pub fn actfn_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_actfn"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the actfn binary runs")
}

/// Asserts success and returns the output.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts exit code 2 and returns stderr.
pub fn fails(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected failure; stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The variable naming a folder of official-format CIFAR tarballs (as the xtask reads it).
const TARBALLS_VAR: &str = "ACTFN_DATA_TARBALLS";

/// The official CIFAR-10 tarball the real-data tests train on: in the folder that
/// `ACTFN_DATA_TARBALLS` names, else in `../shared/data` beside the checkout. `None`, with
/// a note saying where it looked, where there is none; a folder named by the variable
/// without it panics, since whoever set the variable expects these tests to run.
pub fn cifar10_tarball() -> Option<PathBuf> {
    const NAME: &str = "cifar-10-binary.tar.gz";
    if let Some(dir) = std::env::var_os(TARBALLS_VAR).filter(|d| !d.is_empty()) {
        let path = Path::new(&dir).join(NAME);
        assert!(
            path.is_file(),
            "{TARBALLS_VAR} names {}, which holds no {NAME}",
            Path::new(&dir).display()
        );
        return Some(path);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2)?;
    let path = repo.join("../shared/data").join(NAME);
    if path.is_file() {
        return Some(path);
    }
    eprintln!(
        "note: no {NAME} in {} and {TARBALLS_VAR} is unset; skipped",
        path.parent().unwrap_or(&path).display()
    );
    None
}

/// Real CIFAR-10 fetched into `dir/data` from [`cifar10_tarball`]; `None` (the test is
/// skipped, saying so) without one.
pub fn fetched_cifar10(dir: &Path) -> Option<PathBuf> {
    let tarball = cifar10_tarball()?;
    let data = dir.join("data");
    ok(actfn(&[
        "data",
        "fetch",
        "cifar10",
        "--from",
        tarball.to_str().expect("a UTF-8 path"),
        "--data-dir",
        data.to_str().expect("a UTF-8 path"),
    ]));
    Some(data)
}

/// The records of a search directory, without what differs between equal evaluations
/// (seconds, worker) and, where `hashless`, the configuration hash (which covers the
/// pre-check's settings), in file order; none while the file is not there yet.
pub fn comparable_records(dir: &Path, hashless: bool) -> Vec<Value> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("seconds");
            o.remove("worker");
            if hashless {
                o.remove("config_hash");
            }
            v
        })
        .collect()
}
