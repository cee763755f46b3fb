//! Throughput measurements: a training step (forward, backward, SGD update) of a
//! model on random data, timed after warm-up, for any backend.
//!
//! Results are meant to be compared as ratios measured in the same run (two
//! backends, or with and without an extra pass), never as absolute timings across
//! machines. BENCHMARKS.md records them with the commands that produced them.
//!
//! Papers: [seed 003] §3.1 and Table 6 (the training-time cost of saliency: vanilla,
//! low-resolution and early-loss, relative to plain Cutout) are measured with it.
//!
//! [seed 003]: https://arxiv.org/abs/2011.11778

use crate::augment::Targets;
use crate::models::{Ctx, ModelConfig, Network};
use crate::rng::{derive_seed, Stream};
use crate::saliency::{SaliencyMethod, Target};
use crate::train::loss::cross_entropy;
use crate::train::sgd::{Sgd, SgdConfig};
use anyhow::Result;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, TensorData};
use serde::Serialize;
use std::time::Instant;

/// What to time.
#[derive(Clone, Debug)]
pub struct StepBench {
    pub arch: String,
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    pub warmup_steps: usize,
    pub steps: usize,
}

/// One measurement, printed as a JSON line by `occlude bench train-step`.
#[derive(Clone, Debug, Serialize)]
pub struct StepBenchResult {
    pub bench: &'static str,
    /// The saliency pass added to every step (`none`, or a [`SaliencyMethod`]).
    pub saliency: String,
    pub backend: String,
    pub arch: String,
    pub batch: usize,
    pub input: [usize; 3],
    pub steps: usize,
    pub images_per_second: f64,
    pub ms_per_step: f64,
    /// Time of the warm-up steps (kernel compilation and autotuning on GPUs).
    pub warmup_seconds: f64,
    /// With `OCCLUDE_PROFILE=1`: milliseconds per step inside each CPU kernel
    /// ([`crate::kernels::profile`]) and outside them (`other`: autodiff bookkeeping,
    /// element-wise ops, loss, optimiser).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<(String, f64)>,
}

/// Times `steps` training steps after `warmup_steps` on `device`.
pub fn train_step<B: AutodiffBackend>(cfg: &StepBench, device: &B::Device) -> Result<StepBenchResult> {
    train_step_with_saliency::<B>(cfg, None, device)
}

/// [`train_step`] where every step first computes the batch's saliency maps with
/// `saliency` and reads them back to the host, as saliency-guided training does
/// (the samplers run on the host). With `early-loss` the model gets its early head and
/// the step trains it (`+ 0.3 ×` its loss), as in seed 003 §4.
pub fn train_step_with_saliency<B: AutodiffBackend>(
    cfg: &StepBench,
    saliency: Option<&SaliencyMethod>,
    device: &B::Device,
) -> Result<StepBenchResult> {
    B::seed(device, derive_seed(0, Stream::Init, 0, 0, 0));
    let mut model_cfg = ModelConfig::new(&cfg.arch);
    model_cfg.early_head = saliency == Some(&SaliencyMethod::EarlyLoss);
    let early = model_cfg.early_head;
    let mut model = model_cfg.init::<B>(cfg.channels, cfg.classes, device)?;
    let mut sgd = Sgd::<B>::new(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4 });
    let x = Tensor::<B, 4>::random(
        [cfg.batch, cfg.channels, cfg.height, cfg.width],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..cfg.batch).map(|i| (i % cfg.classes) as i64).collect();
    let y_int = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [cfg.batch]), device);
    let y = Targets::Hard(y_int.clone());
    let total = cfg.warmup_steps + cfg.steps;
    let mut step_index = 0;
    let mut step = |model: Network<B>| -> Result<Network<B>> {
        step_index += 1;
        if let Some(method) = saliency {
            let maps = crate::saliency::compute_host(&model, x.clone(), Target::Label(y_int.clone()), method)?;
            std::hint::black_box(maps.values.len());
        }
        let mut ctx = Ctx::train_at(0, step_index - 1, total).with_early_head(early);
        let (logits, early_logits) = model.forward_with(x.clone(), &mut ctx);
        let mut loss = cross_entropy(logits, &y, 0.0);
        if let Some(e) = early_logits {
            loss = loss + cross_entropy(e, &y, 0.0).mul_scalar(0.3);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok(sgd.step(0.01, model, grads))
    };
    let profiling = std::env::var("OCCLUDE_PROFILE").is_ok_and(|v| v == "1");
    if profiling {
        crate::kernels::profile::enable();
    }
    let t0 = Instant::now();
    for _ in 0..cfg.warmup_steps {
        model = step(model)?;
    }
    B::sync(device).map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))?;
    let warmup_seconds = t0.elapsed().as_secs_f64();
    crate::kernels::profile::reset();
    let t1 = Instant::now();
    for _ in 0..cfg.steps {
        model = step(model)?;
    }
    B::sync(device).map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))?;
    let secs = t1.elapsed().as_secs_f64();
    let per_step = |s: f64| 1000.0 * s / cfg.steps.max(1) as f64;
    let mut profile: Vec<(String, f64)> = Vec::new();
    if profiling {
        let totals = crate::kernels::profile::totals();
        let inside: f64 = totals.iter().map(|t| t.1).sum();
        profile = totals.into_iter().map(|(name, s, _)| (name.to_string(), per_step(s))).collect();
        profile.push(("other".to_string(), per_step(secs - inside)));
    }
    Ok(StepBenchResult {
        bench: "train-step",
        saliency: saliency.map_or_else(|| "none".to_string(), |m| m.to_string()),
        backend: B::name(device),
        arch: cfg.arch.clone(),
        batch: cfg.batch,
        input: [cfg.channels, cfg.height, cfg.width],
        steps: cfg.steps,
        images_per_second: (cfg.steps * cfg.batch) as f64 / secs,
        ms_per_step: 1000.0 * secs / cfg.steps.max(1) as f64,
        warmup_seconds,
        profile,
    })
}

