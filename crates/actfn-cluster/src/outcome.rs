//! How a task ended, and the words a failure is reported with.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitStatus;

/// The end of one task after all its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The result file exists. `attempts` counts the attempts this runner (and, for Slurm,
    /// earlier controllers on the same journal) made; 0 when it was published before.
    Published { attempts: u32 },
    /// Every allowed attempt ended without publishing the result.
    Failed { attempts: u32, reason: String },
}

impl Outcome {
    /// Whether the result was published.
    pub fn is_published(&self) -> bool {
        matches!(self, Self::Published { .. })
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Published { attempts } | Self::Failed { attempts, .. } => *attempts,
        }
    }
}

/// "exit status 3" or "killed by signal 9 (SIGKILL)".
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => format!("killed by signal {sig}{}", signal_name(sig)),
        None => status.to_string(),
    }
}

pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        10 => " (SIGUSR1)",
        11 => " (SIGSEGV)",
        12 => " (SIGUSR2)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// The last `lines` lines of the file at `path` (read from its last 8 KiB), or a note
/// saying why there are none; never fails, since it only decorates a failure report.
pub fn log_tail(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 8 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(WINDOW)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            if tail.is_empty() {
                format!("{} is empty", path.display())
            } else {
                format!("last lines of {}:\n{}", path.display(), tail.join("\n"))
            }
        }
        Err(e) => format!("no log at {} ({e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn describes_codes_and_signals() {
        assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9)),
            "killed by signal 9 (SIGKILL)"
        );
    }

    #[test]
    fn tails_logs() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        assert!(log_tail(&log, 3).starts_with("no log at"));
        std::fs::write(&log, "a\nb\nc\nd\n").unwrap();
        assert!(log_tail(&log, 2).ends_with("c\nd"));
    }
}
