//! `saliency=reuse`: saliency maps that cost no saliency pass (issue 15 §2).
//!
//! seed 003 pays for KeepAugment with an extra forward and backward pass per step
//! (Table 6: +100 % naive, +20 % low-res, +3 % early loss). The training step already
//! back-propagates its loss through the whole network; asking it for the gradient with
//! respect to its *input* as well costs one more input-gradient product in the first
//! convolution's backward pass, nothing else. `reuse` takes its maps from there:
//!
//! 1. **What is recorded** ([`input_saliency`]): for every image of a step, seed 003's
//!    vanilla reduction `g_ij = max_c |∂L/∂x_cij|` of the gradient of the step's own
//!    loss `L` (cross-entropy with label smoothing, plus the early head's loss when
//!    the model has one) with respect to the image as the network saw it. In the joint
//!    paradigm that is the *clean* copy (the first half of the batch); in the other
//!    paradigms it is the trained image itself, occlusion included (inside a cut box
//!    the gradient is taken at the fill value).
//! 2. **Where it is kept** ([`ReuseCache`]): per dataset index, in *source-image*
//!    coordinates: the crop offset and the flip of that visit are inverted
//!    ([`to_source`]). Source pixels the crop did not cover take the mean of the
//!    covered ones (a neutral value: a candidate region there scores like an average
//!    one); pixels of the crop that lay in the padding are dropped.
//! 3. **How it is used** ([`ReuseCache::maps`]): on the image's next visit the stored
//!    map is mapped through the *current* crop and flip ([`from_source`]; padding
//!    pixels take the map's mean) and handed to the Keep sampler like any other map.
//! 4. **First visit**: no map yet, so the sampler gets a constant map. On a constant
//!    map every Keep sampler draws exactly what its base method draws from the same
//!    generator ([`super`], "Why clipped boxes score their mean"): the first epoch of
//!    `keep-cutout:…,saliency=reuse` *is* Cutout.
//!
//! # How it differs from `vanilla`
//!
//! * The map is one visit old (one epoch in the standard paradigm): the weights have
//!   moved by an epoch of updates since.
//! * It is the gradient of the *loss*, not of the label's logit:
//!   `∂L/∂x = Σ_k (p_k − q_k) ∂z_k/∂x` (softmax `p`, target `q`), so well-classified
//!   images get small maps and the other classes' logits enter. The samplers rank
//!   regions of one image against each other (τ-quantile of its own scores), so the
//!   per-image scale does not matter; the direction does.
//! * Batch norm uses the training step's batch statistics (the `saliency_bn=batch`
//!   flavour), not the running ones.
//! * The map is taken at the training crop's resolution: `low-res`'s downsampling is
//!   not needed, since the pass is free.
//!
//! # Limits
//!
//! * Crops must not resize (`crop = none` or `pad-crop`, the CIFAR / Fashion-MNIST
//!   preprocessing): then source and output pixels correspond one to one and the
//!   source image has the output's size. The task refuses resizing crops
//!   ([`check_crop`]).
//! * Memory: one `H × W` `f32` map per dataset image seen (CIFAR-10: 50 000 × 32 × 32
//!   × 4 B ≈ 205 MB), allocated on first record.
//! * Checkpoints do not carry the cache: a resumed run restarts it cold, i.e. the
//!   first visit of every image after the resume draws like the base method. A
//!   resumed `reuse` run is therefore not bit-identical to an uninterrupted one.

use crate::data::preprocess::CropParams;
use crate::data::HostBatch;
use crate::saliency::{channel_max_abs, SaliencyMaps};
use anyhow::{bail, Result};
use burn::prelude::*;

/// The source pixel `(row, column)` that output pixel `(y, x)` of a non-resizing crop
/// shows, as the loader's crop computes it: `(top + y, left + x)`, with `x` mirrored
/// to `W − 1 − x` when the crop is flipped. It may lie in the padding (outside
/// `0..H × 0..W`).
pub fn source_pixel(crop: &CropParams, y: usize, x: usize) -> (i64, i64) {
    let x = if crop.flip { crop.out_width - 1 - x } else { x };
    (crop.top + y as i64, crop.left + x as i64)
}

/// Checks that `crop` does not resize, so that [`source_pixel`] holds.
pub fn check_crop(crop: &CropParams) -> Result<()> {
    if (crop.height, crop.width) != (crop.out_height, crop.out_width) {
        bail!(
            "saliency=reuse needs crops that do not resize (data crop none or pad-crop); got a {}×{} window resized to {}×{}",
            crop.height,
            crop.width,
            crop.out_height,
            crop.out_width
        );
    }
    Ok(())
}

