//! `cargo xtask reproduce-table1`: four searches, the top functions of each trained from
//! scratch on CIFAR-10 and CIFAR-100 next to the baselines, and Figures 3, 4 and 6.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use actfn_evo::Summary;
use actfn_expr::Expr;
use serde::Serialize;

use super::paper::{paper_function_at, paper_table1, BASELINES};
use super::preset::{load_preset, SearchPlan, Table1, Training};
use super::runner::{median_acc, Runner};
use super::{fmt_acc, function_overrides, paper_notation, parse_expr, write_csv, Options};

/// Table 1's searches are seeded `FIRST_SEARCH_SEED + i` in preset order: each search
/// draws independently of the others, and a rerun continues the same searches.
const FIRST_SEARCH_SEED: u64 = 1;

/// One row of Table 1.
#[derive(Debug, Clone, Serialize)]
struct Table1Row {
    search: String,
    rank: usize,
    function: String,
    canonical: String,
    search_val_acc: Option<f64>,
    cifar10: Option<f64>,
    cifar10_incomplete: bool,
    cifar100: Option<f64>,
    cifar100_incomplete: bool,
    paper_function: Option<String>,
    paper_cifar10: Option<String>,
    paper_cifar100: Option<String>,
}

/// `cargo xtask reproduce-table1`.
pub fn table1(root: &Path, options: &Options) -> anyhow::Result<()> {
    let runner = Runner::new(root, "table1", options)?;
    let preset: Table1 = load_preset(root, "table1", &runner.preset)?;
    function_overrides(options, &[])?;
    runner.stage(&format!(
        "Table 1, preset {}: {}",
        runner.preset, preset.about
    ));

    let mut reports = Vec::new();
    for (i, plan) in preset.searches.iter().enumerate() {
        let report = runner.search(
            "table1",
            plan,
            &preset.search_training,
            FIRST_SEARCH_SEED + i as u64,
        )?;
        reports.push((plan.clone(), report));
    }

    // The functions to train from scratch: the top k of each search, then the baselines.
    let mut rows: Vec<(String, usize, Expr, Option<f64>)> = Vec::new();
    for (plan, report) in &reports {
        for (rank, item) in report.top.iter().take(preset.top_k).enumerate() {
            rows.push((
                plan.name.clone(),
                rank + 1,
                parse_expr(&item.expr)?,
                Some(item.val_acc),
            ));
        }
    }
    for (rank, (_, text)) in BASELINES.iter().enumerate() {
        rows.push(("baseline".into(), rank + 1, parse_expr(text)?, None));
    }

    // Every final run of the table at once on a parallel executor; read in turn below.
    let wanted: Vec<_> = rows
        .iter()
        .flat_map(|(_, _, expr, _)| {
            preset
                .final_trainings
                .iter()
                .map(move |t| (expr, t, preset.final_runs))
        })
        .collect();
    runner.train_finals(&wanted)?;
    let mut table = Vec::new();
    let mut all_runs = Vec::new();
    for (search, rank, expr, val) in &rows {
        let label = if search == "baseline" {
            BASELINES[rank - 1].0.to_owned()
        } else {
            format!("{search} #{rank}")
        };
        let mut accs = BTreeMap::new();
        for training in &preset.final_trainings {
            let runs = runner.finals(expr, training, preset.final_runs, &label)?;
            accs.insert(training.dataset.clone(), median_acc(&runs));
            all_runs.extend(runs);
        }
        let (paper_c10, paper_c100) = paper_table1(search, *rank);
        let get = |d: &str| accs.get(d).copied().unwrap_or((None, false));
        table.push(Table1Row {
            search: search.clone(),
            rank: *rank,
            function: if search == "baseline" {
                format!("{}(x)", BASELINES[rank - 1].0)
            } else {
                paper_notation(expr)
            },
            canonical: expr.to_string(),
            search_val_acc: val.map(|v| 100.0 * v),
            cifar10: get("cifar10").0,
            cifar10_incomplete: get("cifar10").1,
            cifar100: get("cifar100").0,
            cifar100_incomplete: get("cifar100").1,
            paper_function: if search == "baseline" {
                Some(format!("{}(x)", BASELINES[rank - 1].0))
            } else {
                paper_function_at(search, *rank)
            },
            paper_cifar10: paper_c10.map(str::to_owned),
            paper_cifar100: paper_c100.map(str::to_owned),
        });
    }

    write_csv(&runner.results.join("table1.csv"), &table)?;
    write_csv(&runner.results.join("table1-runs.csv"), &all_runs)?;
    std::fs::write(
        runner.results.join("table1.md"),
        table1_markdown(&runner, &preset, &table, &reports),
    )?;
    table1_figures(&runner, &reports, &table)?;
    runner.stage(&format!(
        "Table 1 done in {:.0} s: {}",
        runner.started.elapsed().as_secs_f64(),
        runner.results.join("table1.md").display()
    ));
    print!(
        "{}",
        std::fs::read_to_string(runner.results.join("table1.md"))?
    );
    Ok(())
}

