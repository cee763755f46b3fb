//! `occlude preview`: a grid of original (top row) and augmented (bottom row)
//! training samples, made by the same loader and batched apply as training.

use super::params::{ImageOp, RegionParams};
use super::spec::AugmentSpec;
use super::{image_ops_config, Augmenter};
use crate::backend::CpuBackend;
use crate::data::{DataSplits, Loader, LoaderConfig, Normalization};
use anyhow::{Context, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use image::{Rgb, RgbImage};
use serde::Serialize;

/// What to show.
#[derive(Clone, Debug)]
pub struct PreviewOptions {
    /// Number of samples (columns).
    pub count: usize,
    pub seed: u64,
    /// The epoch whose draws are shown (crops, flips and augmentations differ by epoch).
    pub epoch: usize,
    /// Tiles are magnified by an integer factor until they are at least this many
    /// pixels on their longer side (28×28 Fashion-MNIST images become 112×112).
    pub min_tile: usize,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self { count: 8, seed: 0, epoch: 0, min_tile: 96 }
    }
}

/// The parameters behind one column of the preview.
#[derive(Clone, Debug, Serialize)]
pub struct PreviewSample {
    pub column: usize,
    pub index: usize,
    pub label: usize,
    pub image_ops: Vec<ImageOp>,
    pub params: RegionParams,
}

/// Renders the preview of `spec` on the training split of `splits`.
pub fn preview(
    spec: &AugmentSpec,
    splits: &DataSplits,
    opts: &PreviewOptions,
) -> Result<(RgbImage, Vec<PreviewSample>)> {
    let count = opts.count.clamp(1, splits.train.len());
    let loader = Loader::new(
        splits.train.clone(),
        splits.train_preprocess.clone(),
        LoaderConfig {
            batch_size: count,
            workers: 1,
            prefetch: 1,
            shuffle: true,
            drop_last: false,
            copies: 1,
            passes: 1,
            seed: opts.seed,
            image_ops: spec.image.as_ref().map(image_ops_config),
        },
    )?;
    let order = loader.epoch_order(opts.epoch);
    let host = loader.make_batch(&order, opts.epoch, 0)?;
    let device = Default::default();
    let x = Tensor::<CpuBackend, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
    let mut augmenter = Augmenter::new(spec, 0.0);
    let a = augmenter.augment(&host, x, opts.seed, opts.epoch, splits.num_classes, None)?;
    let augmented: Vec<f32> = a
        .images
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| anyhow::anyhow!("reading the batch back: {e:?}"))?;
    let norm = &splits.train_preprocess.normalization;
    let grid = tile(&[&host.images, &augmented], host.dims, norm, opts.min_tile).context("rendering the preview")?;
    let samples = (0..host.len())
        .map(|i| PreviewSample {
            column: i,
            index: host.indices[i],
            label: host.labels[i],
            image_ops: host.image_ops.get(i).cloned().unwrap_or_default(),
            params: a.params[i].clone(),
        })
        .collect();
    Ok((grid, samples))
}

/// Lays out rows of normalised `N × C × H × W` batches as one RGB image.
pub fn tile(rows: &[&[f32]], dims: [usize; 4], norm: &Normalization, min_tile: usize) -> Result<RgbImage> {
    let [n, c, h, w] = dims;
    let scale = min_tile.div_ceil(h.max(w)).max(1);
    let (th, tw, gap) = (h * scale, w * scale, 4);
    let width = n * tw + (n + 1) * gap;
    let height = rows.len() * th + (rows.len() + 1) * gap;
    let mut img = RgbImage::from_pixel(width as u32, height as u32, Rgb([40, 40, 40]));
    for (r, data) in rows.iter().enumerate() {
        anyhow::ensure!(data.len() == n * c * h * w, "row {r} has {} values, expected {}", data.len(), n * c * h * w);
        for i in 0..n {
            let (oy, ox) = (gap + r * (th + gap), gap + i * (tw + gap));
            for y in 0..th {
                for x in 0..tw {
                    let (sy, sx) = (y / scale, x / scale);
                    let v = |ch: usize| norm.invert(ch, data[((i * c + ch) * h + sy) * w + sx]);
                    let px = if c >= 3 { [v(0), v(1), v(2)] } else { [v(0); 3] };
                    img.put_pixel((ox + x) as u32, (oy + y) as u32, Rgb(px));
                }
            }
        }
    }
    Ok(img)
}
