//! Drawing: function shapes, search curves and scatter plots, as PNG or SVG by file
//! extension (plotters, with an embedded DejaVu font so no system fonts are needed).

use std::path::Path;
use std::sync::Once;

use anyhow::{bail, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Axis titles and the figure title.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 600;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails on an unparsable font; the embedded one is known good,
        // and a failure would surface as a drawing error naming the font below.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(ext) if ext == "png" => Ok(Format::Png),
        Some(ext) if ext == "svg" => Ok(Format::Svg),
        _ => bail!(
            "cannot draw {}: the file name must end in .png or .svg",
            path.display()
        ),
    }
}

/// Draws on a backend chosen by the extension of `path`, creating parent directories.
fn with_backend(
    path: &Path,
    draw: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> anyhow::Result<()>,
    draw_svg: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    register_font();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    match format_of(path)? {
        Format::Png => {
            let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw(root)
        }
        Format::Svg => {
            let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw_svg(root)
        }
    }
    .with_context(|| format!("cannot draw {}", path.display()))
}

/// The y range covering every finite point, padded by 5%; clamped to `limit` in magnitude
/// so that one exploding function does not flatten the others.
fn y_range(series: &[Series], limit: f64) -> (f64, f64) {
    let finite = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .map(|y| y.clamp(-limit, limit));
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn x_range(series: &[Series]) -> (f64, f64) {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    if !lo.is_finite() || lo == hi {
        return (lo.min(0.0) - 0.5, hi.max(0.0) + 0.5);
    }
    (lo, hi)
}

/// Whether every x of the series is a whole number (generations, epochs): such an axis
/// gets ticks on whole numbers only.
fn whole_number_x(series: &[Series]) -> bool {
    let mut xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    xs.clone().next().is_some() && xs.all(|x| x.is_finite() && x.fract() == 0.0)
}

/// A white canvas with a title, axis descriptions and a mesh over the given ranges; with
/// `whole_x`, x ticks only on whole numbers.
fn axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    labels: &Labels,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    whole_x: bool,
) -> anyhow::Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>>
where
    DB::ErrorType: 'static,
{
    // At most 10 whole-number ticks; plotters picks "nice" positions among them, and any
    // position that is not whole is left unlabelled.
    let x_ticks = if whole_x {
        ((x.end - x.start).round() as usize + 1).clamp(2, 10)
    } else {
        10
    };
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(root)
        .caption(labels.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x, y)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .x_labels(x_ticks)
        .x_label_formatter(&|v: &f64| {
            if !whole_x {
                format!("{v}")
            } else if (v - v.round()).abs() < 1e-9 {
                format!("{}", v.round() as i64)
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(chart)
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[Series],
    labels: &Labels,
    with_markers: bool,
    y_limit: f64,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = x_range(series);
    let (y0, y1) = y_range(series, y_limit);
    let mut chart = axes(&root, labels, x0..x1, y0..y1, whole_number_x(series))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        // A non-finite or clipped value breaks the line instead of drawing a spike to it.
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(x, y) in &s.points {
            if y.is_finite() && y >= y0 && y <= y1 {
                segments.last_mut().expect("non-empty").push((x, y));
            } else if !segments.last().expect("non-empty").is_empty() {
                segments.push(Vec::new());
            }
        }
        let mut first = true;
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            let drawn = chart
                .draw_series(LineSeries::new(seg.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if first {
                drawn.label(s.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
                first = false;
            }
            if with_markers {
                chart
                    .draw_series(seg.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Draws line series (function shapes, or curves with `with_markers`).
pub fn line_plot(
    path: &Path,
    series: &[Series],
    labels: &Labels,
    with_markers: bool,
) -> anyhow::Result<()> {
    // Activation shapes are compared near the origin; values beyond 50 only hide them.
    let limit = if with_markers { f64::INFINITY } else { 50.0 };
    with_backend(
        path,
        |root| draw_lines(root, series, labels, with_markers, limit),
        |root| draw_lines(root, series, labels, with_markers, limit),
    )
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    labels: &Labels,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let series = [Series {
        label: String::new(),
        points: points.to_vec(),
    }];
    let (x0, x1) = x_range(&series);
    let (y0, y1) = y_range(&series, f64::INFINITY);
    let mut chart = axes(&root, labels, x0..x1, y0..y1, whole_number_x(&series))?;
    chart
        .draw_series(
            points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .map(|&p| Circle::new(p, 4, BLUE.mix(0.7).filled())),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Draws a scatter plot of (x, y) points.
pub fn scatter_plot(path: &Path, points: &[(f64, f64)], labels: &Labels) -> anyhow::Result<()> {
    with_backend(
        path,
        |root| draw_scatter(root, points, labels),
        |root| draw_scatter(root, points, labels),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_png_and_svg_and_refuses_other_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![Series {
            label: "relu".into(),
            points: (0..=100)
                .map(|i| {
                    let x = -5.0 + 0.1 * f64::from(i);
                    (x, x.max(0.0))
                })
                .collect(),
        }];
        let labels = Labels {
            title: "t",
            x: "x",
            y: "f(x)",
        };
        for name in ["f.png", "f.svg"] {
            let path = dir.path().join(name);
            line_plot(&path, &series, &labels, false).unwrap();
            assert!(
                std::fs::metadata(&path).unwrap().len() > 1000,
                "{name} too small"
            );
        }
        let svg = std::fs::read_to_string(dir.path().join("f.svg")).unwrap();
        assert!(svg.contains("relu"));
        let err = line_plot(&dir.path().join("f.jpg"), &series, &labels, false).unwrap_err();
        assert!(format!("{err:#}").contains(".png or .svg"));
        scatter_plot(
            &dir.path().join("s.png"),
            &[(0.1, 0.2), (0.5, f64::NAN)],
            &labels,
        )
        .unwrap();
    }

    #[test]
    fn y_range_ignores_non_finite_and_clamps() {
        let s = [Series {
            label: String::new(),
            points: vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 1e9), (3.0, -2.0)],
        }];
        let (lo, hi) = y_range(&s, 50.0);
        assert!(lo < -2.0 && lo > -5.0, "{lo}");
        assert!(hi > 50.0 && hi < 60.0);
    }
}
