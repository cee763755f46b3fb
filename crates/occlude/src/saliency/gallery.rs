//! A gallery of saliency maps of test images under a trained model, one row per
//! image (input, map, overlay; see [`super::render`]), titled with the label and the
//! prediction: the `saliency.png` of `occlude demo`.

use super::render::{heatmaps_png, Heatmap};
use super::{compute_host, SaliencyMethod, Target};
use crate::data::{DataSplits, Loader, LoaderConfig};
use crate::models::Network;
use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;

/// The first test image of each class, in test-set order, at most `count` of them.
pub fn one_per_class(splits: &DataSplits, count: usize) -> Vec<usize> {
    let mut seen = vec![false; splits.num_classes];
    let mut picked = Vec::new();
    for i in 0..splits.test.len() {
        if picked.len() == count {
            break;
        }
        let y = splits.test.label(i);
        if !std::mem::replace(&mut seen[y], true) {
            picked.push(i);
        }
    }
    picked
}

/// PNG bytes: the `method` saliency map of each test image `indices` (evaluation
/// preprocessing) with respect to its label, under `model`.
pub fn gallery_png<B: AutodiffBackend>(
    model: &Network<B>,
    splits: &DataSplits,
    indices: &[usize],
    method: &SaliencyMethod,
    device: &B::Device,
) -> Result<Vec<u8>> {
    let loader =
        Loader::new(splits.test.clone(), splits.eval_preprocess.clone(), LoaderConfig::eval(indices.len(), 1))?;
    let order: Vec<(usize, usize)> = indices.iter().map(|&i| (i, 0)).collect();
    let host = loader.make_batch(&order, 0, 0).context("the test images of the saliency gallery")?;
    let [n, c, h, w] = host.dims;
    let x = Tensor::<B, 4>::from_data(TensorData::new(host.images.clone(), host.dims), device);
    let probs: Vec<f32> = burn::tensor::activation::softmax(model.valid().forward(x.clone().inner(), false), 1)
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let labels: Vec<i64> = host.labels.iter().map(|&y| y as i64).collect();
    let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), device);
    let maps = compute_host(model, x, Target::Label(y), method)?;
    let names = splits.test.class_names();
    let k = splits.num_classes;
    let rows: Vec<Heatmap<'_>> = (0..n)
        .map(|i| {
            let p = &probs[i * k..(i + 1) * k];
            let pred = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(j, _)| j);
            Heatmap {
                image: &host.images[i * c * h * w..(i + 1) * c * h * w],
                channels: c,
                height: h,
                width: w,
                normalization: &splits.eval_preprocess.normalization,
                map: maps.map(i),
                title: format!(
                    "test #{}: {} · predicted {} ({:.0}%) · {method} saliency of the label",
                    host.indices[i],
                    names[host.labels[i]],
                    names[pred],
                    100.0 * p[pred]
                ),
            }
        })
        .collect();
    heatmaps_png(&rows)
}
