//! `occlude eval`: top-1 and top-5 of a checkpoint on its evaluation split (or
//! another dataset of the same kind), optionally with every image occluded; for a
//! re-ID checkpoint, rank-1/5/10 and mAP of its query against its gallery.

use anyhow::{bail, Context, Result};

use occlude::backend::DeviceKind;
use occlude::data::{DatasetKind, DatasetSpec};
use occlude::train::metrics::Tally;
use occlude::train::stethoscope::{evaluate_checkpoint_occluded, EvalOcclusion, OccludedTally};
use occlude::train::RunConfig;
use std::path::{Path, PathBuf};

/// Evaluate a checkpoint: top-1 and top-5 on its evaluation split (or another dataset), optionally on occluded images; rank-1/5/10 and mAP for a re-ID checkpoint
#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint.safetensors written by `occlude train`
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Evaluate on this dataset directory instead (same kind as in training)
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// cpu or cuda
    #[arg(long, default_value = "cpu")]
    pub device: DeviceKind,
    /// Occlude every evaluation image with this region-level method (seed 000 §4.2's
    /// stethoscope), e.g. hide-and-seek:g=4,p_keep_patch=0.5 or cutout:n=1,s=16; saliency-guided
    /// methods (keep-cutout, saliency-occlusion) use the checkpoint's own network
    #[arg(long, value_name = "SPEC")]
    pub occlude: Option<String>,
    /// Seed of the occlusion draws (with --occlude): the same seed gives the same occlusions
    #[arg(long, default_value_t = 0, requires = "occlude")]
    pub seed: u64,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { checkpoint, data, batch_size, device, occlude, seed } = args;
    if batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if peek_config(&checkpoint)?.reid.is_some() {
        if occlude.is_some() {
            bail!(
                "--occlude: evaluation on occluded images is for classifiers; {} is a re-ID checkpoint",
                checkpoint.display()
            );
        }
        return eval_reid(&checkpoint, data, batch_size, device);
    }
    let override_spec = |kind: DatasetKind| data.clone().map(|d| DatasetSpec::new(kind, Some(d)));
    if let Some(text) = occlude {
        let occlusion = EvalOcclusion::parse(&text, seed).with_context(|| format!("--occlude {text:?}"))?;
        let data = override_spec(peek_kind(&checkpoint)?);
        let (cfg, result) = match device {
            DeviceKind::Cpu => evaluate_checkpoint_occluded::<occlude::backend::CpuAutodiff>(
                &checkpoint,
                data,
                batch_size,
                &occlusion,
                &Default::default(),
            )?,
            DeviceKind::Cuda => cuda_eval_occluded(&checkpoint, data, batch_size, &occlusion)?,
        };
        let t = &result.tally;
        let report = serde_json::json!({
            "checkpoint": checkpoint,
            "model": cfg.model.arch,
            "samples": t.count,
            "loss": t.loss(),
            "top1": t.top1(),
            "top5": t.top5(),
            "occlude": occlusion.spec.to_string(),
            "seed": seed,
            "occluded_fraction": result.occluded_fraction,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let (cfg, tally) = match device {
        DeviceKind::Cpu => {
            let kind = peek_kind(&checkpoint)?;
            occlude::train::evaluate_checkpoint::<occlude::backend::CpuBackend>(
                &checkpoint,
                override_spec(kind),
                batch_size,
                &Default::default(),
            )?
        }
        DeviceKind::Cuda => cuda_eval(&checkpoint, override_spec(peek_kind(&checkpoint)?), batch_size)?,
    };
    let result = serde_json::json!({
        "checkpoint": checkpoint,
        "model": cfg.model.arch,
        "samples": tally.count,
        "loss": tally.loss(),
        "top1": tally.top1(),
        "top5": tally.top5(),
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// The run configuration stored in a checkpoint.
fn peek_config(checkpoint: &Path) -> Result<RunConfig> {
    occlude::train::checkpoint::load(checkpoint).and_then(|ck| RunConfig::from_toml_str(&ck.config_toml, None))
}

/// The dataset kind stored in a checkpoint's configuration.
pub fn peek_kind(checkpoint: &Path) -> Result<DatasetKind> {
    Ok(peek_config(checkpoint)?.data.kind)
}

/// A re-ID checkpoint: rank-1/5/10 and mAP of query against gallery, as the run's own
/// evaluation reports them.
fn eval_reid(checkpoint: &Path, data: Option<PathBuf>, batch_size: usize, device: DeviceKind) -> Result<()> {
    let (cfg, e) = match device {
        DeviceKind::Cpu => occlude::train::reid::evaluate_checkpoint::<occlude::backend::CpuAutodiff>(
            checkpoint,
            data,
            batch_size,
            &Default::default(),
        )?,
        DeviceKind::Cuda => cuda_eval_reid(checkpoint, data, batch_size)?,
    };
    let mut report = serde_json::json!({
        "checkpoint": checkpoint,
        "model": cfg.model.arch,
        "task": "reid",
        "data": cfg.data.path,
        "samples": e.samples,
    });
    for (k, v) in &e.metrics {
        report[k] = serde_json::json!(v);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[cfg(feature = "cuda")]
fn cuda_eval_reid(
    checkpoint: &Path,
    data: Option<PathBuf>,
    batch_size: usize,
) -> Result<(RunConfig, occlude::train::task::Evaluation)> {
    occlude::train::reid::evaluate_checkpoint::<occlude::backend::CudaAutodiff>(
        checkpoint,
        data,
        batch_size,
        &Default::default(),
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda_eval_reid(_: &Path, _: Option<PathBuf>, _: usize) -> Result<(RunConfig, occlude::train::task::Evaluation)> {
    anyhow::bail!(crate::common::NO_CUDA)
}

#[cfg(feature = "cuda")]
fn cuda_eval(checkpoint: &Path, data: Option<DatasetSpec>, batch_size: usize) -> Result<(RunConfig, Tally)> {
    occlude::train::evaluate_checkpoint::<occlude::backend::CudaBackend>(
        checkpoint,
        data,
        batch_size,
        &Default::default(),
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda_eval(_: &Path, _: Option<DatasetSpec>, _: usize) -> Result<(RunConfig, Tally)> {
    anyhow::bail!(crate::common::NO_CUDA)
}

#[cfg(feature = "cuda")]
fn cuda_eval_occluded(
    checkpoint: &Path,
    data: Option<DatasetSpec>,
    batch_size: usize,
    occlusion: &EvalOcclusion,
) -> Result<(RunConfig, OccludedTally)> {
    evaluate_checkpoint_occluded::<occlude::backend::CudaAutodiff>(
        checkpoint,
        data,
        batch_size,
        occlusion,
        &Default::default(),
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda_eval_occluded(
    _: &Path,
    _: Option<DatasetSpec>,
    _: usize,
    _: &EvalOcclusion,
) -> Result<(RunConfig, OccludedTally)> {
    anyhow::bail!(crate::common::NO_CUDA)
}
