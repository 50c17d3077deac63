//! `actfn plot`: draws activation functions, and search curves from search directories.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use actfn_expr::{Expr, Style};

use crate::output::figures::{line_plot, scatter_plot, Labels, Series};

/// Draw functions (`actfn plot EXPR... --out f.png`), curves or a scatter from a CSV file.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Expressions to draw, each optionally labelled as `LABEL=EXPR`.
    pub exprs: Vec<String>,
    /// Output file; `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Domain drawn, as `LO,HI`.
    #[arg(long, default_value = "-5,5", allow_hyphen_values = true)]
    pub range: String,
    /// Number of evaluation points across the domain.
    #[arg(long, default_value_t = 801)]
    pub points: usize,
    /// Figure title.
    #[arg(long, default_value = "")]
    pub title: String,
    /// Scatter mode: read this CSV file and draw column `--x` against column `--y`.
    #[arg(long, requires_all = ["x", "y"], conflicts_with = "curves")]
    pub scatter: Option<PathBuf>,
    /// Curve mode: read this CSV file and draw column `--y` over column `--x`, one line per
    /// value of column `--group` (e.g. best accuracy per generation of each search).
    #[arg(long, requires_all = ["x", "y", "group"])]
    pub curves: Option<PathBuf>,
    /// The x column of --scatter or --curves.
    #[arg(long)]
    pub x: Option<String>,
    /// The y column of --scatter or --curves.
    #[arg(long)]
    pub y: Option<String>,
    /// The column naming each line of --curves.
    #[arg(long)]
    pub group: Option<String>,
    /// The x axis title, in words with units [default: the --x column's name].
    #[arg(long, value_name = "TEXT")]
    pub x_label: Option<String>,
    /// The y axis title, in words with units [default: the --y column's name].
    #[arg(long, value_name = "TEXT")]
    pub y_label: Option<String>,
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let (xs, ys) = (
        args.x.as_deref().unwrap_or(""),
        args.y.as_deref().unwrap_or(""),
    );
    let labels = Labels {
        title: &args.title,
        x: args.x_label.as_deref().unwrap_or(xs),
        y: args.y_label.as_deref().unwrap_or(ys),
    };
    if let Some(csv_path) = &args.scatter {
        let points = read_columns(csv_path, xs, ys, None)?
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>();
        scatter_plot(&args.out, &points, &labels)?;
        println!("{}", args.out.display());
        return Ok(());
    }
    if let Some(csv_path) = &args.curves {
        let rows = read_columns(csv_path, xs, ys, args.group.as_deref())?;
        let mut series: Vec<Series> = Vec::new();
        for (group, point) in rows {
            match series.iter_mut().find(|s| s.label == group) {
                Some(s) => s.points.push(point),
                None => series.push(Series {
                    label: group,
                    points: vec![point],
                }),
            }
        }
        line_plot(&args.out, &series, &labels, true)?;
        println!("{}", args.out.display());
        return Ok(());
    }
    if args.exprs.is_empty() {
        bail!("nothing to draw: give at least one expression, or --scatter FILE");
    }
    let (lo, hi) = parse_range(&args.range)?;
    if args.points < 2 {
        bail!("--points must be at least 2, got {}", args.points);
    }
    let mut series = Vec::new();
    for item in &args.exprs {
        let (label, text) = split_label(item);
        let expr = Expr::parse(text).with_context(|| format!("cannot parse {text:?}"))?;
        let label = label
            .map(str::to_owned)
            .unwrap_or_else(|| expr.styled(Style::Paper).to_string());
        series.push(sample(&label, &expr, lo, hi, args.points));
    }
    line_plot(
        &args.out,
        &series,
        &Labels {
            title: &args.title,
            x: "x",
            y: "f(x)",
        },
        false,
    )?;
    println!("{}", args.out.display());
    Ok(())
}

/// `LABEL=EXPR` splits into a label and an expression; a lone expression has no label.
fn split_label(item: &str) -> (Option<&str>, &str) {
    match item.split_once('=') {
        Some((label, expr)) if !label.trim().is_empty() => (Some(label.trim()), expr),
        _ => (None, item),
    }
}

/// Evaluates `expr` at `points` evenly spaced points of `[lo, hi]`.
pub fn sample(label: &str, expr: &Expr, lo: f64, hi: f64, points: usize) -> Series {
    let step = (hi - lo) / (points - 1) as f64;
    Series {
        label: label.to_owned(),
        points: (0..points)
            .map(|i| {
                let x = lo + step * i as f64;
                (x, expr.eval(x))
            })
            .collect(),
    }
}

fn parse_range(text: &str) -> anyhow::Result<(f64, f64)> {
    let parsed = text
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)));
    match parsed {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => Ok((lo, hi)),
        _ => bail!("--range must be LO,HI with finite LO < HI, got {text:?}"),
    }
}

/// Reads two numeric columns, and optionally a label column, of a CSV file with a header.
fn read_columns(
    path: &PathBuf,
    x: &str,
    y: &str,
    group: Option<&str>,
) -> anyhow::Result<Vec<(String, (f64, f64))>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header", path.display()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column named {name:?}", path.display()))
    };
    let (ix, iy) = (column(x)?, column(y)?);
    let ig = group.map(column).transpose()?;
    let mut points = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{}:{line}: bad CSV", path.display()))?;
        let value = |idx: usize| -> anyhow::Result<f64> {
            let cell = record.get(idx).unwrap_or("");
            cell.trim()
                .parse()
                .with_context(|| format!("{}:{line}: not a number: {cell:?}", path.display()))
        };
        let label = ig.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        points.push((label, (value(ix)?, value(iy)?)));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ranges() {
        assert_eq!(split_label("relu=max(x, 0)"), (Some("relu"), "max(x, 0)"));
        assert_eq!(split_label("tanh(x)"), (None, "tanh(x)"));
        assert_eq!(parse_range("-5,5").unwrap(), (-5.0, 5.0));
        assert!(parse_range("5,-5").is_err());
        assert!(parse_range("a,b").is_err());
        let s = sample("x", &Expr::X, -1.0, 1.0, 3);
        assert_eq!(s.points, vec![(-1.0, -1.0), (0.0, 0.0), (1.0, 1.0)]);
    }
}
