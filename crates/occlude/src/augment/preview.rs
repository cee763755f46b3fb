//! `occlude preview`: a grid of original (top row) and augmented (bottom row)
//! training samples, made by the same loader and batched apply as training.

use super::params::{ImageOp, Rect, RegionParams};
use super::spec::AugmentSpec;
use super::{batch_saliency, image_ops_config, Augmenter};
use crate::backend::{CpuAutodiff, CpuBackend};
use crate::data::{DataSplits, Loader, LoaderConfig, Normalization};
use crate::models::Network;
use crate::saliency::{render, SaliencyMaps};
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
    /// The region-level method's parameters; for an image-level method followed only
    /// by selective-paste (KeepAutoAugment, KeepRandAugment), selective-paste's.
    pub params: RegionParams,
    /// Selective-paste's parameters when it follows a region-level method in a chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paste: Option<RegionParams>,
}

/// Renders the preview of `spec` on the training split of `splits`. Saliency-guided
/// methods need a model: use [`preview_with_model`].
pub fn preview(
    spec: &AugmentSpec,
    splits: &DataSplits,
    opts: &PreviewOptions,
) -> Result<(RgbImage, Vec<PreviewSample>)> {
    preview_with_model(spec, splits, opts, None)
}

/// [`preview`] with the model whose saliency guides the method (e.g. loaded from a
/// checkpoint with [`crate::saliency::explain::load_model`]). When the method uses
/// saliency, a third row shows each image's map (inferno colours, scaled to its 99th
/// percentile) with the cut regions outlined in cyan and the pasted-back ones in
/// magenta; images whose draw reads no map (e.g. Random Erasing left them alone) get
/// no map, as in training, and an empty tile.
pub fn preview_with_model(
    spec: &AugmentSpec,
    splits: &DataSplits,
    opts: &PreviewOptions,
    model: Option<&Network<CpuAutodiff>>,
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
    let maps = match (spec.saliency(), model) {
        (None, _) => None,
        (Some(_), Some(model)) => {
            let labels: Vec<i64> = host.labels.iter().map(|&y| y as i64).collect();
            let y = Tensor::<CpuAutodiff, 1, Int>::from_data(TensorData::new(labels, [host.len()]), &device);
            let x = Tensor::<CpuAutodiff, 4>::from_inner(x.clone());
            batch_saliency(&augmenter, &host, x, y, model, opts.seed, opts.epoch).context("saliency for the preview")?
        }
        (Some(method), None) => {
            anyhow::bail!("{spec} samples from {method} saliency maps: give the model to explain (--checkpoint)")
        }
    };
    let with_map = augmenter.saliency_images(&host, opts.seed, opts.epoch);
    let a = augmenter.augment(&host, x, opts.seed, opts.epoch, splits.num_classes, maps.as_ref())?;
    let augmented: Vec<f32> = a
        .images
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| anyhow::anyhow!("reading the batch back: {e:?}"))?;
    let norm = &splits.train_preprocess.normalization;
    let mut grid =
        tile(&[&host.images, &augmented], host.dims, norm, opts.min_tile).context("rendering the preview")?;
    // The stages shown: the region method's (if any), then selective-paste's.
    let pastes = a.pastes.as_ref();
    let stage = |i: usize| -> (RegionParams, Option<RegionParams>) {
        match (&spec.region, pastes) {
            (None, Some(p)) => (p[i].clone(), None),
            (_, p) => (a.params[i].clone(), p.map(|p| p[i].clone())),
        }
    };
    if spec.saliency().is_some() {
        let outlines: Vec<Outlines> = (0..host.len())
            .map(|i| {
                let cut = if spec.region.is_some() { a.params[i].rects() } else { vec![] };
                let pasted = pastes.map_or_else(Vec::new, |p| p[i].rects());
                Outlines { map: with_map.iter().position(|&k| k == i), cut, pasted }
            })
            .collect();
        grid = with_saliency_row(grid, maps.as_ref(), &outlines, host.dims, opts.min_tile);
    }
    let samples = (0..host.len())
        .map(|i| {
            let (params, paste) = stage(i);
            PreviewSample {
                column: i,
                index: host.indices[i],
                label: host.labels[i],
                image_ops: host.image_ops.get(i).cloned().unwrap_or_default(),
                params,
                paste,
            }
        })
        .collect();
    Ok((grid, samples))
}

/// What the saliency row shows for one column.
struct Outlines {
    /// The index of the column's map in the maps, if it has one.
    map: Option<usize>,
    /// Regions cut (cyan) and pasted back (magenta).
    cut: Vec<Rect>,
    pasted: Vec<Rect>,
}

