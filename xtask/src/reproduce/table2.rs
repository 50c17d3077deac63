//! `cargo xtask reproduce-table2`: the best S1 and S2 functions against ReLU and Swish,
//! with Student's and Welch's t-tests beside the paper's values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use actfn_expr::Expr;
use anyhow::Context;
use serde::Serialize;

use super::paper::{BASELINES, TABLE2_PAIRS};
use super::preset::{load_preset, Table2};
use super::runner::{RunResult, Runner};
use super::table1::best_from_table1;
use super::{function_overrides, paper_notation, parse_expr, write_csv, Options};

/// One pairwise comparison of Table 2.
#[derive(Debug, Clone, Serialize)]
struct Table2Row {
    pair: String,
    n_a: usize,
    mean_a: f64,
    n_b: usize,
    mean_b: f64,
    student_t: Option<f64>,
    student_df: Option<f64>,
    student_p: Option<f64>,
    welch_t: Option<f64>,
    welch_df: Option<f64>,
    welch_p: Option<f64>,
    paper_t: f64,
    paper_p: f64,
    paper_t_student_p: Option<f64>,
    paper_t_welch_p: Option<f64>,
}

/// `cargo xtask reproduce-table2`.
pub fn table2(root: &Path, options: &Options) -> anyhow::Result<()> {
    let runner = Runner::new(root, "table2", options)?;
    let preset: Table2 = load_preset(root, "table2", &runner.preset)?;
    let overrides = function_overrides(options, &["best-s1", "best-s2"])?;
    runner.stage(&format!(
        "Table 2, preset {}: {}",
        runner.preset, preset.about
    ));

    let paper = |label: &str| actfn_expr::paper::paper_function(label).context("paper function");
    let pick =
        |name: &str, search: &str, paper_label: &str| -> anyhow::Result<(Expr, &'static str)> {
            if let Some(e) = overrides.get(name) {
                return Ok((e.clone(), "given with --functions"));
            }
            if let Some(e) = best_from_table1(&runner, search, "cifar100") {
                return Ok((e, "best CIFAR-100 median of this preset's Table 1"));
            }
            Ok((paper(paper_label)?, "the paper's"))
        };
    let (s1, s1_source) = pick("best-s1", "exhaustive-s1", "exhaustive-1")?;
    let (s2, s2_source) = pick("best-s2", "evolution-loss-s2", "evo-loss-3")?;
    let relu = parse_expr(BASELINES[0].1)?;
    let swish = parse_expr(BASELINES[1].1)?;

    let groups = [
        ("ReLU", &relu, preset.runs.relu),
        ("Swish", &swish, preset.runs.swish),
        ("best S1", &s1, preset.runs.best_s1),
        ("best S2", &s2, preset.runs.best_s2),
    ];
    // Every final run of the table at once on a parallel executor; read in turn below.
    let wanted: Vec<_> = groups
        .iter()
        .map(|&(_, expr, runs)| (expr, &preset.training, runs))
        .collect();
    runner.train_finals(&wanted)?;
    let mut accs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut all_runs = Vec::new();
    for (name, expr, runs) in groups {
        let results = runner.finals(expr, &preset.training, runs, name)?;
        accs.insert(
            name,
            results
                .iter()
                .filter_map(RunResult::ok_acc)
                .map(|a| 100.0 * a)
                .collect(),
        );
        all_runs.extend(results);
    }
    let mut rows = Vec::new();
    for (a, b, paper_t, paper_p, n_a, n_b) in TABLE2_PAIRS {
        let (xa, xb) = (&accs[a], &accs[b]);
        let student = actfn_stats::student_t_test(xa, xb).ok();
        let welch = actfn_stats::welch_t_test(xa, xb).ok();
        rows.push(Table2Row {
            pair: format!("{a} vs {b}"),
            n_a: xa.len(),
            mean_a: actfn_stats::mean(xa).unwrap_or(f64::NAN),
            n_b: xb.len(),
            mean_b: actfn_stats::mean(xb).unwrap_or(f64::NAN),
            student_t: student.as_ref().map(|t| t.t),
            student_df: student.as_ref().map(|t| t.df),
            student_p: student.as_ref().map(|t| t.p),
            welch_t: welch.as_ref().map(|t| t.t),
            welch_df: welch.as_ref().map(|t| t.df),
            welch_p: welch.as_ref().map(|t| t.p),
            paper_t,
            paper_p,
            paper_t_student_p: actfn_stats::two_sided_p(paper_t, (n_a + n_b - 2) as f64).ok(),
            paper_t_welch_p: None,
        });
    }
    write_csv(&runner.results.join("table2.csv"), &rows)?;
    write_csv(&runner.results.join("table2-runs.csv"), &all_runs)?;
    let mut md = String::new();
    let _ = writeln!(md, "# Table 2 (preset `{}`)\n", runner.preset);
    let _ = writeln!(md, "Preset: {}.\n", preset.about);
    let _ = writeln!(md, "- best S1: `{}` ({s1_source})", paper_notation(&s1));
    let _ = writeln!(md, "- best S2: `{}` ({s2_source})\n", paper_notation(&s2));
    let _ = writeln!(
        md,
        "Test accuracy (%) of runs that finished; two-sided p-values.\n"
    );
    let _ = writeln!(md, "| pair | n | means | Student t; p | Welch t; p | paper t; p | paper's t as Student (df = n1+n2-2) |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let num = |v: Option<f64>, prec: usize| v.map_or("—".to_owned(), |x| format!("{x:.prec$}"));
    let sci = |v: Option<f64>| v.map_or("—".to_owned(), |x| format!("{x:.2e}"));
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {}, {} | {:.2}, {:.2} | {}; {} | {}; {} | {}; {:.2e} | p = {} |",
            r.pair,
            r.n_a,
            r.n_b,
            r.mean_a,
            r.mean_b,
            num(r.student_t, 2),
            sci(r.student_p),
            num(r.welch_t, 2),
            sci(r.welch_p),
            r.paper_t,
            r.paper_p,
            sci(r.paper_t_student_p),
        );
    }
    let _ = writeln!(
        md,
        "\nThe last column turns the paper's t-values into p-values with Student's pooled-variance degrees of freedom; it matches the paper's p-values, which shows the paper used Student's test, not Welch's.\n"
    );
    std::fs::write(runner.results.join("table2.md"), &md)?;
    runner.stage(&format!(
        "Table 2 done in {:.0} s",
        runner.started.elapsed().as_secs_f64()
    ));
    print!("{md}");
    Ok(())
}
