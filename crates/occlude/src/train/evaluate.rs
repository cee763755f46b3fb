//! Evaluation of a classifier: loss, top-1 and top-5 over a loader, and of a
//! checkpoint rebuilt from the configuration stored inside it.

use super::checkpoint;
use super::loss;
use super::metrics::{topk_correct, Tally};
use super::RunConfig;
use crate::augment::Targets;
use crate::data::{load_dataset, DataSplits, HostBatch, Loader, LoaderConfig, Subset};
use crate::models::params::load_named;
use crate::models::Network;
use anyhow::{Context, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::seq::SliceRandom;
use std::path::Path;
use std::sync::Arc;

/// Loader threads: `configured`, or the number of cores when 0.
pub fn workers(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    }
}

/// Builds the evaluation loader of a dataset.
pub fn eval_loader(splits: &DataSplits, batch_size: usize, workers_: usize) -> Result<Loader> {
    Loader::new(splits.test.clone(), splits.eval_preprocess.clone(), LoaderConfig::eval(batch_size, workers(workers_)))
}

/// The seed of the clean-training subset. It is not the run's seed: like the test
/// split, the subset is the same for every run on a dataset, so runs that differ in
/// method or seed are measured on the same images.
const CLEAN_TRAIN_SEED: u64 = 0x0063_6c65_616e; // "clean"

/// Which `n` of `len` training images the clean training accuracy is measured on: the
/// first `n` of one fixed permutation (so a smaller subset is part of a larger one),
/// in index order. All of them when `n >= len`.
pub fn clean_train_indices(len: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if n < len {
        order.shuffle(&mut crate::rng::rng_for(CLEAN_TRAIN_SEED, crate::rng::Stream::Subset, 0, 0, 0));
        order.truncate(n);
        order.sort_unstable();
    }
    order
}

/// A loader over `n` training images ([`clean_train_indices`]) with the evaluation
/// preprocessing: no crop, flip or augmentation, as the test images are seen. Seed
/// 003 Fig. 2 plots the training accuracy on such clean images against the test
/// accuracy; the accuracy on augmented batches (`train_top1`) is not that figure.
pub fn clean_train_loader(splits: &DataSplits, n: usize, batch_size: usize, workers_: usize) -> Result<Loader> {
    let indices = clean_train_indices(splits.train.len(), n);
    let subset = Subset { inner: splits.train.clone(), indices };
    Loader::new(Arc::new(subset), splits.eval_preprocess.clone(), LoaderConfig::eval(batch_size, workers(workers_)))
}

/// Uploads a host batch's images and labels.
pub fn to_device<B: Backend>(
    batch: &HostBatch,
    images: Vec<f32>,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let x = Tensor::from_data(TensorData::new(images, batch.dims), device);
    let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
    let y = Tensor::from_data(TensorData::new(labels, [batch.labels.len()]), device);
    (x, y)
}

/// Adds the loss, top-1 and top-5 of `logits` against `labels` to `tally`.
pub fn score<B: Backend>(
    tally: &mut Tally,
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    host_labels: &[usize],
) -> Result<()> {
    let [n, classes] = logits.dims();
    let loss = loss::cross_entropy(logits.clone(), &Targets::Hard(labels), 0.0);
    let host: Vec<f32> = logits.into_data().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let l: f32 = loss.into_scalar().elem();
    tally.loss_sum += l as f64 * n as f64;
    tally.top1 += topk_correct(&host, classes, host_labels, 1);
    tally.top5 += topk_correct(&host, classes, host_labels, 5.min(classes));
    tally.count += n;
    Ok(())
}

/// Loss, top-1 and top-5 of `model` (running batch-norm statistics) on a loader.
pub fn evaluate<B: Backend>(model: &Network<B>, loader: &Loader, device: &B::Device) -> Result<Tally> {
    let mut tally = Tally::default();
    for batch in loader.epoch(0, 0) {
        let mut batch = batch?;
        let images = std::mem::take(&mut batch.images);
        let (x, y) = to_device::<B>(&batch, images, device);
        let logits = model.forward(x, false);
        score(&mut tally, logits, y, &batch.labels)?;
    }
    Ok(tally)
}

/// The model stored in a checkpoint, rebuilt from the configuration saved inside it,
/// with the dataset it is evaluated on (`data`, or the run's own).
pub fn load_checkpoint<B: Backend>(
    checkpoint_path: &Path,
    data: Option<crate::data::DatasetSpec>,
    device: &B::Device,
) -> Result<(RunConfig, DataSplits, Network<B>)> {
    let ck = checkpoint::load(checkpoint_path)?;
    let cfg = RunConfig::from_toml_str(&ck.config_toml, None).with_context(|| {
        format!("{}: the configuration stored in the checkpoint is invalid", checkpoint_path.display())
    })?;
    let spec = data.unwrap_or_else(|| cfg.data.clone());
    let splits = load_dataset(&spec)?;
    let model: Network<B> = cfg.model.init(splits.channels, splits.num_classes, device)?;
    let model = load_named(model, ck.model).with_context(|| format!("loading {}", checkpoint_path.display()))?;
    Ok((cfg, splits, model))
}

/// Rebuilds the model stored in a checkpoint (with the configuration saved inside it)
/// and evaluates it on its evaluation split, or on `data` when given.
pub fn evaluate_checkpoint<B: Backend>(
    checkpoint_path: &Path,
    data: Option<crate::data::DatasetSpec>,
    batch_size: usize,
    device: &B::Device,
) -> Result<(RunConfig, Tally)> {
    let (cfg, splits, model) = load_checkpoint::<B>(checkpoint_path, data, device)?;
    let loader = eval_loader(&splits, batch_size, 0)?;
    Ok((cfg, evaluate(&model, &loader, device)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clean_training_subset_is_fixed_distinct_nested_and_capped() {
        let a = clean_train_indices(1000, 100);
        assert_eq!(a, clean_train_indices(1000, 100), "the same for every run");
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "distinct, in index order");
        assert!(*a.last().unwrap() < 1000);
        // Spread over the split, not a prefix.
        assert!(a.iter().filter(|&&i| i >= 500).count() > 25, "{a:?}");
        let larger = clean_train_indices(1000, 300);
        assert!(a.iter().all(|i| larger.contains(i)), "a smaller subset is part of a larger one");
        assert_eq!(clean_train_indices(7, 50), (0..7).collect::<Vec<_>>());
    }
}
