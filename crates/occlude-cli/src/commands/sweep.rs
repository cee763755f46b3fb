//! `occlude sweep`: every point of a sweep file's grid, one after another, resumable;
//! then the report (`occlude report` rebuilds it alone).

use anyhow::{bail, Result};

use super::train::{train, RunFlags};
use occlude::backend::DeviceKind;
use occlude::report::Summary;
use occlude::sweep::{self, Executor, Selection, Sweep};
use occlude::train::stethoscope::{evaluate_checkpoint_occluded, EvalOcclusion};
use occlude::train::RunConfig;
use std::path::{Path, PathBuf};

/// The two sizes of every shipped sweep.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Scale {
    /// A CPU-sized version of the same grid (subset, small models, few epochs)
    Quick,
    /// The paper's epochs, sizes and models
    Paper,
}

impl Scale {
    fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Paper => "paper",
        }
    }
}

/// Run a sweep: a grid over any config fields plus baselines (configs/experiments/), resumable; writes report.md, results.csv and plots
#[derive(clap::Args)]
pub struct Args {
    /// The sweep file
    pub sweep: PathBuf,
    /// quick (CPU-sized) or paper
    #[arg(long, value_enum, default_value = "quick")]
    pub scale: Scale,
    /// Sweep directory (default: the file's output_dir/<scale>)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a field of every run, applied last: --set epochs=1
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Run only the first N points (in run order; finished ones count)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Run only this point (repeatable; ids as --dry-run prints them)
    #[arg(long, value_name = "POINT")]
    pub only: Vec<String>,
    /// Print the points (id, model, augmentation, paradigm, epochs) without training
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

/// The command line as typed, for the report.
fn command_line() -> String {
    std::env::args()
        .map(|a| if a.contains([' ', '"', '\'']) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn exec(args: Args) -> Result<()> {
    let Args { sweep: path, scale, out, set, limit, only, dry_run, run } = args;
    let sweep = Sweep::load(&path, scale.name(), out.as_deref(), command_line(), set)?;
    if dry_run {
        let plan = sweep.plan()?;
        let base = RunConfig::parse_file(&sweep.meta.base)?;
        for p in
            plan.points.iter().take(limit.unwrap_or(usize::MAX)).filter(|p| only.is_empty() || only.contains(&p.id))
        {
            let cfg = sweep.point_config(&base, &plan, p)?;
            println!(
                "{}\t{}\t{}\t{}\tepochs={}",
                p.id, cfg.model.arch, cfg.augment.method, cfg.augment.paradigm, cfg.epochs
            );
        }
        return Ok(());
    }
    let mut exec = DeviceExecutor { device: run.device, quiet: run.quiet };
    let outcome = sweep::run(&sweep, &mut exec, &Selection { limit, only }, run.quiet)?;
    eprintln!(
        "{} trained, {} already finished, {} failed; report: {}",
        outcome.trained.len(),
        outcome.skipped.len(),
        outcome.failed.len(),
        sweep.dir.join("report.md").display()
    );
    if !outcome.failed.is_empty() {
        for (id, e) in &outcome.failed {
            eprintln!("  {id}: {e}");
        }
        bail!("{} point(s) failed; the others ran (see the report)", outcome.failed.len());
    }
    Ok(())
}

/// Trains and evaluates on the device the flags name.
struct DeviceExecutor {
    device: DeviceKind,
    quiet: bool,
}

impl Executor for DeviceExecutor {
    fn train(&mut self, cfg: &RunConfig, resume: bool) -> Result<Summary> {
        train(cfg, RunFlags { device: self.device, quiet: self.quiet }, resume, false)
    }

    fn eval_occluded(&mut self, checkpoint: &Path, spec: &str, seed: u64, batch_size: usize) -> Result<(f64, f64)> {
        let occlusion = EvalOcclusion::parse(spec, seed)?;
        let (_, r) = match self.device {
            DeviceKind::Cpu => evaluate_checkpoint_occluded::<occlude::backend::CpuAutodiff>(
                checkpoint,
                None,
                batch_size,
                &occlusion,
                &Default::default(),
            )?,
            DeviceKind::Cuda => cuda_eval(checkpoint, batch_size, &occlusion)?,
        };
        Ok((r.tally.top1(), r.tally.top5()))
    }
}

#[cfg(feature = "cuda")]
fn cuda_eval(
    checkpoint: &Path,
    batch_size: usize,
    occlusion: &EvalOcclusion,
) -> Result<(RunConfig, occlude::train::stethoscope::OccludedTally)> {
    evaluate_checkpoint_occluded::<occlude::backend::CudaAutodiff>(
        checkpoint,
        None,
        batch_size,
        occlusion,
        &Default::default(),
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda_eval(_: &Path, _: usize, _: &EvalOcclusion) -> Result<(RunConfig, occlude::train::stethoscope::OccludedTally)> {
    bail!(crate::common::NO_CUDA)
}
