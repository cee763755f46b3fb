//! The sweep file: a base run configuration, a grid of axes over any configuration
//! field, baseline rows, the table and plot layout, and the `quick` / `paper` scales.
//!
//! ```toml
//! name = "seed000-table1"
//! base = "../../demo.toml"             # a run configuration, relative to this file
//! output_dir = "../../../runs/sweeps/seed000-table1"
//! seeds = [0, 1, 2]                   # each cell is run once per seed: mean ± std
//! metrics = ["top1", "top5"]
//! set = { "augment.paradigm" = "joint" }       # every run
//!
//! [[axis]]                            # a configuration field …
//! key = "model.arch"
//! values = ["resnet50", "alexnet"]
//! scale = { quick = ["resnet8", "alexnet"] }  # the same grid, CPU-sized
//! [[axis]]                            # … or a variable used as {p} in strings
//! var = "p"
//! values = [0.9, 0.5]
//!
//! [[baseline]]
//! label = "baseline (w/o joint)"
//! over = ["model.arch"]               # axes it is crossed with (default: the columns)
//! set = { "augment.method" = "none", "augment.paradigm" = "standard" }
//!
//! [table]
//! columns = ["model.arch"]            # the other axes form the rows
//! [[plot]]
//! x = "p"
//! [scale.quick]
//! seeds = [0]
//! set = { epochs = 2, "data.kind" = "embedded" }
//! [scale.paper]
//! set = { epochs = 100 }
//! ```
//!
//! A run's configuration is built in this order, later entries winning: the base
//! file, the sweep's `set`, the scale's `set`, the axis values of the point, the
//! baseline's `set` (then its `scale.<name>` table), then `occlude sweep --set`.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Short name, used in run names.
    pub name: String,
    /// Caption of the report's table (e.g. the paper's table it mirrors).
    #[serde(default)]
    pub title: String,
    /// Free text printed under the title in `report.md`.
    #[serde(default)]
    pub about: String,
    /// The base run configuration, relative to the sweep file.
    pub base: PathBuf,
    /// Where the sweep's runs and report go (`<output_dir>/<scale>/`), relative to the
    /// sweep file.
    pub output_dir: PathBuf,
    /// Seeds each cell is run with; the report shows mean ± std over them.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Figures shown per cell: `top1`, `top5`, `test_loss`, `wall_seconds`,
    /// `epoch_seconds`, `images_per_second`, or a run's extra figure such as
    /// `clean_train_top1`.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// Fields set on every run (`"dotted.path" = value`; strings may use `{var}`).
    #[serde(default)]
    pub set: toml::Table,
    #[serde(default, rename = "axis")]
    pub axes: Vec<Axis>,
    /// Grid cells left out: each entry maps axis names to a label (or a list of
    /// labels); a cell matching every entry of one of them is not run.
    #[serde(default)]
    pub exclude: Vec<toml::Table>,
    #[serde(default, rename = "baseline")]
    pub baselines: Vec<Baseline>,
    #[serde(default)]
    pub table: TableLayout,
    #[serde(default, rename = "plot")]
    pub plots: Vec<PlotSpec>,
    #[serde(default)]
    pub stethoscope: Option<StethoscopeSpec>,
    /// `quick` and `paper` (at least): seeds and fields per scale.
    #[serde(default)]
    pub scale: BTreeMap<String, ScaleSpec>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn default_metrics() -> Vec<String> {
    vec!["top1".into()]
}

/// One dimension of the grid.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The configuration field the values set (`augment.method`, `seed` is not
    /// allowed: use `seeds`).
    #[serde(default)]
    pub key: Option<String>,
    /// Or a variable, substituted for `{var}` in the strings of every `set`.
    #[serde(default)]
    pub var: Option<String>,
    /// The name shown in tables and plots (default: `key` or `var`).
    #[serde(default)]
    pub name: Option<String>,
    /// Values: scalars, or tables of `"dotted.path" = value` setting several fields
    /// (those need `labels`); in a table, `"$name" = value` defines the variable
    /// `{name}` instead of setting a field.
    pub values: Vec<toml::Value>,
    /// Labels of the values in tables, plots and run directories.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Values used instead at a scale (same length), e.g. `quick = ["resnet8"]`.
    #[serde(default)]
    pub scale: BTreeMap<String, Vec<toml::Value>>,
}

impl Axis {
    /// The name the table, plots and layout refer to.
    pub fn name(&self) -> &str {
        self.name.as_deref().or(self.key.as_deref()).or(self.var.as_deref()).unwrap_or("?")
    }

    /// The label of value `i`.
    pub fn label(&self, i: usize) -> String {
        self.labels.get(i).cloned().unwrap_or_else(|| value_label(&self.values[i]))
    }

    /// Value `i` at `scale`.
    pub fn value(&self, i: usize, scale: &str) -> &toml::Value {
        self.scale.get(scale).map_or(&self.values[i], |v| &v[i])
    }
}

