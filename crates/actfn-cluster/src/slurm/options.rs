//! What every batch script of a run asks Slurm for.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ClusterError, Result};

/// The `#SBATCH` options of a run and how the controller treats its tasks. Every field
/// has a default (`SlurmOptions::default()`), so a RON file may name only what it changes:
/// `(partition: Some("gpu"), gpus: Some("1"), extra: ["--qos=high"])`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmOptions {
    /// Prefix of the job names; the journal's id and the batch number are appended, so
    /// a restarted controller can find a job it submitted but did not record.
    pub job_name: String,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` per task, in any form sbatch accepts (`30`, `1:00:00`, `1-00:00:00`).
    pub time: Option<String>,
    /// `--gpus` per task (e.g. `1` or `a100:1`).
    pub gpus: Option<String>,
    /// `--gres` per task (e.g. `gpu:1`).
    pub gres: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--mem` per task (e.g. `8G`).
    pub mem: Option<String>,
    /// Most tasks of one array running at once (`--array=...%P`).
    pub throttle: Option<usize>,
    /// `--requeue`: a preempted task (or one on a failed node) goes back to the queue
    /// under the same job id and starts again, finding its own checkpoint.
    pub requeue: bool,
    /// Further options, each one `#SBATCH` line, e.g. `--qos=high` or `--constraint=a100`.
    pub extra: Vec<String>,
    /// New submissions of a task whose attempt ended without a result (failed, cancelled,
    /// timed out, lost with its node).
    pub retries: u32,
    /// Upper bound on the array size, below Slurm's own MaxArraySize if smaller.
    pub max_array_size: Option<usize>,
    /// Seconds between two looks at the queue.
    pub poll_seconds: f64,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        Self {
            job_name: "actfn".into(),
            partition: None,
            account: None,
            time: None,
            gpus: None,
            gres: None,
            cpus_per_task: None,
            mem: None,
            throttle: None,
            requeue: true,
            extra: Vec::new(),
            retries: 2,
            max_array_size: None,
            poll_seconds: 2.0,
        }
    }
}

impl SlurmOptions {
    /// Options read from a RON file (fields left out keep their defaults), checked.
    pub fn from_ron_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ClusterError::io("read", path, e))?;
        let options: Self = ron::from_str(&text).map_err(|e| ClusterError::InvalidOption {
            option: "slurm options file",
            value: path.display().to_string(),
            why: e.to_string(),
        })?;
        options.check()?;
        Ok(options)
    }

    /// Refuses values that would break the batch script or cannot mean anything to sbatch:
    /// a line break anywhere, a job name with spaces, an extra option not starting with
    /// `-`, a throttle or array size of 0, a poll interval that is not a positive number.
    pub fn check(&self) -> Result<()> {
        let bad = |option: &'static str, value: &str, why: &str| {
            Err(ClusterError::InvalidOption {
                option,
                value: value.to_string(),
                why: why.to_string(),
            })
        };
        let texts = [
            ("partition", self.partition.as_deref()),
            ("account", self.account.as_deref()),
            ("time", self.time.as_deref()),
            ("gpus", self.gpus.as_deref()),
            ("gres", self.gres.as_deref()),
            ("mem", self.mem.as_deref()),
        ];
        for (option, value) in texts {
            if let Some(v) = value {
                if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return bad(option, v, "must be one word without spaces");
                }
            }
        }
        if self.job_name.is_empty()
            || self.job_name.len() > 64
            || !self
                .job_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(
                "job name",
                &self.job_name,
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            );
        }
        for extra in &self.extra {
            if !extra.starts_with('-') || extra.chars().any(char::is_control) {
                return bad(
                    "extra sbatch option",
                    extra,
                    "must be one option starting with '-', on one line",
                );
            }
            if extra.starts_with("--array") || extra.starts_with("-a") {
                return bad(
                    "extra sbatch option",
                    extra,
                    "the array is set by the runner",
                );
            }
        }
        if self.throttle == Some(0) {
            return bad("throttle", "0", "at least one task must be able to run");
        }
        if self.cpus_per_task == Some(0) {
            return bad("cpus per task", "0", "a task needs at least one CPU");
        }
        if self.max_array_size == Some(0) {
            return bad("max array size", "0", "an array holds at least one task");
        }
        if !(self.poll_seconds.is_finite() && self.poll_seconds > 0.0) {
            return bad(
                "poll seconds",
                &self.poll_seconds.to_string(),
                "must be a positive number",
            );
        }
        Ok(())
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_seconds.clamp(0.01, 3600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ron_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slurm.ron");
        std::fs::write(
            &path,
            r#"(partition: Some("gpu"), gpus: Some("1"), extra: ["--qos=high"])"#,
        )
        .unwrap();
        let o = SlurmOptions::from_ron_file(&path).unwrap();
        assert_eq!(o.partition.as_deref(), Some("gpu"));
        assert_eq!(o.extra, ["--qos=high"]);
        assert_eq!(o.retries, SlurmOptions::default().retries);
        std::fs::write(&path, "(partitoin: None)").unwrap();
        let err = SlurmOptions::from_ron_file(&path).unwrap_err().to_string();
        assert!(err.contains("partitoin"), "{err}");
    }

    #[test]
    fn refuses_values_that_break_the_script() {
        let mut o = SlurmOptions {
            partition: Some("a\nb".into()),
            ..SlurmOptions::default()
        };
        assert!(o.check().unwrap_err().to_string().contains("partition"));
        o.partition = None;
        o.extra = vec!["qos=high".into()];
        assert!(o.check().unwrap_err().to_string().contains("qos=high"));
        o.extra.clear();
        o.throttle = Some(0);
        assert!(o.check().is_err());
        o.throttle = Some(2);
        o.job_name = "has space".into();
        assert!(o.check().unwrap_err().to_string().contains("has space"));
    }
}
