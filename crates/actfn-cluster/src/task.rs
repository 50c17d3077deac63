//! What a runner runs: an opaque command that publishes one result file.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::{ClusterError, Result};

/// One unit of work: run `argv` in `dir` with `env` added to the environment, its standard
/// output and error appended to `log`; it is done when it has published `result` (with
/// [`publish_atomically`](crate::publish_atomically) or an equivalent rename).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The program and its arguments.
    pub argv: Vec<OsString>,
    /// Variables added to (or replacing in) the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory of the command.
    pub dir: PathBuf,
    /// File the command's output is appended to, one header line per attempt.
    pub log: PathBuf,
    /// File whose existence means the task is done.
    pub result: PathBuf,
}

impl Task {
    /// A task running `argv` in `dir`, logging to `log` and publishing `result`.
    pub fn new<I, S>(
        argv: I,
        dir: impl Into<PathBuf>,
        log: impl Into<PathBuf>,
        result: impl Into<PathBuf>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            dir: dir.into(),
            log: log.into(),
            result: result.into(),
        }
    }

    /// Adds one environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Checks what every runner needs: a program, and variable names a shell can set.
    pub(crate) fn check(&self, index: usize) -> Result<()> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(ClusterError::InvalidTask {
                index,
                why: "empty command".into(),
            });
        }
        for (key, _) in &self.env {
            let ok = key.to_str().is_some_and(|k| {
                let mut chars = k.chars();
                chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if !ok {
                return Err(ClusterError::InvalidTask {
                    index,
                    why: format!("environment variable name {key:?} is not a shell identifier"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_command_and_variable_names() {
        let t = Task::new(["true"], "/", "/l", "/r");
        assert!(t.check(0).is_ok());
        assert!(t.clone().env("CUDA_VISIBLE_DEVICES", "0").check(0).is_ok());
        let err = t.clone().env("A-B", "1").check(3).unwrap_err().to_string();
        assert!(err.contains("task 3") && err.contains("A-B"), "{err}");
        let empty = Task::new(Vec::<String>::new(), "/", "/l", "/r");
        assert!(empty
            .check(0)
            .unwrap_err()
            .to_string()
            .contains("empty command"));
    }
}
