//! The exit codes every command follows, and the one line printed on failure.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the job succeeded (a diverged training is a result: status `diverged`) |
//! | 1 | the job ran and failed (a training that raised an error, an internal error) |
//! | 2 | bad input: arguments, expressions, files or data that cannot be used |
//!
//! Errors are bad input unless they are a [`JobFailed`]. A panic prints one line, without
//! a backtrace unless `RUST_BACKTRACE` is set.

use std::fmt;
use std::process::ExitCode;

/// Exit code of a job that ran and failed.
pub const JOB_FAILED: u8 = 1;
/// Exit code of bad input.
pub const BAD_INPUT: u8 = 2;

/// A job that ran and did not succeed (exit code 1).
#[derive(Debug)]
pub struct JobFailed(pub String);

impl fmt::Display for JobFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JobFailed {}

/// The first line of a message: libtorch's errors carry a C++ backtrace after it, as real
/// line breaks or, inside a `Debug`-formatted error, as escaped ones (`\n`).
pub fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("");
    line.split("\\n").next().unwrap_or("").trim_end()
}

/// Ends a run whose arguments clap refused: `--help` and `--version` print and exit 0;
/// anything else is bad input, reported as clap's first line (what is wrong), with a
/// pointer to `--help` instead of clap's usage block.
pub fn bad_arguments(err: clap::Error) -> ExitCode {
    if !err.use_stderr() {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "actfn: {} (see --help)",
        clap_message(&err.render().to_string())
    );
    ExitCode::from(BAD_INPUT)
}

/// The first paragraph of clap's error text on one line: what is wrong, including a list
/// of missing arguments, without the usage block.
fn clap_message(rendered: &str) -> String {
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let text = paragraph.join(" ");
    text.strip_prefix("error: ").unwrap_or(&text).to_owned()
}

/// Whether a user asked for backtraces.
fn backtraces_wanted() -> bool {
    std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0")
}

/// Silences the panic message of panics that the trainer catches and reports; with
/// `RUST_BACKTRACE` set, Rust's own message and backtrace are kept.
pub fn install_panic_hook() {
    if !backtraces_wanted() {
        std::panic::set_hook(Box::new(|_| {}));
    }
}

/// Runs a command and turns its outcome into one line on stderr and an exit code.
pub fn run_to_exit_code(job: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            let code = if err.downcast_ref::<JobFailed>().is_some() {
                JOB_FAILED
            } else {
                BAD_INPUT
            };
            let text = format!("{err:#}");
            if backtraces_wanted() {
                eprintln!("actfn: {text}");
            } else {
                eprintln!("actfn: {}", first_line(&text));
            }
            ExitCode::from(code)
        }
        Err(payload) => {
            let message = actfn_evo::evaluator::panic_message(payload.as_ref());
            eprintln!("actfn: internal error: {}", first_line(&message));
            ExitCode::from(JOB_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  --task <TASK>\n  --seed <SEED>\n\nUsage: actfn search --task <TASK>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_message(rendered),
            "the following required arguments were not provided: --task <TASK> --seed <SEED>"
        );
    }

    #[test]
    fn first_line_drops_libtorch_backtraces() {
        let text = "cannot allocate memory\nException raised from ...\nframe #0: ...";
        assert_eq!(first_line(text), "cannot allocate memory");
        let debug = r#"Torch("can't allocate memory\nframe #0: c10::alloc_cpu")"#;
        assert_eq!(first_line(debug), r#"Torch("can't allocate memory"#);
        assert_eq!(first_line(""), "");
    }
}
