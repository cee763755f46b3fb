//! The report's figures from the collected results: each `[[plot]]` (a metric
//! against a swept parameter, baselines dashed) and the stethoscope figure (accuracy
//! against occlusion level, one line per cell).

use super::config::value_label;
use super::grid::{combinations, slug};
use super::plot::{Figure, Series};
use super::report::{cell_stats, display_value, mean_std, metric_title, RunResult, Status};
use super::{Plan, Sweep};

/// The x positions of an axis's labels: numeric when every label is a number,
/// else categorical (0, 1, …) with the labels as ticks.
fn x_positions(labels: &[String]) -> (Vec<f64>, Option<Vec<String>>) {
    let nums: Option<Vec<f64>> = labels.iter().map(|l| l.parse::<f64>().ok()).collect();
    match nums {
        Some(n) => (n, None),
        None => ((0..labels.len()).map(|i| i as f64).collect(), Some(labels.to_vec())),
    }
}

fn combo_label(sweep: &Sweep, combo: &[(usize, usize)]) -> String {
    let cfg = &sweep.cfg;
    combo
        .iter()
        .map(|&(a, v)| format!("{}={}", cfg.axes[a].name(), cfg.axes[a].label(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every `[[plot]]` figure, with its file name.
pub fn figures(sweep: &Sweep, plan: &Plan, results: &[RunResult]) -> Vec<(String, Figure)> {
    let cfg = &sweep.cfg;
    let mut out = Vec::new();
    for spec in &cfg.plots {
        let Some(x) = cfg.axis_index(&spec.x) else { continue };
        let metrics = if spec.metrics.is_empty() { vec![cfg.metrics[0].clone()] } else { spec.metrics.clone() };
        let panels: Vec<usize> = spec.panels.iter().filter_map(|p| cfg.axis_index(p)).collect();
        let series_axes: Vec<usize> = (0..cfg.axes.len()).filter(|a| *a != x && !panels.contains(a)).collect();
        let labels: Vec<String> = (0..cfg.axes[x].values.len()).map(|v| cfg.axes[x].label(v)).collect();
        let (xs, categories) = x_positions(&labels);
        for panel in combinations(cfg, &panels) {
            let mut series = Vec::new();
            for m in &metrics {
                let stats = cell_stats(plan, results, m);
                let point = |c: Option<usize>, xv: f64| {
                    c.and_then(|c| stats[c]).map(|s| (xv, display_value(m, s.mean), display_value(m, s.std)))
                };
                let suffix = if metrics.len() > 1 { format!(" {}", metric_title(m)) } else { String::new() };
                for combo in combinations(cfg, &series_axes) {
                    let mut values = vec![None; cfg.axes.len()];
                    for &(a, v) in panel.iter().chain(&combo) {
                        values[a] = Some(v);
                    }
                    let points: Vec<_> = xs
                        .iter()
                        .enumerate()
                        .filter_map(|(xi, &xv)| {
                            let mut values = values.clone();
                            values[x] = Some(xi);
                            if !cfg.matches(&spec.only, &values) {
                                return None;
                            }
                            point(plan.cells.iter().position(|c| c.baseline.is_none() && c.values == values), xv)
                        })
                        .collect();
                    if points.is_empty() && !spec.only.is_empty() {
                        continue; // filtered out by `only`
                    }
                    let label = combo_label(sweep, &combo);
                    let label = if label.is_empty() {
                        cfg.table.grid_label.clone().unwrap_or_else(|| cfg.name.clone())
                    } else {
                        label
                    };
                    series.push(Series { label: format!("{label}{suffix}"), points, dashed: false });
                }
                // Baselines: dashed, matching the panel on the axes they are crossed with.
                for (c, cell) in plan.cells.iter().enumerate() {
                    let Some(b) = cell.baseline else { continue };
                    let matches = panel.iter().all(|&(a, v)| cell.values[a].is_none_or(|cv| cv == v));
                    if !matches || cell.values[x].is_some_and(|v| v != 0) {
                        continue;
                    }
                    let points: Vec<_> = if cell.values[x].is_some() {
                        // Crossed with x: one point per x value.
                        xs.iter()
                            .enumerate()
                            .filter_map(|(xi, &xv)| {
                                let mut values = cell.values.clone();
                                values[x] = Some(xi);
                                point(plan.cells.iter().position(|o| o.baseline == Some(b) && o.values == values), xv)
                            })
                            .collect()
                    } else {
                        point(Some(c), xs.first().copied().unwrap_or(0.0)).into_iter().collect()
                    };
                    let others: Vec<(usize, usize)> = cell
                        .values
                        .iter()
                        .enumerate()
                        .filter(|(a, _)| *a != x && !panels.contains(a))
                        .filter_map(|(a, v)| v.map(|v| (a, v)))
                        .collect();
                    let extra = combo_label(sweep, &others);
                    let label = if extra.is_empty() {
                        cfg.baselines[b].label.clone()
                    } else {
                        format!("{} ({extra})", cfg.baselines[b].label)
                    };
                    series.push(Series { label: format!("{label}{suffix}"), points, dashed: true });
                }
            }
            let panel_label = combo_label(sweep, &panel);
            let base_title = spec.title.clone().unwrap_or_else(|| {
                let ms: Vec<String> = metrics.iter().map(|m| metric_title(m)).collect();
                format!("{} vs {}", ms.join(", "), spec.x)
            });
            let title = if panel_label.is_empty() { base_title } else { format!("{base_title} — {panel_label}") };
            let mut name = format!("plot-{}-{}", slug(&spec.x), slug(&metrics.join("-")));
            if !panel_label.is_empty() {
                name += &format!("-{}", slug(&panel_label));
            }
            let y_label = if metrics.len() == 1 { metric_title(&metrics[0]) } else { "value".into() };
            out.push((
                format!("{name}.png"),
                Figure { title, x_label: spec.x.clone(), y_label, categories: categories.clone(), series },
            ));
        }
    }
    out
}

/// Top-1 against occlusion level, one line per cell (mean over its seeds), if the
/// sweep has a `[stethoscope]` and some run was evaluated.
pub fn stethoscope_figure(sweep: &Sweep, plan: &Plan, results: &[RunResult]) -> Option<(String, Figure)> {
    let st = sweep.cfg.stethoscope.as_ref()?;
    let levels: Vec<String> = st.levels.iter().map(value_label).collect();
    let (xs, categories) = x_positions(&levels);
    let mut series = Vec::new();
    for (c, cell) in plan.cells.iter().enumerate() {
        let runs: Vec<&RunResult> = plan
            .points
            .iter()
            .zip(results)
            .filter(|(p, r)| p.cell == c && r.status == Status::Finished)
            .map(|(_, r)| r)
            .collect();
        let points: Vec<(f64, f64, f64)> = levels
            .iter()
            .zip(&xs)
            .filter_map(|(level, &x)| {
                let v: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.stethoscope.as_ref()?.iter().find(|s| &s.level == level).map(|s| s.top1))
                    .collect();
                mean_std(&v).map(|s| (x, 100.0 * s.mean, 100.0 * s.std))
            })
            .collect();
        if !points.is_empty() {
            let values: Vec<(usize, usize)> =
                cell.values.iter().enumerate().filter_map(|(a, v)| v.map(|v| (a, v))).collect();
            let mut label = combo_label(sweep, &values);
            let name = match cell.baseline {
                Some(b) => Some(&sweep.cfg.baselines[b].label),
                None => sweep.cfg.table.grid_label.as_ref(),
            };
            if let Some(name) = name {
                label = if label.is_empty() { name.clone() } else { format!("{name} ({label})") };
            }
            series.push(Series { label, points, dashed: false });
        }
    }
    if series.is_empty() {
        return None;
    }
    let title = format!("Accuracy on occluded test images: {}", st.spec);
    Some((
        "stethoscope.png".into(),
        Figure { title, x_label: st.level_name.clone(), y_label: "top-1 (%)".into(), categories, series },
    ))
}
