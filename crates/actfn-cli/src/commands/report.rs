//! `actfn report`: what a search directory holds: the top k, the best validation accuracy
//! and loss per generation, and the counts of trained, duplicate, rejected and failed
//! candidates, as text or JSON. Reads only; never changes the directory.

use std::fs::File;
use std::path::{Path, PathBuf};

use actfn_evo::{read_dir, summarize, write_csv, AnyTask, StoredConfig, Summary};
use anyhow::Context;
use clap::Args;

use crate::output::json_out::write_json_atomic;

/// Arguments of `actfn report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The search directory.
    pub dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Number of best functions [default: the search's top k].
    #[arg(long)]
    pub top: Option<usize>,
    /// Also write every record as CSV to this file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also write the JSON object of `--json` to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

/// Runs `actfn report`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    // Any task reads: a report needs only the search's part of the configuration.
    let (stored, journal): (StoredConfig<AnyTask>, _) = read_dir(&args.dir)
        .with_context(|| format!("cannot read the search in {}", args.dir.display()))?;
    for warning in journal.warnings() {
        eprintln!("actfn: warning: {warning}");
    }
    let mut records = journal.records().to_vec();
    records.sort_by_key(|r| r.id());
    let summary = summarize(&records, args.top.unwrap_or(stored.search.top_k));
    if let Some(path) = &args.csv {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        write_csv(&records, file).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.json_out {
        write_json_atomic(path, &summary)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_text(&args.dir, &summary);
    }
    Ok(())
}

/// Prints a summary as text.
pub fn print_text(dir: &Path, s: &Summary) {
    let opt = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
    };
    println!("search {}", dir.display());
    println!(
        "{} records: {} trained ({} ok, {} diverged, {} failed), {} duplicates, {} rejected, {} elites carried over",
        s.evaluations, s.trained, s.ok, s.diverged, s.failed, s.duplicates, s.rejected, s.elites
    );
    println!(
        "trainings saved by reusing duplicates and rejecting degenerate functions: {}",
        s.trainings_saved
    );
    println!("epochs trained: {}", s.epochs_trained);
    println!();
    println!("generation  trained  best val_acc  best val_loss");
    for g in &s.generations {
        println!(
            "{:>10}  {:>7}  {:>12}  {:>13}",
            g.generation,
            g.trained,
            opt(g.best_val_acc, 4),
            opt(g.best_val_loss, 6)
        );
    }
    println!();
    // With halving, candidates stopped at a lower rung rank below those that went further.
    println!("top {} by validation accuracy:", s.top.len());
    for (rank, t) in s.top.iter().enumerate() {
        println!(
            "{:>3}. {:.4}  loss {:.6}  {}  (generation {}, index {}, {} epochs)",
            rank + 1,
            t.val_acc,
            t.val_loss,
            t.expr,
            t.generation,
            t.index,
            t.epochs
        );
    }
}
