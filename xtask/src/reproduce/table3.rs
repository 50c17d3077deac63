//! `cargo xtask reproduce-table3`: a function found on CIFAR-10 transferred to
//! WRN-40-4 on CIFAR-100, against one searched there, and Figure 5.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::actfn_args::{self, Axis};

use super::paper::{table3_paper, BASELINES};
use super::preset::{load_preset, Table1, Table3};
use super::runner::{median_acc, Runner};
use super::table1::best_from_table1;
use super::{fmt_acc, function_overrides, paper_notation, parse_expr, write_csv, Options};

/// The seed of Table 3's search: any fixed value (a rerun continues the same search);
/// distinct from Table 1's search seeds (1 to 4) so the two searches draw independently.
const SEARCH_SEED: u64 = 31;

/// A `--top` past the size of any search Figure 5 reads (S1 has 3,456 functions): the
/// whole of Table 1's exhaustive search.
const EVERY_FUNCTION: usize = 100_000;

/// One row of Table 3.
#[derive(Debug, Clone, Serialize)]
struct Table3Row {
    role: String,
    function: String,
    canonical: String,
    source: String,
    median_test_acc: Option<f64>,
    incomplete: bool,
    paper: Option<String>,
}

/// `cargo xtask reproduce-table3`.
pub fn table3(root: &Path, options: &Options) -> anyhow::Result<()> {
    let runner = Runner::new(root, "table3", options)?;
    let preset: Table3 = load_preset(root, "table3", &runner.preset)?;
    let overrides = function_overrides(options, &["transferred", "specialized"])?;
    runner.stage(&format!(
        "Table 3, preset {}: {}",
        runner.preset, preset.about
    ));

    let (transferred, t_source) = match overrides.get("transferred") {
        Some(e) => (e.clone(), "given with --functions"),
        None => match best_from_table1(&runner, "*", "cifar10") {
            Some(e) => (e, "best CIFAR-10 median of this preset's Table 1"),
            None => (
                actfn_expr::paper::paper_function("exhaustive-2").context("paper function")?,
                "the paper's",
            ),
        },
    };
    let (specialized, s_source, report) = match overrides.get("specialized") {
        Some(e) => (e.clone(), "given with --functions", None),
        None => {
            let report = runner.search(
                "table3",
                &preset.search,
                &preset.search_training,
                SEARCH_SEED,
            )?;
            let top = report
                .top
                .first()
                .context("the Table 3 search trained no function successfully")?;
            (
                parse_expr(&top.expr)?,
                "best of this table's search",
                Some(report),
            )
        }
    };
    let rows = [
        (
            "specialized",
            specialized.clone(),
            s_source,
            table3_paper("specialized"),
        ),
        (
            "transferred",
            transferred.clone(),
            t_source,
            table3_paper("transferred"),
        ),
        (
            "Swish",
            parse_expr(BASELINES[1].1)?,
            "baseline",
            table3_paper("Swish"),
        ),
        (
            "ReLU",
            parse_expr(BASELINES[0].1)?,
            "baseline",
            table3_paper("ReLU"),
        ),
    ];
    let mut md = String::new();
    let _ = writeln!(md, "# Table 3 (preset `{}`)\n", runner.preset);
    let _ = writeln!(md, "Preset: {}.\n", preset.about);
    let _ = writeln!(
        md,
        "Median test accuracy (%) of {} runs, {}.\n",
        preset.final_runs,
        preset.final_training.describe()
    );
    let _ = writeln!(
        md,
        "| role | function | source | accuracy | paper (WRN-40-4, CIFAR-100) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    // Every final run of the table at once on a parallel executor; read in turn below.
    let wanted: Vec<_> = rows
        .iter()
        .map(|(_, expr, _, _)| (expr, &preset.final_training, preset.final_runs))
        .collect();
    runner.train_finals(&wanted)?;
    let mut csv_rows = Vec::new();
    let mut all_runs = Vec::new();
    for (role, expr, source, paper) in rows {
        let runs = runner.finals(&expr, &preset.final_training, preset.final_runs, role)?;
        let (acc, incomplete) = median_acc(&runs);
        let _ = writeln!(
            md,
            "| {role} | `{}` | {source} | {} | {} |",
            paper_notation(&expr),
            fmt_acc(acc, incomplete),
            paper.unwrap_or("—")
        );
        csv_rows.push(Table3Row {
            role: role.to_owned(),
            function: paper_notation(&expr),
            canonical: expr.to_string(),
            source: source.to_owned(),
            median_test_acc: acc,
            incomplete,
            paper: paper.map(str::to_owned),
        });
        all_runs.extend(runs);
    }
    write_csv(&runner.results.join("table3.csv"), &csv_rows)?;
    write_csv(&runner.results.join("table3-runs.csv"), &all_runs)?;

    // Figure 5: validation accuracy of the functions both Table 1's exhaustive search and
    // this table's search trained.
    if let Some(report) = report {
        // Table 1's exhaustive search of this preset, where its directory is keyed.
        let table1_dir = load_preset::<Table1>(&runner.root, "table1", &runner.preset)
            .ok()
            .and_then(|t1| {
                let plan = t1.searches.iter().find(|p| p.name == "exhaustive-s1")?;
                Some(runner.search_dir("table1", plan, &t1.search_training))
            });
        if let Some(table1_dir) = table1_dir.filter(|d| d.join("records.jsonl").exists()) {
            let table1 = runner.report(&table1_dir, Some(EVERY_FUNCTION))?;
            let here: BTreeMap<&str, f64> = report
                .top
                .iter()
                .map(|t| (t.expr.as_str(), t.val_acc))
                .collect();
            let mut csv = String::from("expr,table1_val_acc,table3_val_acc\n");
            let mut n = 0;
            for t in &table1.top {
                if let Some(v) = here.get(t.expr.as_str()) {
                    let _ = writeln!(csv, "\"{}\",{},{}", t.expr, 100.0 * t.val_acc, 100.0 * v);
                    n += 1;
                }
            }
            let path = runner.results.join("figure5.csv");
            std::fs::write(&path, csv)?;
            if n > 0 {
                for ext in ["png", "svg"] {
                    runner.actfn(&actfn_args::scatter_plot(
                        &path,
                        Axis {
                            column: "table1_val_acc",
                            label: "validation accuracy in the Table 1 search (%)",
                        },
                        Axis {
                            column: "table3_val_acc",
                            label: "validation accuracy in the Table 3 search (%)",
                        },
                        "Figure 5: validation accuracy across tasks",
                        &runner.results.join(format!("figure5.{ext}")),
                    ))?;
                }
            }
            let _ = writeln!(
                md,
                "\nFigure 5 (`figure5.png`): {n} functions trained by both searches.\n"
            );
        } else {
            let _ = writeln!(md, "\nFigure 5 needs Table 1's exhaustive search of this preset; run `cargo xtask reproduce-table1 --preset {}` first.\n", runner.preset);
        }
    }
    std::fs::write(runner.results.join("table3.md"), &md)?;
    runner.stage(&format!(
        "Table 3 done in {:.0} s",
        runner.started.elapsed().as_secs_f64()
    ));
    print!("{md}");
    Ok(())
}
