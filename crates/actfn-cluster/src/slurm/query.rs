//! Asking Slurm: `sbatch --parsable`, `scontrol show job -o`, `scontrol show config`,
//! `squeue --name`. There is no accounting database to ask (no sacct), so the state of a
//! finished task is read from slurmctld while it still holds it (MinJobAge), and a task it
//! no longer lists has ended.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::{ClusterError, Result};

/// A Slurm job state, as `scontrol` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Timeout,
    NodeFail,
    Preempted,
    OutOfMemory,
    BootFail,
    Deadline,
    /// Any other state (COMPLETING, SUSPENDED, REQUEUED, REQUEUE_HOLD, ...): the job is
    /// still Slurm's business.
    Other(String),
}

impl JobState {
    /// The state named by `text` (`CANCELLED+` and `CANCELLED by 0` read as CANCELLED).
    pub fn parse(text: &str) -> Self {
        let word = text
            .split(|c: char| c.is_whitespace() || c == '+')
            .next()
            .unwrap_or("");
        match word {
            "PENDING" => Self::Pending,
            "RUNNING" => Self::Running,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            "TIMEOUT" => Self::Timeout,
            "NODE_FAIL" => Self::NodeFail,
            "PREEMPTED" => Self::Preempted,
            "OUT_OF_MEMORY" => Self::OutOfMemory,
            "BOOT_FAIL" => Self::BootFail,
            "DEADLINE" => Self::Deadline,
            other => Self::Other(other.to_string()),
        }
    }

    /// Whether the task may still run (or is running): every state but the final ones.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Pending | Self::Running | Self::Other(_))
    }
}

/// One array task as slurmctld reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// The array's job id (`ArrayJobId`).
    pub array_job: String,
    /// The array index (`ArrayTaskId`).
    pub array_index: usize,
    /// `JobState`, e.g. `TIMEOUT`.
    pub state: String,
    /// `Reason`, e.g. `TimeLimit`, `NonZeroExitCode`, `BeginTime`.
    pub reason: String,
    /// `ExitCode` as `code:signal`.
    pub exit_code: String,
    /// `Restarts`: how often Slurm requeued it.
    pub restarts: u32,
}

impl TaskState {
    /// The parsed state.
    pub fn job_state(&self) -> JobState {
        JobState::parse(&self.state)
    }

    /// "TIMEOUT (TimeLimit), exit code 0:15, 1 restart".
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} ({}), exit code {}",
            self.state, self.reason, self.exit_code
        );
        if self.restarts > 0 {
            s.push_str(&format!(", {} requeue(s)", self.restarts));
        }
        s
    }
}

/// Runs a Slurm client program and returns its standard output.
pub(crate) fn run<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = Command::new(program)
        .args(&args)
        .output()
        .map_err(|source| ClusterError::Spawn {
            program: program.to_string(),
            source,
        })?;
    if !out.status.success() {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Err(ClusterError::Command {
            command: format!("{program} {}", shown.join(" ")),
            status: crate::describe_exit(out.status),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Slurm's MaxArraySize (`scontrol show config`): array indices must be below it.
pub fn max_array_size() -> Result<usize> {
    let out = run("scontrol", ["show", "config"])?;
    parse_max_array_size(&out).ok_or_else(|| ClusterError::Parse {
        command: "scontrol show config".into(),
        output: "no MaxArraySize line".into(),
    })
}

fn parse_max_array_size(config: &str) -> Option<usize> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
}

/// Submits `script` with `sbatch --parsable` (after `extra_args`) and returns the job id.
pub(crate) fn submit(script: &Path, extra_args: &[String]) -> Result<String> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("--parsable")];
    args.extend(extra_args.iter().map(OsStr::new));
    args.push(script.as_os_str());
    let out = run("sbatch", args)?;
    // `--parsable` prints "jobid" or "jobid;cluster".
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(ClusterError::Parse {
            command: "sbatch --parsable".into(),
            output: out,
        });
    }
    Ok(id)
}

/// The tasks slurmctld still holds of array job `job`, keyed by array index; `None` when
/// it no longer knows the job at all.
pub(crate) fn array_tasks(job: &str) -> Result<Option<BTreeMap<usize, TaskState>>> {
    match run("scontrol", ["show", "job", "-o", job]) {
        Ok(out) => Ok(Some(parse_show_job(&out))),
        Err(ClusterError::Command { stderr, .. }) if stderr.contains("Invalid job id") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Array job ids of the jobs named `name`, finished ones included while slurmctld keeps
/// them.
pub(crate) fn jobs_named(name: &str) -> Result<Vec<String>> {
    let out = run(
        "squeue",
        ["--noheader", "--states=all", "--name", name, "--format=%F"],
    )?;
    let mut ids: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Reads `scontrol show job -o` output: one record per line, `Key=Value` words. A pending
/// part of an array is one record whose `ArrayTaskId` is a list such as `2-4,7%2`.
fn parse_show_job(out: &str) -> BTreeMap<usize, TaskState> {
    let mut tasks = BTreeMap::new();
    for line in out.lines() {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for word in line.split_whitespace() {
            if let Some((k, v)) = word.split_once('=') {
                fields.entry(k).or_insert(v);
            }
        }
        let (Some(array_job), Some(ids)) = (fields.get("ArrayJobId"), fields.get("ArrayTaskId"))
        else {
            continue;
        };
        let get = |k: &str| fields.get(k).copied().unwrap_or("").to_string();
        for index in parse_index_list(ids) {
            tasks.insert(
                index,
                TaskState {
                    array_job: array_job.to_string(),
                    array_index: index,
                    state: get("JobState"),
                    reason: get("Reason"),
                    exit_code: get("ExitCode"),
                    restarts: get("Restarts").parse().unwrap_or(0),
                },
            );
        }
    }
    tasks
}

/// `2-4,7%2` -> 2, 3, 4, 7 (the `%` throttle and any `:step` are read as Slurm does).
fn parse_index_list(text: &str) -> Vec<usize> {
    let list = text.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((r, s)) => (r, s.parse().unwrap_or(1usize).max(1)),
            None => (part, 1),
        };
        match range.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend((a..=b).step_by(step));
                }
            }
            None => {
                if let Ok(a) = range.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_pending_ranges() {
        let out = "JobId=1 ArrayJobId=1 ArrayTaskId=2-4%2 ArrayTaskThrottle=2 JobName=x JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:0\n\
JobId=5 ArrayJobId=1 ArrayTaskId=1 JobName=x JobState=TIMEOUT Reason=TimeLimit Requeue=1 Restarts=1 ExitCode=0:15 Command=/a b\n";
        let t = parse_show_job(out);
        assert_eq!(t.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(t[&3].job_state(), JobState::Pending);
        assert_eq!(t[&1].job_state(), JobState::Timeout);
        assert_eq!(t[&1].restarts, 1);
        assert_eq!(
            t[&1].describe(),
            "TIMEOUT (TimeLimit), exit code 0:15, 1 requeue(s)"
        );
    }

    #[test]
    fn reads_index_lists_and_states() {
        assert_eq!(parse_index_list("0-2,5,7-9:2%3"), [0, 1, 2, 5, 7, 9]);
        assert!(JobState::parse("COMPLETING").is_active());
        assert!(!JobState::parse("CANCELLED+").is_active());
        assert_eq!(JobState::parse("CANCELLED by 0"), JobState::Cancelled);
        assert_eq!(
            parse_max_array_size(
                "AuthType                = auth/munge\nMaxArraySize            = 1001\n"
            ),
            Some(1001)
        );
    }
}
