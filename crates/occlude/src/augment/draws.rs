//! `occlude sample`: the region-level parameters a spec draws, one JSON line per draw,
//! to inspect, audit or replay them (as Kornia's replayable parameters).
//!
//! Draw `k` is what the trainer draws for dataset index `k` (copy 0, epoch 0) in a
//! batch of `count` images of `H × W` with seed `S` and `p_keep_image = 0`; a
//! saliency-guided method samples every draw from the one map given. A line is the
//! serde form of [`RegionParams`] (`{"kind":"erase","rects":[{"top":…,"left":…,
//! "height":…,"width":…}],"fill":{"kind":"zero"}}`); for a chain with both a
//! region-level method and selective-paste it is a JSON array of the two, in the order
//! they are applied.
//!
//! [`sample_draws_at`] makes the draws of any dataset indices, epoch and batch, and
//! [`apply_draws`] applies draws to images as training does (`occlude sample --apply`,
//! the Python package).

use super::apply;
use super::params::RegionParams;
use super::sample::BatchContext;
use super::spec::AugmentSpec;
use super::{Augmenter, StageParams};
use crate::saliency::{npy, SaliencyMaps};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use std::path::Path;

/// Reads a saliency map for [`sample_lines`]: a 2-D `height × width` `.npy` of
/// little-endian `f32` (what `occlude saliency --raw` writes), every value finite.
pub fn read_saliency_map(path: &Path, height: usize, width: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the saliency map {}", path.display()))?;
    let (shape, values) = npy::decode_f32(&bytes).with_context(|| format!("{}", path.display()))?;
    check_map(&shape, &values, height, width).with_context(|| format!("{}", path.display()))?;
    Ok(values)
}

/// Checks a map's shape against the image size and its values for finiteness.
pub fn check_map(shape: &[usize], values: &[f32], height: usize, width: usize) -> Result<()> {
    if shape != [height, width] {
        bail!(
            "the saliency map has shape {shape:?}; expected a 2-D {height}×{width} map (H×W, the size the draws are for)"
        );
    }
    if let Some(p) = values.iter().position(|v| !v.is_finite()) {
        bail!(
            "the saliency map has a non-finite value ({}) at row {}, column {}; every value must be finite",
            values[p],
            p / width,
            p % width
        );
    }
    Ok(())
}

/// The parameters of `count` draws of `spec` on `height × width` images (see the
/// module documentation), one JSON line each.
pub fn sample_lines(
    spec: &AugmentSpec,
    height: usize,
    width: usize,
    map: Option<&[f32]>,
    count: usize,
    seed: u64,
) -> Result<Vec<String>> {
    draw_lines(&sample_draws(spec, height, width, map, count, seed)?)
}

/// Draws as JSON lines: one stage as an object, more as an array of them.
pub fn draw_lines(draws: &[Vec<RegionParams>]) -> Result<Vec<String>> {
    let line = |stages: &[RegionParams]| match stages {
        [one] => serde_json::to_string(one),
        many => serde_json::to_string(many),
    };
    draws.iter().map(|d| line(d).context("writing a draw as JSON")).collect()
}

/// The parameters of `count` draws: for each draw, one [`RegionParams`] per
/// region-level stage (the region method's, then selective-paste's).
pub fn sample_draws(
    spec: &AugmentSpec,
    height: usize,
    width: usize,
    map: Option<&[f32]>,
    count: usize,
    seed: u64,
) -> Result<Vec<Vec<RegionParams>>> {
    let at = DrawSites { seed, epoch: 0, batch_index: 0, indices: (0..count).collect() };
    sample_draws_at(spec, height, width, map, &at)
}

/// Which draws [`sample_draws_at`] makes: those training makes for the images with
/// dataset indices `indices` (copy 0) in batch `batch_index` of epoch `epoch` (the
/// batch position only decides CutMix's partners).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawSites {
    pub seed: u64,
    pub epoch: usize,
    pub batch_index: usize,
    pub indices: Vec<usize>,
}