/// A scalar as text: strings without quotes, numbers as TOML writes them.
pub fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A reference row (or rows, crossed with `over`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub label: String,
    /// Axes (by name) this baseline is crossed with; default: the table's columns.
    #[serde(default)]
    pub over: Option<Vec<String>>,
    #[serde(default)]
    pub set: toml::Table,
    /// Only the cells whose axes match (axis name → label or list of labels).
    #[serde(default)]
    pub only: toml::Table,
    /// Extra fields at a scale, e.g. `scale.quick = { "augment.method" = "cutout:s=10" }`.
    #[serde(default)]
    pub scale: BTreeMap<String, toml::Table>,
}

/// Which axes form the table's rows and columns.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableLayout {
    /// Default: every axis that is not a column.
    #[serde(default)]
    pub rows: Option<Vec<String>>,
    #[serde(default)]
    pub columns: Vec<String>,
    /// Name of the grid's row in the table (and its line in plots) when no axis is
    /// left to name it (every axis is a column or a plot's x); default: the sweep's name.
    #[serde(default)]
    pub grid_label: Option<String>,
}

/// One figure (one PNG per combination of `panels` values): `metrics` against the
/// axis `x`, one line per combination of the other axes, error bars of ±1 std over
/// seeds, baselines as dashed lines.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    pub x: String,
    /// Default: the sweep's first metric.
    #[serde(default)]
    pub metrics: Vec<String>,
    #[serde(default)]
    pub panels: Vec<String>,
    /// Only the grid cells whose axes match (axis name → label or list of labels).
    #[serde(default)]
    pub only: toml::Table,
    #[serde(default)]
    pub title: Option<String>,
}

/// After training, evaluate every finished run's checkpoint on occluded test images
/// (seed 000 §4.2's stethoscope) at each level; `spec` takes `{level}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StethoscopeSpec {
    /// e.g. `hide-and-seek:g=4,p_keep_patch={level}`
    pub spec: String,
    pub levels: Vec<toml::Value>,
    /// Name of the level on the plot's x axis.
    #[serde(default = "default_level_name")]
    pub level_name: String,
    /// Seed of the occlusion draws.
    #[serde(default)]
    pub seed: u64,
    /// Evaluation batch size.
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
}

fn default_level_name() -> String {
    "level".into()
}
fn default_eval_batch() -> usize {
    256
}

/// What a scale changes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    #[serde(default)]
    pub set: toml::Table,
    #[serde(default)]
    pub about: String,
}

/// Figures where lower is better (bold marks the minimum).
pub fn lower_is_better(metric: &str) -> bool {
    metric.contains("loss") || metric.contains("seconds")
}

