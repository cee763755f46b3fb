//! The sweep report, rebuilt from the finished runs alone: `report.md` (the paper's
//! table layout, mean ± std over seeds, baseline rows, best value in bold, the
//! command), `results.csv` (one row per run) and PNG plots.

use super::config::{lower_is_better, SweepConfig};
use super::grid::combinations;
use super::plot::draw;
use super::{Plan, StethoscopePoint, Sweep};
use crate::io::write_atomic;
use crate::report::{read_summary, Summary};
use crate::train::RunPaths;
use anyhow::Result;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// State of one point's run directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Finished,
    /// A checkpoint but no summary: interrupted or still running.
    Partial,
    Failed,
    Pending,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }
}

/// What one point's directory holds.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub status: Status,
    pub summary: Option<Summary>,
    pub error: Option<String>,
    pub stethoscope: Option<Vec<StethoscopePoint>>,
}

/// Mean and sample standard deviation over seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator); 0 for one run.
    pub std: f64,
    pub n: usize,
}

/// Mean ± sample standard deviation (Bessel-corrected, as results "averaged over k
/// runs" with their stddev are reported in seed 000 Tables 1–7 and seed 003 Tables
/// 1–4); `None` for no values.
pub fn mean_std(values: &[f64]) -> Option<Stat> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    Some(Stat { mean, std: var.sqrt(), n })
}

/// A figure of a finished run by name (see [`SweepConfig::metrics`]).
pub fn metric(s: &Summary, name: &str) -> Option<f64> {
    let v = match name {
        "top1" => s.top1,
        "top5" => s.top5,
        "test_loss" => s.test_loss,
        "wall_seconds" => s.wall_seconds,
        "epoch_seconds" => s.wall_seconds / s.epochs.max(1) as f64,
        "images_per_second" => s.images_per_second,
        other => *s.extra.get(other)?,
    };
    v.is_finite().then_some(v)
}

/// Accuracies are shown in percent.
fn is_percent(metric: &str) -> bool {
    metric.contains("top1") || metric.contains("top5")
}

/// The heading of a figure.
pub fn metric_title(metric: &str) -> String {
    let name = match metric {
        "top1" => "top-1",
        "top5" => "top-5",
        other => other,
    };
    if is_percent(metric) {
        format!("{name} (%)")
    } else {
        name.to_string()
    }
}

/// The value as displayed (percent for accuracies).
pub fn display_value(metric: &str, v: f64) -> f64 {
    if is_percent(metric) {
        100.0 * v
    } else {
        v
    }
}

fn fmt(metric: &str, v: f64) -> String {
    let d = display_value(metric, v);
    if metric.contains("loss") {
        format!("{d:.4}")
    } else if metric.contains("seconds") || metric.contains("per_second") {
        format!("{d:.1}")
    } else {
        format!("{d:.2}")
    }
}

