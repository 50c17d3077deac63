//! `actfn stats`: summary statistics and two-sample t-tests over files of numbers.
//!
//! Input files hold one number per line (blank lines ignored), or, with
//! `--column NAME`, are CSV files with a header row from which column `NAME` is read.
//! Every input error names the file and, where there is one, the line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use actfn_stats::{student_t_test, welch_t_test, Summary, TTest};
use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::json;

/// Arguments of `actfn stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(subcommand)]
    command: StatsCommand,
}

#[derive(Debug, Subcommand)]
enum StatsCommand {
    /// Student's (pooled variance) and Welch's two-sample t-tests of A against B.
    ///
    /// t is positive when A's mean is larger; p is two-sided. Bingham et al. report
    /// Student's test (df = n_A + n_B - 2).
    Ttest(TtestArgs),
    /// n, mean, sample standard deviation, median, min and max of one file.
    Summary {
        /// File of numbers: one per line, or CSV with a header when --column is given.
        file: PathBuf,
        /// Read this column of a CSV file with a header row.
        #[arg(long, value_name = "NAME")]
        column: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct TtestArgs {
    /// First sample: one number per line, or CSV with a header when --column is given.
    a: PathBuf,
    /// Second sample, in the same format as A.
    b: PathBuf,
    /// Read this column of both files, as CSV files with a header row.
    #[arg(long, value_name = "NAME")]
    column: Option<String>,
    /// Print one JSON object {"student", "welch", "a", "b"} instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `actfn stats`.
pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let out = match args.command {
        StatsCommand::Ttest(args) => ttest(&args)?,
        StatsCommand::Summary { file, column, json } => summary(&file, column.as_deref(), json)?,
    };
    print!("{out}");
    Ok(())
}

/// The output of `actfn stats ttest`.
fn ttest(args: &TtestArgs) -> anyhow::Result<String> {
    let a = read_numbers(&args.a, args.column.as_deref())?;
    let b = read_numbers(&args.b, args.column.as_deref())?;
    for (path, xs) in [(&args.a, &a), (&args.b, &b)] {
        if xs.len() < 2 {
            bail!(
                "{}: need at least 2 values for a t-test, got {}",
                path.display(),
                xs.len()
            );
        }
    }
    let context = || {
        format!(
            "t-test of {} against {}",
            args.a.display(),
            args.b.display()
        )
    };
    let student = student_t_test(&a, &b).with_context(context)?;
    let welch = welch_t_test(&a, &b).with_context(context)?;
    let sa = Summary::of(&a).with_context(|| args.a.display().to_string())?;
    let sb = Summary::of(&b).with_context(|| args.b.display().to_string())?;

    if args.json {
        let sample =
            |s: &Summary| json!({"n": s.n, "mean": s.mean, "sd": s.sd, "median": s.median});
        let value = json!({
            "student": student,
            "welch": welch,
            "a": sample(&sa),
            "b": sample(&sb),
        });
        return Ok(format!("{value}\n"));
    }

    let mut out = String::new();
    let row = |out: &mut String, cells: [&str; 6]| {
        let line = format!(
            "{:<8} {:>5} {:>12} {:>12} {:>12}  {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(&mut out, ["sample", "n", "mean", "sd", "median", "file"]);
    for (name, s, path) in [("a", &sa, &args.a), ("b", &sb, &args.b)] {
        row(
            &mut out,
            [
                name,
                &s.n.to_string(),
                &num(s.mean),
                &s.sd.map_or_else(|| "-".to_owned(), num),
                &num(s.median),
                &path.display().to_string(),
            ],
        );
    }
    out.push('\n');
    let _ = writeln!(out, "{:<8} {:>12} {:>12} {:>12}", "test", "t", "df", "p");
    for (name, r) in [("Student", &student), ("Welch", &welch)] {
        let TTest { t, df, p } = *r;
        let _ = writeln!(
            out,
            "{name:<8} {:>12} {:>12} {:>12}",
            num(t),
            num(df),
            num(p)
        );
    }
    Ok(out)
}

/// The output of `actfn stats summary`.
fn summary(file: &Path, column: Option<&str>, json: bool) -> anyhow::Result<String> {
    let xs = read_numbers(file, column)?;
    let s = Summary::of(&xs).with_context(|| file.display().to_string())?;
    if json {
        return Ok(format!("{}\n", serde_json::to_string(&s)?));
    }
    let sd = s.sd.map_or_else(|| "-".to_owned(), num);
    Ok(format!(
        "n       {}\nmean    {}\nsd      {sd}\nmedian  {}\nmin     {}\nmax     {}\n",
        s.n,
        num(s.mean),
        num(s.median),
        num(s.min),
        num(s.max)
    ))
}

/// Formats a number with six significant digits, in plain notation for magnitudes from
/// 1e-4 to 1e6 and in scientific notation otherwise.
fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor();
    if (-4.0..6.0).contains(&magnitude) {
        let decimals = (5.0 - magnitude).max(0.0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    } else {
        format!("{x:.5e}")
    }
}

/// Reads the numbers of `path`: one per line, blank lines ignored, or the column
/// `column` of a CSV file with a header row. Non-numeric and non-finite values are
/// errors naming the file and line.
fn read_numbers(path: &Path, column: Option<&str>) -> anyhow::Result<Vec<f64>> {
    match column {
        None => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut values = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let field = line.trim();
                if !field.is_empty() {
                    values.push(parse_number(field, path, i as u64 + 1)?);
                }
            }
            Ok(values)
        }
        Some(name) => read_column(path, name),
    }
}

/// Reads column `name` of the CSV file `path`; empty cells are errors.
fn read_column(path: &Path, name: &str) -> anyhow::Result<Vec<f64>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let csv_error = |e: csv::Error| match e.position() {
        Some(pos) => anyhow!("{}:{}: {e}", path.display(), pos.line()),
        None => anyhow!("{}: {e}", path.display()),
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let index = headers.iter().position(|h| h == name).ok_or_else(|| {
        let names: Vec<&str> = headers.iter().collect();
        anyhow!(
            "{}: no column {name:?} (columns: {})",
            path.display(),
            names.join(", ")
        )
    })?;
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        // Records of unequal length are rejected by the reader, so the field exists.
        let field = record.get(index).unwrap_or("");
        if field.is_empty() {
            bail!("{}:{line}: empty value in column {name:?}", path.display());
        }
        values.push(parse_number(field, path, line)?);
    }
    Ok(values)
}

/// Parses one finite number, or fails with `path:line: not a number: "text"`.
fn parse_number(field: &str, path: &Path, line: u64) -> anyhow::Result<f64> {
    match field.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => bail!("{}:{line}: not a finite number: {field:?}", path.display()),
        Err(_) => bail!("{}:{line}: not a number: {field:?}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_uses_six_significant_digits() {
        assert_eq!(num(94.05), "94.05");
        assert_eq!(num(0.17078251276599263), "0.170783");
        assert_eq!(num(10.0), "10");
        assert_eq!(num(2.886691923885993e-05), "2.88669e-5");
        assert_eq!(num(1234567.0), "1.23457e6");
        assert_eq!(num(-2.5746432527220326), "-2.57464");
        assert_eq!(num(0.0), "0");
    }
}