/// Appends a row of saliency heat maps, with the regions outlined, in the layout of
/// [`tile`].
fn with_saliency_row(
    grid: RgbImage,
    maps: Option<&SaliencyMaps>,
    columns: &[Outlines],
    dims: [usize; 4],
    min_tile: usize,
) -> RgbImage {
    let [n, _, h, w] = dims;
    let scale = min_tile.div_ceil(h.max(w)).max(1);
    let (th, tw, gap) = (h * scale, w * scale, 4);
    let mut out = RgbImage::from_pixel(grid.width(), grid.height() + (th + gap) as u32, Rgb([40, 40, 40]));
    image::imageops::replace(&mut out, &grid, 0, 0);
    let oy = grid.height() as usize;
    // The one-pixel border of a magnified rectangle.
    let on_edge = |rects: &[Rect], y: usize, x: usize| {
        rects.iter().any(|r| {
            let (y0, y1, x0, x1) = (r.top * scale, r.bottom() * scale, r.left * scale, r.right() * scale);
            !r.is_empty()
                && (y0..y1).contains(&y)
                && (x0..x1).contains(&x)
                && (y == y0 || y + 1 == y1 || x == x0 || x + 1 == x1)
        })
    };
    for (i, column) in columns.iter().enumerate().take(n) {
        let Some(map) = column.map.and_then(|k| maps.map(|m| m.map(k))) else { continue };
        let top = render::display_scale(map).max(f32::MIN_POSITIVE);
        let ox = gap + i * (tw + gap);
        for y in 0..th {
            for x in 0..tw {
                let (sy, sx) = (y / scale, x / scale);
                let px = if on_edge(&column.pasted, y, x) {
                    [255, 0, 255]
                } else if on_edge(&column.cut, y, x) {
                    [0, 255, 255]
                } else {
                    render::colormap(map[sy * w + sx] / top)
                };
                out.put_pixel((ox + x) as u32, (oy + y) as u32, Rgb(px));
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::spec::{load_dataset, DatasetKind, DatasetSpec};
    use crate::models::ModelConfig;

    #[test]
    fn saliency_guided_previews_need_a_model_and_show_the_maps_with_the_regions() {
        let mut data = DatasetSpec::new(DatasetKind::Embedded, None);
        data.train_per_class = Some(2);
        data.test_per_class = Some(1);
        let splits = load_dataset(&data).unwrap();
        let spec = AugmentSpec::parse("keep-cutout:s=8").unwrap();
        let opts = PreviewOptions { count: 4, min_tile: 28, ..Default::default() };
        let err = format!("{:#}", preview(&spec, &splits, &opts).unwrap_err());
        assert!(err.contains("--checkpoint"), "{err}");
        let model = ModelConfig::new("resnet8").init::<CpuAutodiff>(1, 10, &Default::default()).unwrap();
        let (grid, samples) = preview_with_model(&spec, &splits, &opts, Some(&model)).unwrap();
        let (plain, _) = preview(&AugmentSpec::parse("cutout:s=8").unwrap(), &splits, &opts).unwrap();
        assert_eq!(grid.width(), plain.width());
        assert_eq!(grid.height(), plain.height() + 28 + 4, "a third row of 28 px tiles");
        // The outline of every chosen square is drawn in cyan on the saliency row.
        let cyan = grid.pixels().filter(|p| p.0 == [0, 255, 255]).count();
        assert!(cyan >= 4 * 4, "{cyan} outline pixels");
        assert!(samples.iter().all(|s| matches!(s.params, RegionParams::Erase { .. }) && s.paste.is_none()));

        // A chain: AutoAugment's CIFAR setting with Cutout, and a region of the original
        // pasted back (magenta) over the cut (cyan).
        let chain = AugmentSpec::parse("keep-autoaugment:policy=cifar10+cutout:s=8").unwrap();
        let (grid, samples) = preview_with_model(&chain, &splits, &opts, Some(&model)).unwrap();
        assert_eq!(grid.height(), plain.height() + 28 + 4);
        for colour in [[0, 255, 255], [255, 0, 255]] {
            assert!(grid.pixels().filter(|p| p.0 == colour).count() >= 4 * 4, "{colour:?} outlines");
        }
        for s in &samples {
            assert!(matches!(s.params, RegionParams::Erase { .. }), "{:?}", s.params);
            assert!(matches!(s.paste, Some(RegionParams::Paste { ref rects }) if rects.len() == 1), "{:?}", s.paste);
        }
        let json = serde_json::to_value(&samples[0]).unwrap();
        assert_eq!((json["params"]["kind"].as_str(), json["paste"]["kind"].as_str()), (Some("erase"), Some("paste")));
    }
}
