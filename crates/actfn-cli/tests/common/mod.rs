//! Helpers shared by the CLI integration tests: run the real `actfn` binary and check how
//! it ended.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

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