impl SweepConfig {
    /// Parses sweep-file text; errors name `origin` and the field.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let cfg: Self = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{}: invalid sweep file", origin.display()))?;
        cfg.validate().with_context(|| format!("{}: invalid sweep file", origin.display()))?;
        Ok(cfg)
    }

    pub fn axis_index(&self, name: &str) -> Option<usize> {
        self.axes.iter().position(|a| a.name() == name)
    }

    fn axis_indices(&self, field: &str, names: &[String]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|n| {
                self.axis_index(n).with_context(|| {
                    let known: Vec<&str> = self.axes.iter().map(Axis::name).collect();
                    format!("{field}: no axis named {n:?}; the axes are {known:?}")
                })
            })
            .collect()
    }

    /// Column axes, in order.
    pub fn column_axes(&self) -> Vec<usize> {
        self.axis_indices("table.columns", &self.table.columns).unwrap_or_default()
    }

    /// Row axes, in order.
    pub fn row_axes(&self) -> Vec<usize> {
        match &self.table.rows {
            Some(rows) => self.axis_indices("table.rows", rows).unwrap_or_default(),
            None => {
                let cols = self.column_axes();
                (0..self.axes.len()).filter(|i| !cols.contains(i)).collect()
            }
        }
    }

    /// The axes baseline `b` is crossed with.
    pub fn baseline_axes(&self, b: usize) -> Vec<usize> {
        match &self.baselines[b].over {
            Some(over) => self.axis_indices("baseline.over", over).unwrap_or_default(),
            None => self.column_axes(),
        }
    }

    /// Seeds at `scale`.
    pub fn seeds_at(&self, scale: &str) -> &[u64] {
        self.scale.get(scale).and_then(|s| s.seeds.as_deref()).unwrap_or(&self.seeds)
    }

    /// The scale's section, or an error naming it.
    pub fn scale_spec(&self, scale: &str) -> Result<&ScaleSpec> {
        self.scale.get(scale).with_context(|| {
            format!("scale.{scale}: not defined (defined: {:?})", self.scale.keys().collect::<Vec<_>>())
        })
    }

    /// Whether the cell with value indices `values` (`None`: axis not set) matches
    /// `filter` (axis name → label or list of labels); axes the cell does not set
    /// do not match.
    pub fn matches(&self, filter: &toml::Table, values: &[Option<usize>]) -> bool {
        filter.iter().all(|(name, want)| {
            let Some(a) = self.axis_index(name) else { return false };
            let Some(v) = values[a] else { return false };
            let label = self.axes[a].label(v);
            match want {
                toml::Value::Array(list) => list.iter().any(|w| value_label(w) == label),
                w => value_label(w) == label,
            }
        })
    }

    fn check_filter(&self, field: &str, filter: &toml::Table) -> Result<()> {
        for (name, want) in filter {
            let a = self.axis_indices(field, std::slice::from_ref(name))?[0];
            let labels: Vec<String> = (0..self.axes[a].values.len()).map(|v| self.axes[a].label(v)).collect();
            let wanted = match want {
                toml::Value::Array(list) => list.iter().map(value_label).collect(),
                w => vec![value_label(w)],
            };
            if let Some(w) = wanted.iter().find(|w| !labels.contains(w)) {
                bail!("{field}: axis {name:?} has no value labelled {w:?}; its labels are {labels:?}");
            }
        }
        Ok(())
    }

    /// Checks names, lengths and references.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            bail!("name: must not be empty");
        }
        if self.seeds.is_empty() {
            bail!("seeds: needs at least one seed");
        }
        if self.metrics.is_empty() {
            bail!("metrics: needs at least one figure");
        }
        let mut names = Vec::new();
        for (i, a) in self.axes.iter().enumerate() {
            let field = format!("axis[{i}] ({})", a.name());
            match (&a.key, &a.var) {
                (Some(_), Some(_)) | (None, None) => bail!("{field}: give exactly one of key and var"),
                (Some(k), None) if k == "seed" => bail!("{field}: seeds are set by `seeds`, not an axis"),
                (Some(k), None) if k == "output_dir" => bail!("{field}: output_dir is chosen by the sweep"),
                _ => {}
            }
            if a.values.is_empty() {
                bail!("{field}.values: needs at least one value");
            }
            if !a.labels.is_empty() && a.labels.len() != a.values.len() {
                bail!("{field}.labels: {} labels for {} values", a.labels.len(), a.values.len());
            }
            if a.labels.is_empty() && a.values.iter().any(|v| v.is_table() || v.is_array()) {
                bail!("{field}.labels: values that are tables or arrays need labels");
            }
            let labels: Vec<String> = (0..a.values.len()).map(|j| a.label(j)).collect();
            if labels.iter().enumerate().any(|(j, l)| labels[..j].contains(l)) {
                bail!("{field}: labels must be distinct, got {labels:?}");
            }
            for (scale, values) in &a.scale {
                if values.len() != a.values.len() {
                    bail!("{field}.scale.{scale}: {} values for {} values", values.len(), a.values.len());
                }
            }
            if names.contains(&a.name()) {
                bail!("{field}: two axes are named {:?}", a.name());
            }
            names.push(a.name());
        }
        let cols = self.axis_indices("table.columns", &self.table.columns)?;
        if let Some(rows) = &self.table.rows {
            let rows = self.axis_indices("table.rows", rows)?;
            for i in 0..self.axes.len() {
                if rows.contains(&i) == cols.contains(&i) {
                    bail!("table: axis {:?} must be in exactly one of rows and columns", self.axes[i].name());
                }
            }
        }
        for (i, b) in self.baselines.iter().enumerate() {
            if let Some(over) = &b.over {
                self.axis_indices(&format!("baseline[{i}] ({}).over", b.label), over)?;
            }
            self.check_filter(&format!("baseline[{i}] ({}).only", b.label), &b.only)?;
            if self.baselines[..i].iter().any(|o| o.label == b.label) {
                bail!("baseline[{i}]: two baselines are labelled {:?}", b.label);
            }
        }
        for (i, p) in self.plots.iter().enumerate() {
            self.axis_indices(&format!("plot[{i}].x"), std::slice::from_ref(&p.x))?;
            let panels = self.axis_indices(&format!("plot[{i}].panels"), &p.panels)?;
            self.check_filter(&format!("plot[{i}].only"), &p.only)?;
            if panels.contains(&self.axis_index(&p.x).unwrap_or(usize::MAX)) {
                bail!("plot[{i}]: x axis {:?} cannot also be a panel axis", p.x);
            }
        }
        for (i, e) in self.exclude.iter().enumerate() {
            self.check_filter(&format!("exclude[{i}]"), e)?;
        }
        if let Some(s) = &self.stethoscope {
            if s.levels.is_empty() || !s.spec.contains("{level}") {
                bail!("stethoscope: needs levels and a spec containing {{level}}");
            }
        }
        for (name, s) in &self.scale {
            if s.seeds.as_ref().is_some_and(Vec::is_empty) {
                bail!("scale.{name}.seeds: needs at least one seed");
            }
        }
        Ok(())
    }
}
