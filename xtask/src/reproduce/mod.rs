//! `cargo xtask reproduce-table1/2/3`: the paper's tables from presets in `experiments/`.
//!
//! The xtask drives the `actfn` binary (built once in release mode) and never links torch.
//! Every step leaves a durable trace under the work directory (`runs/<preset>/` by default):
//! a search is a search directory that `actfn search` continues where it stopped, and a
//! final training run is finished when its `result.json` exists. Re-running a command after
//! a kill therefore continues; `--fresh` removes this preset's runs first. Final runs are
//! keyed by (training settings, function, data set, run index), so the same run is shared
//! by every table that asks for it and never trained twice.
//!
//! `preset` is the schema of the presets; `runner` runs `actfn` (its command lines come from
//! [`crate::actfn_args`]) and keeps the run cache;
//! `executor` runs the independent final runs of a table through actfn-cluster (worker
//! processes or Slurm job arrays);
//! `paper` holds the paper's numbers; `table1`, `table2` and `table3` are the pipelines.

mod executor;
mod paper;
mod preset;
mod runner;
mod table1;
mod table2;
mod table3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actfn_expr::{Expr, Style};
use anyhow::{bail, Context};
use serde::Serialize;

pub(crate) use executor::Executor;
pub use executor::ExecutorKind;
#[cfg(test)]
pub(crate) use preset::{load_preset, search_dir_name, Table1, Table2, Table3};
pub(crate) use preset::{SearchPlan, Training};
pub(crate) use runner::build_actfn;
pub use table1::table1;
pub use table2::table2;
pub use table3::table3;

/// Options common to every reproduce command.
#[derive(Debug, Clone)]
pub struct Options {
    pub preset: Option<String>,
    pub fresh: bool,
    pub functions: Vec<String>,
    pub work_dir: Option<PathBuf>,
    pub results_dir: Option<PathBuf>,
    pub threads: Option<usize>,
    /// See `executor`; `None`: local without a GPU, inline with one.
    pub executor: Option<ExecutorKind>,
    pub jobs: Option<usize>,
    pub slurm_options: Option<PathBuf>,
}

/// A median accuracy cell: one decimal, `(*)` when a run diverged or failed.
fn fmt_acc(acc: Option<f64>, incomplete: bool) -> String {
    match acc {
        Some(a) => format!("{a:.1}{}", if incomplete { " (*)" } else { "" }),
        None => "failed (*)".into(),
    }
}

fn parse_expr(text: &str) -> anyhow::Result<Expr> {
    Expr::parse(text).with_context(|| format!("cannot parse {text:?}"))
}

/// `expr` as the paper prints functions.
fn paper_notation(expr: &Expr) -> String {
    expr.styled(Style::Paper).to_string()
}

/// `--functions NAME=EXPR ...` as a map.
fn function_overrides(
    options: &Options,
    allowed: &[&str],
) -> anyhow::Result<BTreeMap<String, Expr>> {
    let mut map = BTreeMap::new();
    for item in &options.functions {
        let (name, text) = item
            .split_once('=')
            .with_context(|| format!("--functions takes NAME=EXPR, got {item:?}"))?;
        let name = name.trim();
        if !allowed.contains(&name) {
            bail!(
                "--functions: unknown name {name:?} (expected one of {})",
                allowed.join(", ")
            );
        }
        map.insert(name.to_owned(), parse_expr(text)?);
    }
    Ok(map)
}

/// Writes `rows` as a CSV file with a header.
fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::runner::{median_acc, RunResult};
    use super::*;

    #[test]
    fn medians_skip_failed_runs_and_flag_them() {
        let run = |acc: Option<f64>, status: &str| RunResult {
            expr: "x".into(),
            dataset: "cifar10".into(),
            run: 0,
            seed: 0,
            test_acc: acc,
            val_acc: None,
            status: status.into(),
        };
        let (m, inc) = median_acc(&[
            run(Some(0.5), "ok"),
            run(Some(0.7), "ok"),
            run(None, "diverged"),
        ]);
        assert!((m.unwrap() - 60.0).abs() < 1e-9);
        assert!(inc);
        assert_eq!(fmt_acc(m, inc), "60.0 (*)");
        assert_eq!(median_acc(&[run(None, "failed")]), (None, true));
    }
}