/// Whether the search's fitness predicts the final result: Spearman's rank correlation
/// between each searched function's validation accuracy in its search and its median
/// final test accuracy, on each data set (a function found by several searches counts once).
fn search_signal(table: &[Table1Row]) -> String {
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<&Table1Row> = table
        .iter()
        .filter(|r| r.search_val_acc.is_some() && seen.insert(r.canonical.as_str()))
        .collect();
    let mut lines = vec![
        "Search signal: Spearman's rank correlation between a function's validation accuracy in its search and its median final test accuracy (searched functions only, each once):".to_owned(),
    ];
    for (name, final_acc) in [
        (
            "CIFAR-10",
            (|r: &Table1Row| r.cifar10) as fn(&Table1Row) -> Option<f64>,
        ),
        ("CIFAR-100", |r: &Table1Row| r.cifar100),
    ] {
        let (a, b): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .filter_map(|r| Some((r.search_val_acc?, final_acc(r)?)))
            .unzip();
        lines.push(match actfn_stats::spearman(&a, &b) {
            Ok(c) => format!(
                "- {name}: rho = {:.3} (p = {:.2e}, n = {})",
                c.rho, c.p, c.n
            ),
            Err(e) => format!("- {name}: not computed ({e})"),
        });
    }
    lines.join("\n")
}

fn table1_markdown(
    runner: &Runner,
    preset: &Table1,
    table: &[Table1Row],
    reports: &[(SearchPlan, Summary)],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Table 1 (preset `{}`)\n", runner.preset);
    let _ = writeln!(md, "Preset: {}.\n", preset.about);
    let _ = writeln!(
        md,
        "Searches: {}; final runs: {} x ({}); median test accuracy (%) over runs that finished; (*) marks a function with at least one run that diverged or failed. Paper columns: WRN-28-10, 200 epochs, median of 5.\n",
        preset.search_training.describe(),
        preset.final_runs,
        preset
            .final_trainings
            .iter()
            .map(Training::describe)
            .collect::<Vec<_>>()
            .join("; "),
    );
    let _ = writeln!(
        md,
        "| search | # | function | search val acc | CIFAR-10 | CIFAR-100 | paper's function | paper CIFAR-10 | paper CIFAR-100 |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for r in table {
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
            r.search,
            r.rank,
            r.function,
            r.search_val_acc.map_or("—".into(), |v| format!("{v:.1}")),
            fmt_acc(r.cifar10, r.cifar10_incomplete),
            fmt_acc(r.cifar100, r.cifar100_incomplete),
            r.paper_function
                .as_deref()
                .map_or("—".into(), |f| format!("`{f}`")),
            r.paper_cifar10.as_deref().unwrap_or("—"),
            r.paper_cifar100.as_deref().unwrap_or("—"),
        );
    }
    let _ = writeln!(md, "\n{}", search_signal(table));
    let _ = writeln!(md, "\n## Searches\n");
    let _ = writeln!(
        md,
        "| search | evaluations | trained | best val acc per generation |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    for (plan, report) in reports {
        let curve: Vec<String> = report
            .generations
            .iter()
            .map(|g| {
                g.best_val_acc
                    .map_or("—".into(), |a| format!("{:.1}", 100.0 * a))
            })
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            plan.name,
            report.evaluations,
            report.trained,
            curve.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\nThe paper's Table 1 rows for evolution with accuracy-based fitness and for loss-based evolution's second and third functions are not attributable in the extracted text; they are left blank.\n"
    );
    md
}