/// One run of [`epoch_time`], printed as a JSON line by `occlude bench epoch`.
#[derive(Clone, Debug, Serialize)]
pub struct EpochBenchResult {
    pub bench: &'static str,
    pub augment: String,
    /// Whether the model carried seed 003's early-loss head (for `saliency=early-loss`).
    pub early_head: bool,
    pub epochs: usize,
    /// Training images per second (the evaluation passes are not counted).
    pub images_per_second: f64,
    /// Training time of the run (all epochs, evaluation excluded).
    pub train_seconds: f64,
    /// Training time per epoch relative to the first configuration of the same call
    /// (`images/s of the first ÷ images/s of this one`): seed 003 Table 6's ratio.
    pub time_ratio: f64,
    pub top1: f64,
    pub device: String,
}

/// Trains `base` once per augmentation spec — same data, model, seed and schedule —
/// and reports training throughput, so one call gives seed 003 Table 6's comparison
/// (Cutout vs KeepCutout with naive, low-resolution and early-loss saliency) as
/// ratios measured on the same machine in the same run. A spec whose saliency is
/// `early-loss` trains the model with the early head (its cost is part of the method).
/// Runs are written under `out_root/<position>-<method>`.
pub fn epoch_time<B: AutodiffBackend>(
    base: &crate::train::config::RunConfig,
    augments: &[String],
    out_root: &std::path::Path,
    device: &B::Device,
    device_name: &str,
) -> Result<Vec<EpochBenchResult>> {
    let mut results: Vec<EpochBenchResult> = Vec::new();
    for (i, spec_text) in augments.iter().enumerate() {
        let spec = crate::augment::spec::AugmentSpec::parse(spec_text)?;
        let mut cfg = base.clone();
        cfg.augment.method = spec_text.clone();
        cfg.model.early_head = base.model.early_head || spec.saliency() == Some(&SaliencyMethod::EarlyLoss);
        let tag: String =
            spec_text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        cfg.output_dir = out_root.join(format!("{i}-{tag}"));
        cfg.validate()?;
        let opts = crate::train::TrainOptions {
            force: true,
            quiet: true,
            device_name: device_name.to_string(),
            ..Default::default()
        };
        let summary = crate::train::train::<B>(&cfg, device, &opts)?;
        let first = results.first().map_or(summary.images_per_second, |r| r.images_per_second);
        results.push(EpochBenchResult {
            bench: "epoch",
            augment: spec.to_string(),
            early_head: cfg.model.early_head,
            epochs: cfg.epochs,
            images_per_second: summary.images_per_second,
            train_seconds: summary.wall_seconds,
            time_ratio: first / summary.images_per_second,
            top1: summary.top1,
            device: summary.device,
        });
    }
    Ok(results)
}
