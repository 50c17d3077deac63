//! Where a search's candidates are trained: `--executor inline|local|slurm`, `--jobs N`
//! and the Slurm options, declared once here. None of them is part of the search's
//! configuration or its hash: they may be given anew on `--resume`, like `--threads`.

use std::path::PathBuf;

use actfn_cluster::SlurmOptions;
use anyhow::Context;
use clap::{Args, ValueEnum};

/// The executors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// In the search process, one candidate after another.
    Inline,
    /// Worker processes on this machine, --jobs at a time (one GPU each where there are
    /// GPUs).
    Local,
    /// Slurm job arrays, one array task per candidate.
    Slurm,
}

/// Options of the executor.
#[derive(Debug, Clone, Args)]
pub struct ExecutorArgs {
    /// Where candidates are trained.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Inline)]
    pub executor: ExecutorKind,
    /// Candidates trained at once: local worker processes [default: one per GPU, else 1],
    /// or the most array tasks running at once on Slurm [default: no limit].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Attempts after the first of a candidate whose worker ended without a result
    /// [default: 0 local, 2 on Slurm].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Slurm options from a RON file (SlurmOptions' fields; the options below override
    /// it), e.g. `(partition: Some("gpu"), gpus: Some("1"), time: Some("2:00:00"))`.
    #[arg(long, value_name = "FILE")]
    pub slurm_options: Option<PathBuf>,
    /// Slurm: `--partition`.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: `--account`.
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm: `--time` per candidate (`30`, `2:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm: `--gpus` per candidate (`1`, `a100:1`).
    #[arg(long)]
    pub gpus: Option<String>,
    /// Slurm: `--gres` per candidate (`gpu:1`).
    #[arg(long)]
    pub gres: Option<String>,
    /// Slurm: `--cpus-per-task`, also the worker's thread count unless --threads is given.
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// Slurm: `--mem` per candidate (`8G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// Slurm: a further `#SBATCH` option, e.g. `--sbatch-arg=--qos=high` (repeatable).
    #[arg(long = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Print what the first generation would run (Slurm: its batch script) and stop,
    /// submitting nothing and writing nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl ExecutorArgs {
    /// The Slurm options: the file's (or the defaults), with the flags given over them.
    pub fn slurm_options(&self) -> anyhow::Result<SlurmOptions> {
        let mut o = match &self.slurm_options {
            Some(path) => SlurmOptions::from_ron_file(path)?,
            None => SlurmOptions::default(),
        };
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                field.clone_from(value);
            }
        };
        set(&mut o.partition, &self.partition);
        set(&mut o.account, &self.account);
        set(&mut o.time, &self.time);
        set(&mut o.gpus, &self.gpus);
        set(&mut o.gres, &self.gres);
        set(&mut o.mem, &self.mem);
        if self.cpus_per_task.is_some() {
            o.cpus_per_task = self.cpus_per_task;
        }
        o.extra.extend(self.sbatch_args.iter().cloned());
        if let Some(r) = self.retries {
            o.retries = r;
        }
        if self.jobs.is_some() {
            o.throttle = self.jobs;
        }
        o.check().context("Slurm options")?;
        Ok(o)
    }

    /// Refuses Slurm options given to another executor, and `--jobs 0`.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.jobs == Some(0) {
            anyhow::bail!("--jobs 0: at least one candidate must be trained at a time");
        }
        let slurm_only = [
            ("--slurm-options", self.slurm_options.is_some()),
            ("--partition", self.partition.is_some()),
            ("--account", self.account.is_some()),
            ("--time", self.time.is_some()),
            ("--gpus", self.gpus.is_some()),
            ("--gres", self.gres.is_some()),
            ("--cpus-per-task", self.cpus_per_task.is_some()),
            ("--mem", self.mem.is_some()),
            ("--sbatch-arg", !self.sbatch_args.is_empty()),
        ];
        if self.executor != ExecutorKind::Slurm {
            if let Some((flag, _)) = slurm_only.iter().find(|(_, given)| *given) {
                anyhow::bail!("{flag} is for --executor slurm");
            }
        }
        if self.executor == ExecutorKind::Inline {
            for (flag, given) in [
                ("--jobs", self.jobs.is_some()),
                ("--retries", self.retries.is_some()),
                ("--dry-run", self.dry_run),
            ] {
                if given {
                    anyhow::bail!("{flag} is for --executor local or slurm");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        executor: ExecutorArgs,
    }

    fn parse(args: &[&str]) -> ExecutorArgs {
        let mut argv = vec!["actfn"];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap().executor
    }

    #[test]
    fn slurm_flags_override_the_defaults() {
        let a = parse(&[
            "--executor",
            "slurm",
            "--jobs",
            "4",
            "--partition",
            "gpu",
            "--sbatch-arg=--qos=high",
            "--retries",
            "5",
        ]);
        a.check().unwrap();
        let o = a.slurm_options().unwrap();
        assert_eq!(o.throttle, Some(4));
        assert_eq!(o.partition.as_deref(), Some("gpu"));
        assert_eq!(o.extra, ["--qos=high"]);
        assert_eq!(o.retries, 5);
    }

    #[test]
    fn refuses_options_of_another_executor() {
        let err = parse(&["--executor", "local", "--partition", "gpu"])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--partition"), "{err}");
        let err = parse(&["--jobs", "2"]).check().unwrap_err().to_string();
        assert!(err.contains("--jobs"), "{err}");
        let err = parse(&["--executor", "local", "--jobs", "0"])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--jobs 0"), "{err}");
        let bad = parse(&["--executor", "slurm", "--partition", "a b"]);
        let err = format!("{:#}", bad.slurm_options().unwrap_err());
        assert!(err.contains("a b"), "{err}");
    }
}
