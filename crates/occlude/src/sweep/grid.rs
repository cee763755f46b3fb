//! Grid expansion: the cells of a sweep (every combination of axis values, plus each
//! baseline crossed with its axes), the points (cells × seeds) and each point's run
//! configuration.

use super::config::{value_label, SweepConfig};
use crate::train::config::set_path;
use crate::train::RunConfig;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// A cell of the result table: one combination of axis values, averaged over seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// `None` for a grid cell, else the index of the baseline.
    pub baseline: Option<usize>,
    /// Value index per axis; `None` where a baseline is not crossed with the axis.
    pub values: Vec<Option<usize>>,
    /// Directory-safe name, unique within the sweep.
    pub id: String,
}

/// One run: a cell at a seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub cell: usize,
    pub seed: u64,
    /// The run directory's name (`<cell id>_seed<seed>`).
    pub id: String,
}

/// The expanded sweep at one scale.
#[derive(Clone, Debug)]
pub struct Plan {
    pub cells: Vec<Cell>,
    /// In run order: for each seed, the baselines, then the grid cells (first axis
    /// outermost), so a partial sweep has every cell at one seed before the next.
    pub points: Vec<Point>,
}

/// Keeps letters, digits and `.=-`; anything else becomes `-`.
pub fn slug(text: &str) -> String {
    let s: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '=' | '-') { c } else { '-' }).collect();
    let mut s = s.trim_matches('-').to_string();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    if s.is_empty() {
        "x".into()
    } else {
        s
    }
}

/// Every combination of the value indices of `axes` (first axis outermost).
pub fn combinations(cfg: &SweepConfig, axes: &[usize]) -> Vec<Vec<(usize, usize)>> {
    let mut out = vec![Vec::new()];
    for &a in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..cfg.axes[a].values.len()).map(move |v| {
                    let mut p = prefix.clone();
                    p.push((a, v));
                    p
                })
            })
            .collect();
    }
    out
}

fn cell_id(cfg: &SweepConfig, baseline: Option<usize>, values: &[Option<usize>]) -> String {
    let mut parts = Vec::new();
    if let Some(b) = baseline {
        parts.push(format!("baseline-{}", slug(&cfg.baselines[b].label)));
    }
    for (a, v) in values.iter().enumerate() {
        if let Some(v) = v {
            parts.push(slug(&format!("{}={}", cfg.axes[a].name(), cfg.axes[a].label(*v))));
        }
    }
    if parts.is_empty() {
        "run".into()
    } else {
        parts.join("_")
    }
}

/// Expands the sweep at `scale` into cells and points.
pub fn plan(cfg: &SweepConfig, scale: &str) -> Result<Plan> {
    let mut cells = Vec::new();
    for b in 0..cfg.baselines.len() {
        for combo in combinations(cfg, &cfg.baseline_axes(b)) {
            let mut values = vec![None; cfg.axes.len()];
            for (a, v) in combo {
                values[a] = Some(v);
            }
            if !cfg.matches(&cfg.baselines[b].only, &values) {
                continue;
            }
            cells.push(Cell { baseline: Some(b), id: cell_id(cfg, Some(b), &values), values });
        }
    }
    let all: Vec<usize> = (0..cfg.axes.len()).collect();
    for combo in combinations(cfg, &all) {
        let values: Vec<Option<usize>> = combo.iter().map(|&(_, v)| Some(v)).collect();
        if cfg.exclude.iter().any(|e| cfg.matches(e, &values)) {
            continue;
        }
        cells.push(Cell { baseline: None, id: cell_id(cfg, None, &values), values });
    }
    for (i, c) in cells.iter().enumerate() {
        if cells[..i].iter().any(|o| o.id == c.id) {
            bail!("two cells share the directory name {:?}; make the axis labels distinct", c.id);
        }
    }
    let mut points = Vec::new();
    for &seed in cfg.seeds_at(scale) {
        for (cell, c) in cells.iter().enumerate() {
            points.push(Point { cell, seed, id: format!("{}_seed{seed}", c.id) });
        }
    }
    Ok(Plan { cells, points })
}

