//! PNG plots with plotters. The font is compiled in (DejaVu Sans), so plots render
//! the same on a machine with no fonts installed.

use super::EpochMetrics;
use crate::io::write_atomic;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as "sans-serif" (once per process).
pub fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("embedded font is valid");
    });
}

/// Encodes an RGB buffer as PNG bytes.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| anyhow!("encoding PNG: {e}"))?;
    Ok(out)
}

use image::ImageEncoder;

/// The name of the clean-training-accuracy figure in [`EpochMetrics::extra`].
pub const CLEAN_TRAIN_TOP1: &str = "clean_train_top1";

/// `(epoch, scale · f(m))` for every epoch where the figure is a number (tasks write
/// NaN for figures they do not measure).
fn finite_points(history: &[EpochMetrics], f: fn(&EpochMetrics) -> f64, scale: f64) -> Vec<(f64, f64)> {
    history.iter().map(|m| (m.epoch as f64, scale * f(m))).filter(|(_, v)| v.is_finite()).collect()
}

/// Draws loss (left) and accuracy (right) against epochs and writes a PNG atomically.
pub fn training_curves(path: &Path, title: &str, history: &[EpochMetrics]) -> Result<()> {
    register_font();
    let (w, h) = (1200u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(|e| anyhow!("{e}"))?;
        let (left, right) = root.split_horizontally(w / 2);
        let epochs = history.len().max(1) as f64;
        let x_range = 0.5..epochs + 0.5;

        let max_loss =
            history.iter().flat_map(|m| [m.train_loss, m.test_loss]).filter(|v| v.is_finite()).fold(0.1f64, f64::max)
                * 1.05;
        let mut chart = ChartBuilder::on(&left)
            .margin(15)
            .caption("loss", ("sans-serif", 18))
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range.clone(), 0.0..max_loss)
            .map_err(|e| anyhow!("{e}"))?;
        chart.configure_mesh().x_desc("epoch").draw().map_err(|e| anyhow!("{e}"))?;
        for (label, color, f) in [
            ("train", BLUE, (|m: &EpochMetrics| m.train_loss) as fn(&EpochMetrics) -> f64),
            ("test", RED, |m: &EpochMetrics| m.test_loss),
        ] {
            chart
                .draw_series(LineSeries::new(finite_points(history, f, 1.0), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;

        let mut chart = ChartBuilder::on(&right)
            .margin(15)
            .caption("accuracy (%)", ("sans-serif", 18))
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range, 0.0..100.0)
            .map_err(|e| anyhow!("{e}"))?;
        chart.configure_mesh().x_desc("epoch").draw().map_err(|e| anyhow!("{e}"))?;
        let mut series = vec![
            ("train top-1", BLUE, (|m: &EpochMetrics| m.train_top1) as fn(&EpochMetrics) -> f64),
            ("test top-1", RED, |m: &EpochMetrics| m.test_top1),
            ("test top-5", GREEN, |m: &EpochMetrics| m.test_top5),
        ];
        if history.iter().any(|m| m.extra.contains_key(CLEAN_TRAIN_TOP1)) {
            series.push(("clean train top-1", CYAN, |m: &EpochMetrics| {
                m.extra.get(CLEAN_TRAIN_TOP1).copied().unwrap_or(f64::NAN)
            }));
        }
        for (label, color, f) in series {
            chart
                .draw_series(LineSeries::new(finite_points(history, f, 100.0), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    write_atomic(path, &encode_png(&buf, w, h)?)
}
