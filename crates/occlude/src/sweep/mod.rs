//! Sweeps: a grid of runs over any configuration field ([`config`], [`grid`]), run
//! one after another and resumable (finished points are skipped, an interrupted one
//! continues from its checkpoint, a failed one is reported and the others go on),
//! and a report regenerated from whatever runs have finished ([`report`]: `report.md`
//! with mean ± std over seeds, `results.csv`, PNG plots).
//!
//! Layout of a sweep directory (`<output_dir>/<scale>/`):
//!
//! ```text
//! sweep.toml          the sweep file, verbatim
//! sweep.json          scale, source file, base config and the producing command
//! runs/<point>/       one `occlude train` run directory per point (+ error.txt
//!                     when it failed, stethoscope.json when evaluated occluded)
//! report.md  results.csv  *.png
//! ```

pub mod config;
pub mod grid;
pub mod plot;
pub mod report;
mod report_plots;

#[cfg(test)]
mod tests;

pub use config::SweepConfig;
pub use grid::{plan, Cell, Plan, Point};

use crate::io::{write_atomic, write_json_atomic};
use crate::report::Summary;
use crate::train::{Interrupted, RunConfig, RunPaths};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a sweep came from and how it was started (`sweep.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepMeta {
    pub scale: String,
    /// The sweep file.
    pub source: PathBuf,
    /// The base run configuration, resolved.
    pub base: PathBuf,
    /// The command line that produced the sweep directory.
    pub command: String,
    /// `--set` overrides applied to every run.
    #[serde(default)]
    pub overrides: Vec<String>,
}

/// A sweep at one scale with its directory.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub cfg: SweepConfig,
    pub meta: SweepMeta,
    pub dir: PathBuf,
    /// The sweep file's text (copied into the sweep directory).
    pub text: String,
}

impl Sweep {
    /// Reads a sweep file for `scale`; the directory is `<output_dir>/<scale>` unless
    /// `out` is given.
    pub fn load(path: &Path, scale: &str, out: Option<&Path>, command: String, overrides: Vec<String>) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg = SweepConfig::parse(&text, path)?;
        cfg.scale_spec(scale).with_context(|| format!("{}: --scale {scale}", path.display()))?;
        let here = path.parent().unwrap_or(Path::new(""));
        let dir = match out {
            Some(o) => o.to_path_buf(),
            None => here.join(&cfg.output_dir).join(scale),
        };
        let meta = SweepMeta {
            scale: scale.into(),
            source: path.to_path_buf(),
            base: here.join(&cfg.base),
            command,
            overrides,
        };
        Ok(Self { cfg, meta, dir, text })
    }

    /// Reopens a sweep directory (for `occlude report`).
    pub fn open(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("sweep.json");
        let meta: SweepMeta = serde_json::from_str(
            &std::fs::read_to_string(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?,
        )
        .with_context(|| format!("{}: not a sweep's sweep.json", meta_path.display()))?;
        let path = dir.join("sweep.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let cfg = SweepConfig::parse(&text, &path)?;
        Ok(Self { cfg, meta, dir: dir.to_path_buf(), text })
    }

    pub fn plan(&self) -> Result<Plan> {
        plan(&self.cfg, &self.meta.scale)
    }

    pub fn run_dir(&self, point: &Point) -> PathBuf {
        self.dir.join("runs").join(&point.id)
    }

    /// The run configuration of a point.
    pub fn point_config(&self, base: &RunConfig, plan: &Plan, point: &Point) -> Result<RunConfig> {
        grid::point_config(&self.cfg, &self.meta.scale, base, plan, point, &self.run_dir(point), &self.meta.overrides)
    }
}

/// Trains runs and evaluates checkpoints for a sweep (the CLI's is backed by a
/// device; tests substitute their own).
pub trait Executor {
    /// Trains `cfg` (continuing from its checkpoint when `resume`).
    fn train(&mut self, cfg: &RunConfig, resume: bool) -> Result<Summary>;
    /// Top-1 and top-5 of a checkpoint on test images occluded by `spec`.
    fn eval_occluded(&mut self, checkpoint: &Path, spec: &str, seed: u64, batch_size: usize) -> Result<(f64, f64)>;
}

/// What happened to the points of one `run`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Points trained to the end in this call.
    pub trained: Vec<String>,
    /// Points already finished before.
    pub skipped: Vec<String>,
    /// Points that failed, with their error.
    pub failed: Vec<(String, String)>,
}

/// One evaluation on occluded images (`stethoscope.json` holds a list of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StethoscopePoint {
    pub level: String,
    pub spec: String,
    pub top1: f64,
    pub top5: f64,
}

/// Whether `dir` holds a finished run of exactly `cfg`.
pub fn is_finished(dir: &Path, cfg: &RunConfig) -> bool {
    let paths = RunPaths::new(dir);
    let same = std::fs::read_to_string(paths.config()).ok().zip(cfg.to_toml().ok()).is_some_and(|(a, b)| a == b);
    same && paths.summary().exists()
}

/// Which points of a sweep to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only the first `limit` points in run order (finished ones count).
    pub limit: Option<usize>,
    /// Only the points with these ids (all when empty).
    pub only: Vec<String>,
}

/// Runs the selected points of the sweep in order, then the stethoscope evaluations, then
/// writes the report. A failed point is recorded in its `error.txt` and the sweep goes
/// on; an interrupt (Ctrl-C) stops it after writing the report.
pub fn run(sweep: &Sweep, exec: &mut dyn Executor, select: &Selection, quiet: bool) -> Result<Outcome> {
    std::fs::create_dir_all(&sweep.dir).with_context(|| format!("creating {}", sweep.dir.display()))?;
    write_atomic(&sweep.dir.join("sweep.toml"), sweep.text.as_bytes())?;
    write_json_atomic(&sweep.dir.join("sweep.json"), &sweep.meta)?;
    let plan = sweep.plan()?;
    let base = RunConfig::parse_file(&sweep.meta.base).context("the sweep's base configuration")?;
    let mut outcome = Outcome::default();
    if let Some(id) = select.only.iter().find(|id| !plan.points.iter().any(|p| &p.id == *id)) {
        anyhow::bail!("--only {id}: no such point (`occlude sweep --dry-run` lists them)");
    }
    let points: Vec<&Point> = plan
        .points
        .iter()
        .take(select.limit.unwrap_or(usize::MAX))
        .filter(|p| select.only.is_empty() || select.only.contains(&p.id))
        .collect();
    let mut interrupted = None;
    for (i, point) in points.iter().enumerate() {
        let dir = sweep.run_dir(point);
        let error_file = dir.join("error.txt");
        let result = sweep.point_config(&base, &plan, point).and_then(|cfg| {
            if is_finished(&dir, &cfg) {
                return Ok(false);
            }
            let resume = RunPaths::new(&dir).checkpoint().exists();
            if !quiet {
                let how = if resume { "resuming" } else { "training" };
                eprintln!("[{}/{}] {how} {}", i + 1, points.len(), point.id);
            }
            exec.train(&cfg, resume).map(|_| true)
        });
        match result {
            Ok(trained) => {
                let _ = std::fs::remove_file(&error_file);
                if trained { &mut outcome.trained } else { &mut outcome.skipped }.push(point.id.clone());
            }
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
                interrupted = Some(e);
                break;
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if !quiet {
                    eprintln!("[{}/{}] {} failed: {msg}", i + 1, points.len(), point.id);
                }
                write_atomic(&error_file, format!("{msg}\n").as_bytes())?;
                outcome.failed.push((point.id.clone(), msg));
            }
        }
    }
    if interrupted.is_none() {
        if let Some(st) = &sweep.cfg.stethoscope {
            for point in &points {
                if let Err(e) = stethoscope(sweep, exec, point, st) {
                    outcome.failed.push((format!("{} (stethoscope)", point.id), format!("{e:#}")));
                }
            }
        }
    }
    report::write(sweep)?;
    match interrupted {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Evaluates a finished point on occluded images at every level (once: the result is
/// kept in `stethoscope.json`).
fn stethoscope(sweep: &Sweep, exec: &mut dyn Executor, point: &Point, st: &config::StethoscopeSpec) -> Result<()> {
    let dir = sweep.run_dir(point);
    let out = dir.join("stethoscope.json");
    let paths = RunPaths::new(&dir);
    if out.exists() || !paths.summary().exists() {
        return Ok(());
    }
    let mut results = Vec::new();
    for level in &st.levels {
        let level = config::value_label(level);
        let spec = st.spec.replace("{level}", &level);
        let (top1, top5) = exec.eval_occluded(&paths.checkpoint(), &spec, st.seed, st.batch_size)?;
        results.push(StethoscopePoint { level, spec, top1, top5 });
    }
    write_json_atomic(&out, &results)
}