/// `{var}` in strings replaced by the point's variable values; a string that is
/// exactly `{var}` becomes the value itself (keeping its type).
fn substitute(value: &toml::Value, vars: &[(String, toml::Value)]) -> toml::Value {
    match value {
        toml::Value::String(s) => {
            for (name, v) in vars {
                if *s == format!("{{{name}}}") {
                    return v.clone();
                }
            }
            let mut out = s.clone();
            for (name, v) in vars {
                out = out.replace(&format!("{{{name}}}"), &value_label(v));
            }
            toml::Value::String(out)
        }
        toml::Value::Array(a) => toml::Value::Array(a.iter().map(|v| substitute(v, vars)).collect()),
        toml::Value::Table(t) => toml::Value::Table(t.iter().map(|(k, v)| (k.clone(), substitute(v, vars))).collect()),
        other => other.clone(),
    }
}

fn apply(tree: &mut toml::Value, table: &toml::Table, vars: &[(String, toml::Value)], what: &str) -> Result<()> {
    for (key, value) in table {
        if key.starts_with('$') {
            continue;
        }
        if key == "output_dir" || key == "seed" {
            bail!("{what}: {key:?} is chosen by the sweep");
        }
        set_path(tree, key, substitute(value, vars)).with_context(|| format!("{what}: {key}"))?;
    }
    Ok(())
}

/// The run configuration of `point`: `base` with the sweep's fields, the scale's, the
/// point's axis values, the baseline's and finally `extra` (`key=value` overrides)
/// applied, written to `run_dir` with the point's seed.
pub fn point_config(
    cfg: &SweepConfig,
    scale: &str,
    base: &RunConfig,
    plan: &Plan,
    point: &Point,
    run_dir: &Path,
    extra: &[String],
) -> Result<RunConfig> {
    let cell = &plan.cells[point.cell];
    let scale_spec = cfg.scale_spec(scale)?;
    let mut vars = Vec::new();
    for (a, v) in cell.values.iter().enumerate() {
        let Some(v) = v else { continue };
        let value = cfg.axes[a].value(*v, scale);
        if let Some(name) = &cfg.axes[a].var {
            vars.push((name.clone(), value.clone()));
        }
        if let toml::Value::Table(t) = value {
            vars.extend(t.iter().filter_map(|(k, v)| Some((k.strip_prefix('$')?.to_string(), v.clone()))));
        }
    }
    let mut tree = toml::Value::try_from(base)?;
    apply(&mut tree, &cfg.set, &vars, "set")?;
    apply(&mut tree, &scale_spec.set, &vars, &format!("scale.{scale}.set"))?;
    for (a, v) in cell.values.iter().enumerate() {
        let (Some(v), Some(key)) = (v, &cfg.axes[a].key) else { continue };
        let what = format!("axis {:?}", cfg.axes[a].name());
        match substitute(cfg.axes[a].value(*v, scale), &vars) {
            toml::Value::Table(t) => apply(&mut tree, &t, &vars, &what)?,
            value => set_path(&mut tree, key, value).with_context(|| what)?,
        }
    }
    if let Some(b) = cell.baseline {
        let b = &cfg.baselines[b];
        let what = format!("baseline {:?}", b.label);
        apply(&mut tree, &b.set, &vars, &what)?;
        if let Some(t) = b.scale.get(scale) {
            apply(&mut tree, t, &vars, &format!("{what} scale.{scale}"))?;
        }
    }
    set_path(&mut tree, "seed", toml::Value::Integer(point.seed as i64))?;
    set_path(&mut tree, "output_dir", toml::Value::String(run_dir.to_string_lossy().into_owned()))?;
    set_path(&mut tree, "name", toml::Value::String(format!("{}/{}", cfg.name, point.id)))?;
    let run = RunConfig::from_value(tree, None).with_context(|| format!("point {}", point.id))?;
    run.with_overrides(extra).with_context(|| format!("point {}: --set", point.id))
}
