//! The table of `actfn compare`: per function the number of finished runs, median, mean
//! and standard deviation of its accuracy, and against the baseline the mean difference
//! with Welch's 95% interval, t with Student's and Welch's p, and Holm's correction of the
//! Welch p-values over all comparisons of the table (the family whose error rate it keeps
//! at 5%). A comparison that the runs cannot decide says so in words.
//!
//! The accuracy compared is the test accuracy when the runs were tested, the validation
//! accuracy otherwise; only runs with status `ok` count.

use std::fmt::Write as _;
use std::path::Path;

use actfn_evo::RecordStatus;
use actfn_stats::{holm, student_t_test, welch_interval, welch_t_test, Summary};
use serde::Serialize;

use crate::commands::compare::CompareConfig;
use crate::output::json_out::write_text_atomic;

/// One run, as `runs.csv` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub function: String,
    pub run: usize,
    pub seed: u64,
    /// `None`: no result yet.
    pub status: Option<RecordStatus>,
    pub val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub seconds: Option<f64>,
}

/// Family-wise significance level of the verdicts.
pub const ALPHA: f64 = 0.05;

/// One function's line of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub function: String,
    pub baseline: bool,
    /// Runs with status `ok`.
    pub n: usize,
    /// Runs that diverged or failed.
    pub not_ok: usize,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    /// Mean minus the baseline's mean, and Welch's 95% interval of it.
    pub difference: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub t_student: Option<f64>,
    pub p_student: Option<f64>,
    pub t_welch: Option<f64>,
    pub p_welch: Option<f64>,
    /// Welch's p corrected by Holm over the table's comparisons.
    pub p_holm: Option<f64>,
    pub verdict: String,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// `test` or `validation`.
    pub metric: &'static str,
    pub lines: Vec<Line>,
    pub about: String,
}

impl Table {
    /// The table of the runs in `rows` (which may be incomplete).
    pub fn new(config: &CompareConfig, rows: &[RunRow]) -> anyhow::Result<Table> {
        let tested = config.test_size != Some(0);
        let metric = if tested { "test" } else { "validation" };
        let accuracies = |function: &str| -> Vec<f64> {
            rows.iter()
                .filter(|r| r.function == function && r.status == Some(RecordStatus::Ok))
                .filter_map(|r| if tested { r.test_acc } else { r.val_acc })
                .map(|a| 100.0 * a)
                .collect()
        };
        let baseline = &config.functions[config.baseline];
        let base = accuracies(baseline);
        let base_mean = (!base.is_empty())
            .then(|| Summary::of(&base))
            .transpose()?
            .map(|s| s.mean);
        let mut lines = Vec::new();
        for function in &config.functions {
            let acc = accuracies(function);
            let summary = (!acc.is_empty()).then(|| Summary::of(&acc)).transpose()?;
            let not_ok = rows
                .iter()
                .filter(|r| {
                    &r.function == function && matches!(r.status, Some(s) if s != RecordStatus::Ok)
                })
                .count();
            let mut line = Line {
                function: function.clone(),
                baseline: function == baseline,
                n: acc.len(),
                not_ok,
                median: summary.map(|s| s.median),
                mean: summary.map(|s| s.mean),
                sd: summary.and_then(|s| s.sd),
                difference: None,
                ci_low: None,
                ci_high: None,
                t_student: None,
                p_student: None,
                t_welch: None,
                p_welch: None,
                p_holm: None,
                verdict: String::new(),
            };
            if line.baseline {
                line.verdict = "baseline".into();
            } else if acc.len() < 2 || base.len() < 2 {
                line.verdict = format!(
                    "too few finished runs to test ({} and {} of at least 2)",
                    acc.len(),
                    base.len()
                );
            } else {
                match (
                    student_t_test(&acc, &base),
                    welch_t_test(&acc, &base),
                    welch_interval(&acc, &base, 0.95),
                ) {
                    (Ok(s), Ok(w), Ok((lo, hi))) => {
                        line.difference = line.mean.zip(base_mean).map(|(m, b)| m - b);
                        line.ci_low = Some(lo);
                        line.ci_high = Some(hi);
                        line.t_student = Some(s.t);
                        line.p_student = Some(s.p);
                        line.t_welch = Some(w.t);
                        line.p_welch = Some(w.p);
                    }
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        line.verdict = format!("no test: {e}");
                    }
                }
            }
            lines.push(line);
        }
        let tested_lines: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].p_welch.is_some())
            .collect();
        let p: Vec<f64> = tested_lines
            .iter()
            .map(|&i| lines[i].p_welch.unwrap_or(1.0))
            .collect();
        for (&i, adjusted) in tested_lines.iter().zip(holm(&p)?) {
            let line = &mut lines[i];
            line.p_holm = Some(adjusted);
            let (lo, hi) = (line.ci_low.unwrap_or(0.0), line.ci_high.unwrap_or(0.0));
            line.verdict = if adjusted < ALPHA {
                if line.difference.unwrap_or(0.0) > 0.0 {
                    "higher than the baseline".into()
                } else {
                    "lower than the baseline".into()
                }
            } else if lo <= 0.0 && hi >= 0.0 {
                format!(
                    "cannot tell from the baseline with these runs (95% interval {lo:+.2} to {hi:+.2} includes 0)"
                )
            } else {
                format!(
                    "not significant after Holm's correction over {} comparisons",
                    p.len()
                )
            };
        }
        let about = format!(
            "{} runs of each function (seeds {}..{}), network {}, {} epochs; {} accuracy in %; \
             differences against the baseline `{}` with Welch's 95% interval; Holm's correction \
             of the Welch p-values over the {} comparisons; a verdict at alpha = {ALPHA} after \
             the correction. Only runs that finished with status ok count (n).",
            config.runs,
            config.seed,
            config.seed + config.runs as u64 - 1,
            config.training.arch(),
            config.training.epochs,
            metric,
            baseline,
            p.len(),
        );
        Ok(Table {
            metric,
            lines,
            about,
        })
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Comparison\n\n{}\n", self.about);
        let _ = writeln!(
            md,
            "| function | n | not ok | median | mean | sd | difference | 95% interval | t | Student p | Welch p | Holm p | verdict |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let num =
            |v: Option<f64>, digits: usize| v.map_or("—".to_owned(), |v| format!("{v:.digits$}"));
        let signed = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:+.2}"));
        let p = |v: Option<f64>| v.map_or("—".to_owned(), format_p);
        for l in &self.lines {
            let name = if l.baseline {
                format!("`{}` (baseline)", l.function)
            } else {
                format!("`{}`", l.function)
            };
            let interval = match (l.ci_low, l.ci_high) {
                (Some(a), Some(b)) => format!("{a:+.2} to {b:+.2}"),
                _ => "—".into(),
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {interval} | {} | {} | {} | {} | {} |",
                l.n,
                l.not_ok,
                num(l.median, 2),
                num(l.mean, 2),
                num(l.sd, 2),
                signed(l.difference),
                num(l.t_welch, 3),
                p(l.p_student),
                p(l.p_welch),
                p(l.p_holm),
                l.verdict
            );
        }
        md
    }
}