/// The parameters of the draws `at` names, one list of stages per image (see
/// [`sample_draws`]). `maps` holds one `H × W` map for every image, or one per image
/// (`N × H × W`, in the order of `at.indices`).
pub fn sample_draws_at(
    spec: &AugmentSpec,
    height: usize,
    width: usize,
    maps: Option<&[f32]>,
    at: &DrawSites,
) -> Result<Vec<Vec<RegionParams>>> {
    if height == 0 || width == 0 {
        bail!("the image size must be at least 1×1, got {height}×{width}");
    }
    if spec.region.is_none() && spec.paste.is_none() {
        bail!("{spec} draws no region-level parameters (image-level ops are drawn by the loader; see occlude preview)");
    }
    spec.check_image_size(height, width)?;
    let (count, plane) = (at.indices.len(), height * width);
    if let Some(maps) = maps {
        let n = maps.len() / plane;
        if maps.len() % plane != 0 || (n != 1 && n != count) {
            bail!(
                "{} saliency values: expected one {height}×{width} map ({plane} values) or one per image ({count}×{plane})",
                maps.len()
            );
        }
        for (k, map) in maps.chunks(plane).enumerate() {
            check_map(&[height, width], map, height, width).with_context(|| format!("saliency map {k}"))?;
        }
    }
    let augmenter = Augmenter::new(spec, 0.0);
    let ctx = BatchContext::new(at.seed, at.epoch, at.batch_index, at.indices.clone(), vec![0; count], height, width);
    let kept = vec![false; count];
    let needed = augmenter.saliency_images_of(&ctx, &kept);
    // One map for every image, or image i's.
    let map_of = |maps: &[f32], i: usize| if maps.len() == plane { 0 } else { i * plane };
    let maps = match (needed.is_empty(), maps) {
        (true, _) => None,
        (false, Some(maps)) => Some(SaliencyMaps {
            count: needed.len(),
            height,
            width,
            values: needed.iter().flat_map(|&i| maps[map_of(maps, i)..][..plane].iter().copied()).collect(),
        }),
        (false, None) => bail!("{spec} samples from a saliency map: give one (a 2-D {height}×{width} .npy)"),
    };
    let StageParams { region, paste } = augmenter.sample_params(&ctx, &kept, &needed, maps.as_ref())?;
    Ok((0..count)
        .map(|i| {
            let mut stages = Vec::with_capacity(2);
            if spec.region.is_some() {
                stages.push(region[i].clone());
            }
            if let Some(paste) = &paste {
                stages.push(paste[i].clone());
            }
            stages
        })
        .collect())
}

/// The stages of a batch of draws (one list per image, as [`sample_draws`] returns
/// them): the region-level method's parameters and selective-paste's. A list of two is
/// `[region, paste]`; a list of one is selective-paste's when any image's is
/// [`RegionParams::Paste`], the region-level method's otherwise.
pub type Stages = (Option<Vec<RegionParams>>, Option<Vec<RegionParams>>);

/// Splits a batch of draws into its [`Stages`]; every image must have as many stages.
pub fn split_stages(draws: &[Vec<RegionParams>]) -> Result<Stages> {
    let Some(first) = draws.first() else { return Ok((None, None)) };
    if let Some(i) = draws.iter().position(|d| d.len() != first.len()) {
        bail!(
            "image {i} has {} stages of parameters and image 0 has {}; a batch takes one layout",
            draws[i].len(),
            first.len()
        );
    }
    let stage = |k: usize| draws.iter().map(|d| d[k].clone()).collect::<Vec<_>>();
    Ok(match first.len() {
        1 if draws.iter().any(|d| matches!(d[0], RegionParams::Paste { .. })) => (None, Some(stage(0))),
        1 => (Some(stage(0)), None),
        2 => (Some(stage(0)), Some(stage(1))),
        n => bail!(
            "{n} stages of parameters per image; expected 1 (a region-level method or selective-paste) or 2 (both)"
        ),
    })
}

/// Applies a batch of draws to the clean images `clean` (`N × C × H × W`, normalised)
/// as training does ([`Augmenter::augment`]): the region-level stage on the view
/// (`augmented`, the image-level view A(x), when given; `clean` otherwise), then
/// selective-paste, which takes its regions from `clean` and needs `augmented`.
pub fn apply_draws<B: Backend>(
    clean: Tensor<B, 4>,
    augmented: Option<Tensor<B, 4>>,
    draws: &[Vec<RegionParams>],
) -> Result<Tensor<B, 4>> {
    let (region, paste) = split_stages(draws)?;
    let view = match (augmented, &paste) {
        (Some(aug), _) => aug,
        (None, Some(_)) => {
            bail!("selective-paste needs the image-level view A(x) of the images (the augmented images)")
        }
        (None, None) => clean.clone(),
    };
    let images = match region {
        Some(region) => apply::apply_batch(view, None, &region)?,
        None => view,
    };
    match paste {
        Some(paste) => apply::apply_batch(clean, Some(images), &paste),
        None => Ok(images),
    }
}

/// [`apply_draws`] on the CPU backend, for host buffers (`N × C × H × W` each).
pub fn apply_draws_cpu(
    clean: Vec<f32>,
    augmented: Option<Vec<f32>>,
    dims: [usize; 4],
    draws: &[Vec<RegionParams>],
) -> Result<Vec<f32>> {
    type B = crate::backend::CpuBackend;
    let device = Default::default();
    let tensor = |values: Vec<f32>| -> Result<Tensor<B, 4>> {
        let expected: usize = dims.iter().product();
        if values.len() != expected {
            bail!("{} values for a batch of {dims:?} ({expected})", values.len());
        }
        Ok(Tensor::from_data(TensorData::new(values, dims), &device))
    };
    let view = augmented.map(tensor).transpose()?;
    let out = apply_draws(tensor(clean)?, view, draws)?;
    out.into_data().into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading the applied images back: {e:?}"))
}
