//! `actfn precheck` (hidden): measures the divergence pre-check against recorded searches.
//! For every candidate a search trained (ok or diverged; not duplicates, rejected or
//! failed ones), it runs the pre-check with the search's own training settings and the
//! candidate's seed, prints one line per candidate (verdict, losses, gradient norms,
//! time) and, at the end, the confusion matrix of the pre-check's verdict
//! against what the training really did. It reads the searches and changes nothing.

use std::path::PathBuf;

use actfn_evo::{read_dir, Candidate, RecordStatus};
use anyhow::{bail, Context};
use clap::Args;

use crate::execution::task::{self, wrn_evaluator, Stored};
use crate::options::precheck::PrecheckParams;

/// Arguments of `actfn precheck`.
#[derive(Debug, Args)]
pub struct PrecheckCmdArgs {
    /// A search directory (repeat for several).
    #[arg(long, value_name = "DIR", required = true)]
    pub search: Vec<PathBuf>,
    #[command(flatten)]
    pub params: PrecheckParams,
    /// libtorch threads [default: each search's].
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// The data folder [default: each search's].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Counts of verdict (pre-check) against outcome (training).
#[derive(Debug, Default)]
struct Confusion {
    /// [pre-check diverged?][training diverged?]
    counts: [[usize; 2]; 2],
    seconds: Vec<f64>,
}

/// Runs `actfn precheck`.
pub fn run(args: PrecheckCmdArgs) -> anyhow::Result<()> {
    let check = args.params.config()?;
    println!(
        "pre-check: {} steps, loss bound {} ln(classes)",
        check.steps, check.loss_factor
    );
    let mut confusion = Confusion::default();
    for dir in &args.search {
        let (stored, journal): (Stored, _) = read_dir(dir)
            .with_context(|| format!("cannot read the search in {}", dir.display()))?;
        let mut task = stored.task.clone();
        task::set_local(&mut task, args.data_dir.as_deref(), args.threads);
        let Some(cifar) = task.cifar() else {
            bail!("{} is not a CIFAR search", dir.display());
        };
        let evaluator = wrn_evaluator(cifar)?;
        for r in journal.records() {
            let diverged = match r.status {
                _ if !r.trained() => continue,
                RecordStatus::Ok => false,
                RecordStatus::Diverged => true,
                RecordStatus::Failed | RecordStatus::Rejected => continue,
            };
            let expr = r
                .expr
                .parse()
                .with_context(|| format!("{}: record `{}`", dir.display(), r.expr))?;
            let candidate = Candidate { expr, seed: r.seed };
            let report = evaluator.precheck(&candidate, &check)?;
            let says = report.diverged.is_some();
            confusion.counts[usize::from(says)][usize::from(diverged)] += 1;
            confusion.seconds.push(report.seconds);
            let show = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.4}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            println!(
                "{}\tg{}i{}\t{}\t{}\tpre-check {}\t{:.3}s\tlosses [{}]\tgrad norms [{}]\t{}\t{}",
                dir.file_name().map_or_else(
                    || dir.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                r.generation,
                r.index,
                r.status.name(),
                if says == diverged {
                    "agree"
                } else {
                    "DISAGREE"
                },
                if says { "diverged" } else { "ok" },
                report.seconds,
                show(&report.losses),
                show(&report.grad_norms),
                report.diverged.as_deref().unwrap_or("-"),
                r.expr,
            );
        }
    }
    let [[ok_ok, ok_div], [div_ok, div_div]] = confusion.counts;
    let mut seconds = confusion.seconds.clone();
    seconds.sort_by(f64::total_cmp);
    let median = seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN);
    let max = seconds.last().copied().unwrap_or(f64::NAN);
    println!("                      trained ok  trained diverged");
    println!("pre-check ok          {ok_ok:>10}  {ok_div:>16}");
    println!("pre-check diverged    {div_ok:>10}  {div_div:>16}");
    println!(
        "caught {div_div} of {} divergences; rejected {div_ok} of {} candidates that trained \
         fine; per candidate {median:.3} s median, {max:.3} s at most",
        ok_div + div_div,
        ok_ok + div_ok
    );
    Ok(())
}
