//! The sweep report's figures: a figure against a swept parameter, one line per
//! series with ±1 std error bars, baselines as dashed lines.

use crate::io::write_atomic;
use crate::report::plot::{encode_png, register_font};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// One line of a figure: `(x, mean, std)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64, f64)>,
    /// Drawn dashed (a baseline).
    pub dashed: bool,
}

/// A figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Tick labels at x = 0, 1, … for a categorical axis; `None` for a numeric one.
    pub categories: Option<Vec<String>>,
    pub series: Vec<Series>,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn e<T: std::fmt::Display>(err: T) -> anyhow::Error {
    anyhow!("plotting: {err}")
}

/// The (lo, hi) range of `values` with a margin (a flat range gets ±1 %).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs().max(1e-3) * 0.01);
    (lo - pad, hi + pad)
}

/// The corner of the plot area whose legend box would cover the fewest points (means
/// and error-bar ends), lower left first on a tie. The box is sized from the series
/// count and the longest label: about 18 px a line and 7 px a character in a
/// `plot_w × plot_h` pixel area showing `x0..x1 × y0..y1`.
fn legend_corner(
    fig: &Figure,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (plot_w, plot_h): (f64, f64),
) -> SeriesLabelPosition {
    let longest = fig.series.iter().map(|s| s.label.chars().count()).max().unwrap_or(0) as f64;
    let fw = ((longest * 7.0 + 45.0) / plot_w).min(1.0);
    let fh = ((fig.series.len() as f64 * 18.0 + 12.0) / plot_h).min(1.0);
    let points: Vec<(f64, f64)> = fig
        .series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [(p.0, p.1), (p.0, p.1 - p.2), (p.0, p.1 + p.2)]))
        .map(|(x, y)| ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0)))
        .collect();
    let corners = [
        (SeriesLabelPosition::LowerLeft, false, false),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::UpperRight, true, true),
    ];
    let covered = |right: bool, upper: bool| {
        points
            .iter()
            .filter(|&&(fx, fy)| {
                let in_x = if right { fx >= 1.0 - fw } else { fx <= fw };
                let in_y = if upper { fy >= 1.0 - fh } else { fy <= fh };
                in_x && in_y
            })
            .count()
    };
    corners.into_iter().min_by_key(|&(_, r, u)| covered(r, u)).map(|c| c.0).unwrap()
}

/// Draws `fig` and writes a PNG atomically. A baseline series with one point is drawn
/// across the whole x range.
pub fn draw(path: &Path, fig: &Figure) -> Result<()> {
    register_font();
    let (w, h) = (900u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let xs = fig.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (mut x0, mut x1) = match &fig.categories {
        Some(c) => (-0.5, c.len().max(1) as f64 - 0.5),
        None => padded(xs),
    };
    if x0 == x1 {
        (x0, x1) = (x0 - 1.0, x1 + 1.0);
    }
    let ys = fig.series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
    let (y0, y1) = padded(ys);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .caption(&fig.title, ("sans-serif", 20))
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        let cats = fig.categories.clone();
        let formatter = move |x: &f64| match &cats {
            Some(c) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None => {
                let t = format!("{x:.4}");
                t.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&fig.x_label).y_desc(&fig.y_label).x_label_formatter(&formatter);
        if let Some(c) = &fig.categories {
            mesh.x_labels(c.len() * 2 + 1);
        }
        mesh.draw().map_err(e)?;
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let legend = legend_corner(fig, (x0, x1), (y0, y1), (pw as f64, ph as f64));
        for (i, s) in fig.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let style = ShapeStyle { color: color.to_rgba(), filled: true, stroke_width: 2 };
            let mut pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
            if s.dashed && pts.len() == 1 {
                pts = vec![(x0, pts[0].1), (x1, pts[0].1)];
            }
            let anno = if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts, 8, 6, style)).map_err(e)?
            } else {
                chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(e)?;
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, style))).map_err(e)?
            };
            anno.label(&s.label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            let cap = (x1 - x0) * 0.008;
            for &(x, m, sd) in s.points.iter().filter(|p| p.2 > 0.0 && !(s.dashed && s.points.len() == 1)) {
                let bars = [
                    vec![(x, m - sd), (x, m + sd)],
                    vec![(x - cap, m - sd), (x + cap, m - sd)],
                    vec![(x - cap, m + sd), (x + cap, m + sd)],
                ];
                chart.draw_series(bars.into_iter().map(|b| PathElement::new(b, color.stroke_width(1)))).map_err(e)?;
            }
        }
        chart
            .configure_series_labels()
            .position(legend)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    write_atomic(path, &encode_png(&buf, w, h)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(series: Vec<Vec<(f64, f64)>>) -> Figure {
        Figure {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            categories: None,
            series: series
                .into_iter()
                .map(|p| Series {
                    label: "a label".into(),
                    points: p.into_iter().map(|(x, y)| (x, y, 0.0)).collect(),
                    dashed: false,
                })
                .collect(),
        }
    }

    #[test]
    fn the_legend_goes_to_the_emptiest_corner() {
        let at = |points| legend_corner(&fig(points), (0.0, 1.0), (0.0, 1.0), (800.0, 500.0));
        // Points low on the left (a curve falling to the left, as the stethoscope's
        // baselines): the lower right is free.
        assert_eq!(at(vec![vec![(0.0, 0.0), (0.5, 0.5), (1.0, 0.9)]]), SeriesLabelPosition::LowerRight);
        // Both lower corners taken: upper left, the first free one in order.
        assert_eq!(at(vec![vec![(0.0, 0.0), (1.0, 0.0)]]), SeriesLabelPosition::UpperLeft);
        // Nothing in the lower left: it stays there.
        assert_eq!(at(vec![vec![(0.0, 0.9), (1.0, 0.9)]]), SeriesLabelPosition::LowerLeft);
        assert_eq!(at(vec![vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]]), SeriesLabelPosition::UpperRight);
    }
}