fn table1_figures(
    runner: &Runner,
    reports: &[(SearchPlan, Summary)],
    table: &[Table1Row],
) -> anyhow::Result<()> {
    // Figure 3: best validation accuracy per generation of the S2 searches.
    let mut curves = String::from("search,generation,best_val_acc\n");
    for (plan, report) in reports.iter().filter(|(p, _)| p.depth == 2) {
        for g in &report.generations {
            if let Some(a) = g.best_val_acc {
                let _ = writeln!(curves, "{},{},{}", plan.name, g.generation + 1, 100.0 * a);
            }
        }
    }
    let curves_path = runner.results.join("figure3.csv");
    std::fs::write(&curves_path, curves)?;
    for ext in ["png", "svg"] {
        runner.actfn(&[
            "plot".into(),
            "--curves".into(),
            curves_path.display().to_string(),
            "--x".into(),
            "generation".into(),
            "--y".into(),
            "best_val_acc".into(),
            "--x-label".into(),
            "generation".into(),
            "--y-label".into(),
            "best validation accuracy in the generation (%)".into(),
            "--group".into(),
            "search".into(),
            "--title".into(),
            "Figure 3: top validation accuracy per generation (S2)".into(),
            "--out".into(),
            runner
                .results
                .join(format!("figure3.{ext}"))
                .display()
                .to_string(),
        ])?;
    }
    // Figure 4: best function after each generation of loss-based evolution.
    // (The generations of a report do not depend on its top k: the search's own report
    // has them.)
    if let Some((_, report)) = reports.iter().find(|(p, _)| p.name == "evolution-loss-s2") {
        let mut args = vec!["plot".to_owned()];
        for g in &report.generations {
            if let Some(e) = &g.best_expr {
                args.push(format!("generation {}={e}", g.generation + 1));
            }
        }
        if args.len() > 1 {
            for ext in ["png", "svg"] {
                let mut a = args.clone();
                a.extend([
                    "--title".into(),
                    "Figure 4: best function after each generation (loss-based evolution)".into(),
                    "--out".into(),
                    runner
                        .results
                        .join(format!("figure4.{ext}"))
                        .display()
                        .to_string(),
                ]);
                runner.actfn(&a)?;
            }
        }
    }
    // Figure 6: the best S1 and S2 functions next to ReLU and Swish.
    let best = |search: &str| table.iter().find(|r| r.search == search && r.rank == 1);
    let mut args = vec!["plot".to_owned()];
    for search in ["exhaustive-s1", "evolution-loss-s2"] {
        if let Some(r) = best(search) {
            args.push(format!("best {search}={}", r.canonical));
        }
    }
    for (name, text) in BASELINES {
        args.push(format!("{name}={text}"));
    }
    for ext in ["png", "svg"] {
        let mut a = args.clone();
        a.extend([
            "--title".into(),
            "Figure 6: best functions found, with ReLU and Swish".into(),
            "--out".into(),
            runner
                .results
                .join(format!("figure6.{ext}"))
                .display()
                .to_string(),
        ]);
        runner.actfn(&a)?;
    }
    Ok(())
}

/// Reads this preset's Table 1 rows, if Table 1 has been reproduced.
fn read_table1(runner: &Runner) -> Option<Vec<BTreeMap<String, String>>> {
    let mut reader = csv::Reader::from_path(runner.results.join("table1.csv")).ok()?;
    reader.deserialize().collect::<Result<Vec<_>, _>>().ok()
}

/// The Table 1 function of `search` with the best median accuracy on `column`.
pub(super) fn best_from_table1(runner: &Runner, search: &str, column: &str) -> Option<Expr> {
    let rows = read_table1(runner)?;
    rows.iter()
        .filter(|r| {
            r.get("search").map(String::as_str) == Some(search)
                || search == "*" && r.get("search").map(String::as_str) != Some("baseline")
        })
        .filter_map(|r| {
            Some((
                r.get(column)?.parse::<f64>().ok()?,
                r.get("canonical")?.clone(),
            ))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .and_then(|(_, text)| Expr::parse(&text).ok())
}