/// Reads every point's directory.
pub fn collect(sweep: &Sweep, plan: &Plan) -> Vec<RunResult> {
    plan.points
        .iter()
        .map(|p| {
            let dir = sweep.run_dir(p);
            let paths = RunPaths::new(&dir);
            let summary = read_summary(&paths.summary()).ok();
            let error = std::fs::read_to_string(dir.join("error.txt")).ok().map(|e| e.trim().to_string());
            let stethoscope =
                std::fs::read_to_string(dir.join("stethoscope.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
            let status = if summary.is_some() {
                Status::Finished
            } else if error.is_some() {
                Status::Failed
            } else if paths.checkpoint().exists() {
                Status::Partial
            } else {
                Status::Pending
            };
            RunResult { status, summary, error, stethoscope }
        })
        .collect()
}

/// Mean ± std of `metric` per cell over its finished runs.
pub fn cell_stats(plan: &Plan, results: &[RunResult], metric_name: &str) -> Vec<Option<Stat>> {
    (0..plan.cells.len())
        .map(|c| {
            let values: Vec<f64> = plan
                .points
                .iter()
                .zip(results)
                .filter(|(p, _)| p.cell == c)
                .filter_map(|(_, r)| r.summary.as_ref().and_then(|s| metric(s, metric_name)))
                .collect();
            mean_std(&values)
        })
        .collect()
}

/// The cell matching `values` on every axis it is crossed with (`None` in `values`
/// matches nothing), among grid cells or the cells of baseline `b`.
fn find_cell(plan: &Plan, baseline: Option<usize>, values: &[Option<usize>]) -> Option<usize> {
    plan.cells
        .iter()
        .position(|c| c.baseline == baseline && c.values.iter().zip(values).all(|(cv, v)| cv.is_none() || cv == v))
}

/// One row of the table: a label and, per column combination, a cell.
struct Row {
    label: String,
    cells: Vec<Option<usize>>,
}

fn table_rows(cfg: &SweepConfig, plan: &Plan) -> (Vec<String>, Vec<Row>) {
    let n = cfg.axes.len();
    let cols = cfg.column_axes();
    let rows = cfg.row_axes();
    let col_combos = combinations(cfg, &cols);
    let col_labels = col_combos
        .iter()
        .map(|c| {
            c.iter()
                .map(|&(a, v)| format!("{} {}", cfg.axes[a].name(), cfg.axes[a].label(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    let mut out = Vec::new();
    for b in 0..cfg.baselines.len() {
        let own: Vec<usize> = cfg.baseline_axes(b).into_iter().filter(|a| !cols.contains(a)).collect();
        for combo in combinations(cfg, &own) {
            let mut label = cfg.baselines[b].label.clone();
            if !combo.is_empty() {
                let parts: Vec<String> =
                    combo.iter().map(|&(a, v)| format!("{}={}", cfg.axes[a].name(), cfg.axes[a].label(v))).collect();
                let _ = write!(label, " ({})", parts.join(", "));
            }
            let cells = col_combos
                .iter()
                .map(|cc| {
                    let mut values = vec![None; n];
                    for &(a, v) in combo.iter().chain(cc) {
                        values[a] = Some(v);
                    }
                    find_cell(plan, Some(b), &values)
                })
                .collect();
            out.push(Row { label, cells });
        }
    }
    for combo in combinations(cfg, &rows) {
        let label = combo.iter().map(|&(a, v)| cfg.axes[a].label(v)).collect::<Vec<_>>().join(" / ");
        let label =
            if label.is_empty() { cfg.table.grid_label.clone().unwrap_or_else(|| cfg.name.clone()) } else { label };
        let cells = col_combos
            .iter()
            .map(|cc| {
                let mut values = vec![None; n];
                for &(a, v) in combo.iter().chain(cc) {
                    values[a] = Some(v);
                }
                find_cell(plan, None, &values)
            })
            .collect();
        out.push(Row { label, cells });
    }
    (col_labels, out)
}

/// The markdown table: one column per column combination × metric, the best mean of
/// each column in bold.
pub fn markdown_table(sweep: &Sweep, plan: &Plan, results: &[RunResult]) -> String {
    let cfg = &sweep.cfg;
    let seeds = cfg.seeds_at(&sweep.meta.scale).len();
    let (col_labels, rows) = table_rows(cfg, plan);
    let stats: Vec<Vec<Option<Stat>>> = cfg.metrics.iter().map(|m| cell_stats(plan, results, m)).collect();
    let row_head = {
        let names: Vec<&str> = cfg.row_axes().iter().map(|&a| cfg.axes[a].name()).collect();
        if names.is_empty() {
            "run".to_string()
        } else {
            names.join(" / ")
        }
    };
    let mut header = vec![row_head];
    let mut columns = Vec::new();
    for (ci, cl) in col_labels.iter().enumerate() {
        for (mi, m) in cfg.metrics.iter().enumerate() {
            header.push(if cl.is_empty() { metric_title(m) } else { format!("{cl}: {}", metric_title(m)) });
            columns.push((ci, mi));
        }
    }
    let mut text = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    let best: Vec<Option<String>> = columns
        .iter()
        .map(|&(ci, mi)| {
            let m = &cfg.metrics[mi];
            let means = rows.iter().filter_map(|r| r.cells[ci].and_then(|c| stats[mi][c])).map(|s| s.mean);
            let best = if lower_is_better(m) { means.fold(f64::NAN, f64::min) } else { means.fold(f64::NAN, f64::max) };
            best.is_finite().then(|| fmt(m, best))
        })
        .collect();
    for r in &rows {
        let mut line = vec![r.label.clone()];
        for (k, &(ci, mi)) in columns.iter().enumerate() {
            let m = &cfg.metrics[mi];
            line.push(match r.cells[ci].and_then(|c| stats[mi][c]) {
                None => "–".into(),
                Some(s) => {
                    let mean = fmt(m, s.mean);
                    let shown = if best[k].as_ref() == Some(&mean) { format!("**{mean}**") } else { mean };
                    let std = if s.n > 1 { format!(" ± {}", fmt(m, s.std)) } else { String::new() };
                    let n = if s.n < seeds { format!(" (n={})", s.n) } else { String::new() };
                    format!("{shown}{std}{n}")
                }
            });
        }
        let _ = writeln!(text, "| {} |", line.join(" | "));
    }
    text
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: one row per run.
pub fn csv(sweep: &Sweep, plan: &Plan, results: &[RunResult]) -> String {
    let cfg = &sweep.cfg;
    let extras: BTreeSet<&String> =
        results.iter().filter_map(|r| r.summary.as_ref()).flat_map(|s| s.extra.keys()).collect();
    let fixed = ["top1", "top5", "test_loss", "wall_seconds", "epoch_seconds", "images_per_second"];
    let mut head: Vec<String> = vec!["point".into(), "baseline".into()];
    head.extend(cfg.axes.iter().map(|a| a.name().to_string()));
    head.extend(["seed", "status", "epochs"].map(String::from));
    head.extend(fixed.iter().map(|s| s.to_string()));
    head.extend(extras.iter().map(|s| s.to_string()));
    head.extend(["run_dir", "command", "error"].map(String::from));
    let mut text = head.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(",") + "\n";
    for (p, r) in plan.points.iter().zip(results) {
        let cell = &plan.cells[p.cell];
        let dir = sweep.run_dir(p);
        let mut row = vec![p.id.clone(), cell.baseline.map(|b| cfg.baselines[b].label.clone()).unwrap_or_default()];
        row.extend(cell.values.iter().enumerate().map(|(a, v)| v.map(|v| cfg.axes[a].label(v)).unwrap_or_default()));
        row.push(p.seed.to_string());
        row.push(r.status.name().into());
        row.push(r.summary.as_ref().map(|s| s.epochs.to_string()).unwrap_or_default());
        for m in fixed.iter().copied().chain(extras.iter().map(|s| s.as_str())) {
            row.push(r.summary.as_ref().and_then(|s| metric(s, m)).map(|v| format!("{v}")).unwrap_or_default());
        }
        row.push(dir.display().to_string());
        row.push(format!("occlude train --config {}", RunPaths::new(&dir).config().display()));
        row.push(r.error.clone().unwrap_or_default());
        text += &(row.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + "\n");
    }
    text
}

/// Writes `report.md`, `results.csv` and the plots; returns the report's text.
pub fn write(sweep: &Sweep) -> Result<String> {
    let plan = sweep.plan()?;
    let results = collect(sweep, &plan);
    write_atomic(&sweep.dir.join("results.csv"), csv(sweep, &plan, &results).as_bytes())?;
    let cfg = &sweep.cfg;
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let mut md = format!("# {}\n\n", if cfg.title.is_empty() { &cfg.name } else { &cfg.title });
    if !cfg.about.trim().is_empty() {
        let _ = writeln!(md, "{}\n", cfg.about.trim());
    }
    let scale = &sweep.meta.scale;
    let _ = writeln!(md, "Scale: `{scale}`. {}\n", cfg.scale.get(scale).map(|s| s.about.trim()).unwrap_or(""));
    let _ = writeln!(md, "Produced by: `{}`\n", sweep.meta.command);
    let _ = writeln!(
        md,
        "Runs: {} finished, {} in progress, {} failed, {} pending, of {}. Cells show the mean ± sample std over seeds \
         (n = runs finished where fewer than the {} planned); the best mean per column is in bold.\n",
        count(Status::Finished),
        count(Status::Partial),
        count(Status::Failed),
        count(Status::Pending),
        results.len(),
        cfg.seeds_at(scale).len()
    );
    md += &markdown_table(sweep, &plan, &results);
    let mut figures = super::report_plots::figures(sweep, &plan, &results);
    figures.extend(super::report_plots::stethoscope_figure(sweep, &plan, &results));
    if !figures.is_empty() {
        md += "\n## Plots\n\n";
    }
    for (name, fig) in figures {
        draw(&sweep.dir.join(&name), &fig)?;
        let _ = writeln!(md, "![{}]({name})\n", fig.title);
    }
    let failed: Vec<String> = plan
        .points
        .iter()
        .zip(&results)
        .filter_map(|(p, r)| {
            r.error.as_ref().filter(|_| r.status == Status::Failed).map(|e| format!("- `{}`: {e}", p.id))
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "\n## Failed runs\n\n{}", failed.join("\n"));
    }
    let _ = writeln!(md, "\nPer-run figures: `results.csv`; each run's directory is `runs/<point>/`.");
    write_atomic(&sweep.dir.join("report.md"), md.as_bytes())?;
    Ok(md)
}
