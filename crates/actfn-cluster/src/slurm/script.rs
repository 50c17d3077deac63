//! The batch script of one array: `#SBATCH` lines from the options, then a `case` on the
//! task index that runs that task's command. Everything a task needs is in the script, so
//! a dry run shows exactly what would be submitted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::shell::quote;
use crate::slurm::options::SlurmOptions;
use crate::slurm::split::{array_spec, Chunk};
use crate::{ClusterError, Result, Task};

/// Exit status of the script when its array index maps to no task of the script.
const NO_SUCH_TASK: i32 = 96;
/// Exit status when the task's log or working directory cannot be used.
const BAD_SETUP: i32 = 97;

/// Slurm's own output of array index `a` of array job `job` (what Slurm itself prints,
/// e.g. "CANCELLED ... DUE TO TIME LIMIT"; the command's output goes to the task's log).
pub fn slurm_log(log_dir: &Path, job: &str, array_index: usize) -> PathBuf {
    log_dir.join(format!("{job}_{array_index}.out"))
}

/// The batch script of `chunk` (indices into `tasks`), named `name`, Slurm's output under
/// `log_dir`.
pub fn render(
    options: &SlurmOptions,
    name: &str,
    chunk: &Chunk,
    tasks: &[Task],
    log_dir: &Path,
) -> Result<String> {
    let log_dir_text = log_dir
        .to_str()
        .filter(|t| !t.chars().any(|c| c.is_whitespace() || c.is_control()))
        .ok_or_else(|| ClusterError::InvalidOption {
            option: "slurm log folder",
            value: log_dir.display().to_string(),
            why: "must be UTF-8 without spaces (it goes on an #SBATCH line)".into(),
        })?;
    let mut s = String::from("#!/bin/sh\n");
    let mut directive = |line: String| {
        s.push_str("#SBATCH ");
        s.push_str(&line);
        s.push('\n');
    };
    directive(format!("--job-name={name}"));
    directive(format!(
        "--array={}",
        array_spec(&chunk.array_indices(), options.throttle)
    ));
    directive(format!("--output={log_dir_text}/%A_%a.out"));
    // A requeued task appends to its log instead of wiping the first run's lines.
    directive("--open-mode=append".into());
    directive(
        if options.requeue {
            "--requeue"
        } else {
            "--no-requeue"
        }
        .into(),
    );
    let optional = [
        ("partition", options.partition.as_deref()),
        ("account", options.account.as_deref()),
        ("time", options.time.as_deref()),
        ("gpus", options.gpus.as_deref()),
        ("gres", options.gres.as_deref()),
        ("mem", options.mem.as_deref()),
    ];
    for (flag, value) in optional {
        if let Some(v) = value {
            directive(format!("--{flag}={v}"));
        }
    }
    if let Some(c) = options.cpus_per_task {
        directive(format!("--cpus-per-task={c}"));
    }
    for extra in &options.extra {
        directive(extra.clone());
    }
    let _ = writeln!(
        s,
        "# Task index = array index + {offset}; each task appends its output to its own log.\n\
         task=$((SLURM_ARRAY_TASK_ID + {offset}))\n\
         case \"$task\" in",
        offset = chunk.offset
    );
    for &i in &chunk.indices {
        let task = tasks.get(i).ok_or_else(|| ClusterError::InvalidTask {
            index: i,
            why: format!("there are only {} tasks", tasks.len()),
        })?;
        let log = quote(task.log.as_os_str(), i, "log path")?;
        let dir = quote(task.dir.as_os_str(), i, "working directory")?;
        let _ = writeln!(s, "{i})");
        let _ = writeln!(s, "  exec >>{log} 2>&1 || exit {BAD_SETUP}");
        let _ = writeln!(
            s,
            "  echo \"actfn-cluster: task {i} as job ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} \
             (id $SLURM_JOB_ID, restart ${{SLURM_RESTART_COUNT:-0}}) on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\""
        );
        let _ = writeln!(s, "  cd {dir} || exit {BAD_SETUP}");
        for (key, value) in &task.env {
            // Names were checked to be shell identifiers.
            let key = key.to_string_lossy();
            let value = quote(value, i, "environment value")?;
            let _ = writeln!(s, "  export {key}={value}");
        }
        let argv = task
            .argv
            .iter()
            .map(|a| quote(a, i, "argument"))
            .collect::<Result<Vec<_>>>()?;
        let _ = writeln!(s, "  exec {}\n  ;;", argv.join(" "));
    }
    let _ = writeln!(
        s,
        "*)\n  echo \"actfn-cluster: no task $task in this script\" >&2\n  exit {NO_SUCH_TASK}\n  ;;\nesac"
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_options_and_tasks() {
        let tasks: Vec<Task> = (0..3)
            .map(|i| {
                Task::new(
                    ["sh", "-c", "echo it's $0"],
                    "/w",
                    format!("/w/{i}.log"),
                    format!("/w/{i}"),
                )
                .env("OMP_NUM_THREADS", "1")
            })
            .collect();
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("10".into()),
            gres: Some("gpu:1".into()),
            throttle: Some(2),
            extra: vec!["--qos=high".into()],
            ..SlurmOptions::default()
        };
        let chunk = Chunk {
            offset: 0,
            indices: vec![0, 2],
        };
        let s = render(&options, "actfn-x-0", &chunk, &tasks, Path::new("/w/slurm")).unwrap();
        for line in [
            "#SBATCH --job-name=actfn-x-0",
            "#SBATCH --array=0,2%2",
            "#SBATCH --output=/w/slurm/%A_%a.out",
            "#SBATCH --requeue",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=10",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --qos=high",
            "  export OMP_NUM_THREADS='1'",
            r"  exec 'sh' '-c' 'echo it'\''s $0'",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        assert!(!s.contains("\n1)"));
        let directives_end = s.find("task=").unwrap();
        assert!(!s[directives_end..].contains("#SBATCH"));
    }

    #[test]
    fn refuses_a_log_folder_with_spaces() {
        let tasks = vec![Task::new(["true"], "/", "/l", "/r")];
        let chunk = Chunk {
            offset: 0,
            indices: vec![0],
        };
        let err = render(
            &SlurmOptions::default(),
            "n",
            &chunk,
            &tasks,
            Path::new("/a b"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/a b"), "{err}");
    }
}