/// Three significant digits, in scientific notation below 0.001.
fn format_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

/// Writes `runs.csv`, `compare.csv` and `compare.md`, each atomically.
pub fn write_all(dir: &Path, rows: &[RunRow], table: &Table) -> anyhow::Result<()> {
    let mut runs = csv::Writer::from_writer(Vec::new());
    runs.write_record([
        "function", "run", "seed", "status", "val_acc", "test_acc", "seconds",
    ])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for r in rows {
        runs.write_record([
            r.function.clone(),
            r.run.to_string(),
            r.seed.to_string(),
            r.status.map_or("missing", |s| s.name()).to_owned(),
            opt(r.val_acc),
            opt(r.test_acc),
            opt(r.seconds),
        ])?;
    }
    write_text_atomic(
        &dir.join("runs.csv"),
        &String::from_utf8(runs.into_inner()?)?,
    )?;
    let mut summary = csv::Writer::from_writer(Vec::new());
    for line in &table.lines {
        summary.serialize(line)?;
    }
    write_text_atomic(
        &dir.join("compare.csv"),
        &String::from_utf8(summary.into_inner()?)?,
    )?;
    write_text_atomic(&dir.join("compare.md"), &table.markdown())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actfn_wrn::data::{Cifar, DataConfig};
    use actfn_wrn::train::TrainConfig;

    fn config(functions: &[&str], runs: usize) -> CompareConfig {
        CompareConfig {
            functions: functions.iter().map(|s| s.to_string()).collect(),
            baseline: 0,
            runs,
            seed: 0,
            data: DataConfig::paper(Cifar::Cifar10),
            test_size: None,
            training: TrainConfig::search(),
        }
    }

    fn rows(function: &str, accs: &[f64]) -> Vec<RunRow> {
        accs.iter()
            .enumerate()
            .map(|(i, &a)| RunRow {
                function: function.into(),
                run: i,
                seed: i as u64,
                status: Some(RecordStatus::Ok),
                val_acc: Some(a),
                test_acc: Some(a),
                seconds: Some(1.0),
            })
            .collect()
    }

    /// A recorded table checked against SciPy: accuracies in %, baseline `max(x, 0)`.
    /// Reference values: SciPy 1.17.1 `ttest_ind(a, b)` and `ttest_ind(a, b,
    /// equal_var=False)` (statistic, pvalue, `confidence_interval(0.95)`) on the same
    /// numbers times 100, Holm by hand over the two Welch p-values.
    #[test]
    fn statistics_equal_scipys_on_a_recorded_table() {
        let relu = [0.6041, 0.6102, 0.5987, 0.6075, 0.6013];
        let swish = [0.6150, 0.6093, 0.6201, 0.6122, 0.6177];
        let other = [0.6050, 0.5968, 0.6110, 0.6021, 0.5990];
        let mut all = rows("max(x, 0)", &relu);
        all.extend(rows("x * sigmoid(x)", &swish));
        all.extend(rows("tanh(x)", &other));
        let table = Table::new(
            &config(&["max(x, 0)", "x * sigmoid(x)", "tanh(x)"], 5),
            &all,
        )
        .unwrap();
        let swish_line = &table.lines[1];
        let other_line = &table.lines[2];
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() <= 1e-9 * b.abs().max(1.0);
        for (line, t_s, p_s, t_w, p_w, lo, hi, holm_p) in [
            (
                swish_line,
                SCIPY_SWISH.0,
                SCIPY_SWISH.1,
                SCIPY_SWISH.2,
                SCIPY_SWISH.3,
                SCIPY_SWISH.4,
                SCIPY_SWISH.5,
                SCIPY_SWISH.6,
            ),
            (
                other_line,
                SCIPY_OTHER.0,
                SCIPY_OTHER.1,
                SCIPY_OTHER.2,
                SCIPY_OTHER.3,
                SCIPY_OTHER.4,
                SCIPY_OTHER.5,
                SCIPY_OTHER.6,
            ),
        ] {
            assert!(close(line.t_student, t_s), "{line:?}");
            assert!(close(line.p_student, p_s), "{line:?}");
            assert!(close(line.t_welch, t_w), "{line:?}");
            assert!(close(line.p_welch, p_w), "{line:?}");
            assert!(close(line.ci_low, lo), "{line:?}");
            assert!(close(line.ci_high, hi), "{line:?}");
            assert!(close(line.p_holm, holm_p), "{line:?}");
        }
        assert_eq!(swish_line.verdict, "higher than the baseline");
        assert!(
            other_line.verdict.starts_with("cannot tell"),
            "{other_line:?}"
        );
        assert_eq!(table.lines[0].verdict, "baseline");
        assert_eq!(swish_line.n, 5);
        assert!(close(swish_line.median, 61.5));
        let md = table.markdown();
        assert!(md.contains("| `max(x, 0)` (baseline) | 5 | 0 |"), "{md}");
    }

    /// (t Student, p Student, t Welch, p Welch, CI low, CI high, Holm p), from SciPy.
    type Reference = (f64, f64, f64, f64, f64, f64, f64);
    const SCIPY_SWISH: Reference = (
        3.7243878888786215,
        0.0058345354115730145,
        3.7243878888786215,
        0.005892910027241395,
        0.3992438746973265,
        1.7007561253026822,
        0.01178582005448279,
    );
    const SCIPY_OTHER: Reference = (
        -0.4894198195200284,
        0.6376811005924087,
        -0.4894198195200284,
        0.6380977409752624,
        -0.9066824041377495,
        0.590682404137747,
        0.6380977409752624,
    );

    #[test]
    fn too_few_runs_and_failures_are_said_in_words() {
        let mut all = rows("max(x, 0)", &[0.6, 0.61]);
        all.extend(rows("tanh(x)", &[0.55]));
        all.push(RunRow {
            status: Some(RecordStatus::Diverged),
            val_acc: None,
            test_acc: None,
            ..rows("tanh(x)", &[0.0])[0].clone()
        });
        let table = Table::new(&config(&["max(x, 0)", "tanh(x)"], 2), &all).unwrap();
        let line = &table.lines[1];
        assert_eq!((line.n, line.not_ok), (1, 1));
        assert!(
            line.verdict.starts_with("too few finished runs"),
            "{line:?}"
        );
        assert_eq!(line.p_holm, None);
    }
}
