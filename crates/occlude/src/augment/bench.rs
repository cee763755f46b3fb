//! Apply-time measurements for `occlude bench augment`.
//!
//! For a region-level method the three parts of an augmentation step are timed
//! separately: drawing the parameters (host), rendering them into a mask (host), and
//! the batched apply on the device (upload of the mask, one `mask_fill` /
//! `mask_where`, synchronisation). For an image-level method the loader's work is
//! timed (8-bit ops and normalisation of both views, one thread, per batch) and the
//! device part is the upload of the augmented view and the select.

use super::apply::{apply_rendered, render};
use super::ops::ImageOpsConfig;
use super::params::RegionParams;
use super::sample::{sampler_for, BatchContext};
use super::spec::AugmentSpec;
use super::{apply, image_ops_config};
use crate::data::{ImageU8, Normalization};
use crate::rng::{rng_for, Stream};
use anyhow::{bail, Result};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use rand::Rng as _;
use serde::Serialize;
use std::time::Instant;

/// What to time.
#[derive(Clone, Debug)]
pub struct AugmentBench {
    pub spec: AugmentSpec,
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub warmup: usize,
    pub iters: usize,
}

/// One measurement, printed as a JSON line. Times are milliseconds per batch,
/// averaged over `iters` batches with fresh draws.
#[derive(Clone, Debug, Serialize)]
pub struct AugmentBenchResult {
    pub bench: &'static str,
    pub method: String,
    pub backend: String,
    pub batch: usize,
    pub input: [usize; 3],
    pub iters: usize,
    /// Drawing the parameters of the batch (host).
    pub sample_ms: f64,
    /// Rendering them into the batch mask / fill values (host).
    pub render_ms: f64,
    /// Upload, one masked select over the batch, and synchronisation (device).
    pub device_ms: f64,
    /// Image-level ops and normalisation of both views on one loader thread (host).
    pub image_ops_ms: f64,
    /// Everything the trainer waits for after the loader: `sample + render + device`.
    pub apply_ms: f64,
}

/// Times the augmentation of a random `batch × C × H × W` batch on `device`.
pub fn augment_apply<B: Backend>(cfg: &AugmentBench, device: &B::Device) -> Result<AugmentBenchResult> {
    if cfg.spec.is_none() {
        bail!("nothing to time for method none");
    }
    cfg.spec.check_image_size(cfg.height, cfg.width)?;
    let dims = [cfg.batch, cfg.channels, cfg.height, cfg.width];
    let x = Tensor::<B, 4>::random(dims, Distribution::Normal(0.0, 1.0), device);
    let sampler = cfg.spec.region.as_ref().and_then(sampler_for);
    let image_ops = cfg.spec.image.as_ref().map(image_ops_config);
    let norm = Normalization { mean: vec![0.5; cfg.channels], std: vec![0.25; cfg.channels] };
    let sources: Vec<ImageU8> = if image_ops.is_some() {
        (0..cfg.batch)
            .map(|i| {
                let mut rng = rng_for(0, Stream::Preprocess, 0, i as u64, 0);
                let data = (0..cfg.channels * cfg.height * cfg.width).map(|_| rng.random::<u8>()).collect();
                ImageU8::new(cfg.channels, cfg.height, cfg.width, data)
            })
            .collect()
    } else {
        Vec::new()
    };
    let labels: Vec<usize> = (0..cfg.batch).map(|i| i % 10).collect();
    let (mut sample_t, mut render_t, mut device_t, mut ops_t) = (0.0, 0.0, 0.0, 0.0);
    for it in 0..cfg.warmup + cfg.iters {
        let timed = it >= cfg.warmup;
        let ctx = BatchContext::new(0, it, 0, (0..cfg.batch).collect(), vec![0; cfg.batch], cfg.height, cfg.width);
        if let Some(ops) = &image_ops {
            let t = Instant::now();
            let aug = loader_views(ops, &sources, &norm, it);
            let host_t = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let params = vec![RegionParams::Paste { rects: vec![] }; cfg.batch];
            let rendered = render(&params, dims)?;
            let r_t = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let a = Tensor::<B, 4>::from_data(TensorData::new(aug, dims), device);
            let out = apply_rendered(x.clone(), Some(a), rendered)?;
            B::sync(device).map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))?;
            drop(out);
            if timed {
                ops_t += host_t;
                render_t += r_t;
                device_t += t.elapsed().as_secs_f64();
            }
        }
        if let Some(sampler) = &sampler {
            let t = Instant::now();
            let params: Vec<RegionParams> = (0..cfg.batch).map(|i| sampler.sample(&ctx, i, None)).collect();
            let s_t = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let rendered = render(&params, dims)?;
            // Label mixing also builds soft targets (negligible next to the images).
            let soft = apply::soft_targets(&params, &labels, 10);
            let r_t = t.elapsed().as_secs_f64();
            drop(soft);
            let t = Instant::now();
            let out = apply_rendered(x.clone(), None, rendered)?;
            B::sync(device).map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))?;
            drop(out);
            if timed {
                sample_t += s_t;
                render_t += r_t;
                device_t += t.elapsed().as_secs_f64();
            }
        }
    }
    let ms = |t: f64| 1000.0 * t / cfg.iters.max(1) as f64;
    Ok(AugmentBenchResult {
        bench: "augment",
        method: cfg.spec.to_string(),
        backend: B::name(device),
        batch: cfg.batch,
        input: [cfg.channels, cfg.height, cfg.width],
        iters: cfg.iters,
        sample_ms: ms(sample_t),
        render_ms: ms(render_t),
        device_ms: ms(device_t),
        image_ops_ms: ms(ops_t),
        apply_ms: ms(sample_t + render_t + device_t),
    })
}

/// The loader's image-level work for one batch: draw, apply, normalise.
fn loader_views(ops: &ImageOpsConfig, sources: &[ImageU8], norm: &Normalization, epoch: usize) -> Vec<f32> {
    let per = sources.first().map_or(0, |s| s.data.len());
    let mut out = vec![0.0f32; per * sources.len()];
    for (i, src) in sources.iter().enumerate() {
        let drawn = ops.sample(0, epoch, i, 0);
        let aug = ops.apply(src, &drawn);
        norm.normalize_into(&aug, &mut out[i * per..(i + 1) * per]);
    }
    out
}
