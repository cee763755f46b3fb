//! Throughput measurements: a training step (forward, backward, SGD update) of a
//! model on random data, timed after warm-up, for any backend.
//!
//! Results are meant to be compared as ratios measured in the same run (two
//! backends, or with and without an extra pass), never as absolute timings across
//! machines. BENCHMARKS.md records them with the commands that produced them.

use crate::augment::Targets;
use crate::models::{Ctx, ModelConfig, Network};
use crate::rng::{derive_seed, Stream};
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
    pub backend: String,
    pub arch: String,
    pub batch: usize,
    pub input: [usize; 3],
    pub steps: usize,
    pub images_per_second: f64,
    pub ms_per_step: f64,
    /// Time of the warm-up steps (kernel compilation and autotuning on GPUs).
    pub warmup_seconds: f64,
}

/// Times `steps` training steps after `warmup_steps` on `device`.
pub fn train_step<B: AutodiffBackend>(cfg: &StepBench, device: &B::Device) -> Result<StepBenchResult> {
    B::seed(device, derive_seed(0, Stream::Init, 0, 0, 0));
    let mut model = ModelConfig::new(&cfg.arch).init::<B>(cfg.channels, cfg.classes, device)?;
    let mut sgd = Sgd::<B>::new(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4 });
    let x = Tensor::<B, 4>::random(
        [cfg.batch, cfg.channels, cfg.height, cfg.width],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..cfg.batch).map(|i| (i % cfg.classes) as i64).collect();
    let y = Targets::Hard(Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [cfg.batch]), device));
    let mut step = |model: Network<B>| {
        let logits = model.forward_with(x.clone(), &mut Ctx::train()).0;
        let loss = cross_entropy(logits, &y, 0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        sgd.step(0.01, model, grads)
    };
    let t0 = Instant::now();
    for _ in 0..cfg.warmup_steps {
        model = step(model);
    }
    B::sync(device).map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))?;
    let warmup_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for _ in 0..cfg.steps {
        model = step(model);
    }
    B::sync(device).map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))?;
    let secs = t1.elapsed().as_secs_f64();
    Ok(StepBenchResult {
        bench: "train-step",
        backend: B::name(device),
        arch: cfg.arch.clone(),
        batch: cfg.batch,
        input: [cfg.channels, cfg.height, cfg.width],
        steps: cfg.steps,
        images_per_second: (cfg.steps * cfg.batch) as f64 / secs,
        ms_per_step: 1000.0 * secs / cfg.steps.max(1) as f64,
        warmup_seconds,
    })
}
