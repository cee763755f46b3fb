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

use super::params::RegionParams;
use super::sample::BatchContext;
use super::spec::AugmentSpec;
use super::{Augmenter, StageParams};
use crate::saliency::{npy, SaliencyMaps};
use anyhow::{bail, Context, Result};
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
    let draws = sample_draws(spec, height, width, map, count, seed)?;
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
    if height == 0 || width == 0 {
        bail!("the image size must be at least 1×1, got {height}×{width}");
    }
    if spec.region.is_none() && spec.paste.is_none() {
        bail!("{spec} draws no region-level parameters (image-level ops are drawn by the loader; see occlude preview)");
    }
    spec.check_image_size(height, width)?;
    if let Some(map) = map {
        if map.len() != height * width {
            bail!("the saliency map has {} values; expected {height}×{width} = {}", map.len(), height * width);
        }
        check_map(&[height, width], map, height, width)?;
    }
    let augmenter = Augmenter::new(spec, 0.0);
    let ctx = BatchContext::new(seed, 0, 0, (0..count).collect(), vec![0; count], height, width);
    let kept = vec![false; count];
    let needed = augmenter.saliency_images_of(&ctx, &kept);
    let maps = match (needed.is_empty(), map) {
        (true, _) => None,
        (false, Some(map)) => Some(SaliencyMaps {
            count: needed.len(),
            height,
            width,
            values: needed.iter().flat_map(|_| map.iter().copied()).collect(),
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