/// The mean of `values` (0 for none).
fn mean(values: impl Iterator<Item = f32>) -> f32 {
    let (sum, n) = values.fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// A map seen through `crop` (`H × W`, output coordinates) put back into source
/// coordinates (`H × W`): `src[sp(y, x)] = map[y, x]` for every output pixel whose
/// source pixel `sp` ([`source_pixel`]) is inside the image; source pixels no output
/// pixel shows get the mean of those that were shown.
pub fn to_source(crop: &CropParams, map: &[f32]) -> Vec<f32> {
    let (h, w) = (crop.out_height, crop.out_width);
    assert_eq!(map.len(), h * w, "a {h}×{w} map");
    let mut src = vec![f32::NAN; h * w];
    for y in 0..h {
        for x in 0..w {
            let (sy, sx) = source_pixel(crop, y, x);
            if (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx) {
                src[sy as usize * w + sx as usize] = map[y * w + x];
            }
        }
    }
    let fill = mean(src.iter().copied().filter(|v| !v.is_nan()));
    src.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = fill);
    src
}

/// A source-coordinate map (`H × W`) seen through `crop`: `out[y, x] = src[sp(y, x)]`,
/// and the mean of `src` where the source pixel lies in the padding.
pub fn from_source(crop: &CropParams, src: &[f32]) -> Vec<f32> {
    let (h, w) = (crop.out_height, crop.out_width);
    assert_eq!(src.len(), h * w, "a {h}×{w} map");
    let fill = mean(src.iter().copied());
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            let (sy, sx) = source_pixel(crop, y, x);
            let inside = (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx);
            out.push(if inside { src[sy as usize * w + sx as usize] } else { fill });
        }
    }
    out
}

/// The maps `reuse` records: seed 003 §3's vanilla reduction `max_c |g|` of the input
/// gradient `g` of the step's loss, for the first `n` rows of the trained batch (the
/// clean copy in joint training, the trained images otherwise), read back to the host.
pub fn input_saliency<B: Backend>(grad: Tensor<B, 4>, n: usize) -> Result<SaliencyMaps> {
    let [rows, c, h, w] = grad.dims();
    if rows < n {
        bail!("saliency=reuse: the input gradient has {rows} rows for {n} images");
    }
    let g = if rows == n { grad } else { grad.slice([0..n, 0..c, 0..h, 0..w]) };
    SaliencyMaps::from_tensor(channel_max_abs(g))
}

/// Per dataset index, the input-gradient map of the image's latest visit in source
/// coordinates; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct ReuseCache {
    /// Indexed by dataset index; empty until the image is first recorded.
    maps: Vec<Vec<f32>>,
    /// `(H, W)` of every map (the first record fixes it).
    size: Option<(usize, usize)>,
}

impl ReuseCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored source-coordinate map of dataset image `index`, if it was recorded.
    pub fn source(&self, index: usize) -> Option<&[f32]> {
        self.maps.get(index).filter(|m| !m.is_empty()).map(|m| m.as_slice())
    }

    /// How many images have a map.
    pub fn len(&self) -> usize {
        self.maps.iter().filter(|m| !m.is_empty()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `map` (output coordinates of `crop`) as the map of dataset image `index`,
    /// replacing the previous one.
    pub fn record(&mut self, index: usize, crop: &CropParams, map: &[f32]) -> Result<()> {
        check_crop(crop)?;
        let size = (crop.out_height, crop.out_width);
        if *self.size.get_or_insert(size) != size {
            bail!(
                "saliency=reuse: images of {}×{} after {:?}; every image must have one size",
                size.0,
                size.1,
                self.size
            );
        }
        if self.maps.len() <= index {
            self.maps.resize(index + 1, Vec::new());
        }
        self.maps[index] = to_source(crop, map);
        Ok(())
    }

    /// Records the maps of a batch: `maps.map(i)` belongs to `host`'s image `i`.
    pub fn record_batch(&mut self, host: &HostBatch, maps: &SaliencyMaps) -> Result<()> {
        for i in 0..maps.count {
            self.record(host.indices[i], &host.crops[i], maps.map(i))?;
        }
        Ok(())
    }

    /// The map of `host`'s image `i` under its current crop: the stored map through
    /// [`from_source`], or a constant map on the first visit.
    pub fn map(&self, host: &HostBatch, i: usize) -> Result<Vec<f32>> {
        let crop = &host.crops[i];
        check_crop(crop)?;
        let (h, w) = (host.dims[2], host.dims[3]);
        Ok(match self.source(host.indices[i]) {
            Some(src) if src.len() == h * w => from_source(crop, src),
            Some(src) => bail!("saliency=reuse: a stored map of {} values for images of {h}×{w}", src.len()),
            None => vec![1.0; h * w],
        })
    }

    /// The maps of `host`'s images `positions` (as
    /// [`crate::augment::Augmenter::saliency_images`] lists them), in that order.
    pub fn maps(&self, host: &HostBatch, positions: &[usize]) -> Result<SaliencyMaps> {
        let (h, w) = (host.dims[2], host.dims[3]);
        let mut values = Vec::with_capacity(positions.len() * h * w);
        for &i in positions {
            values.extend(self.map(host, i)?);
        }
        Ok(SaliencyMaps { count: positions.len(), height: h, width: w, values })
    }
}
