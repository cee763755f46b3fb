//! Evaluation on occluded test images: seed 000 §4.2's "occlusions as a stethoscope
//! for model capacity" — how much occlusion a network handles at evaluation time.
//!
//! Every evaluation image is occluded by a region-level method (Cutout,
//! Hide-and-Seek, Random Erasing, GridMask, or a saliency-guided one) with the
//! parameters drawn exactly as in training — from `(seed, epoch 0, image index,
//! copy 0)` — so an evaluation is deterministic for its seed and independent of the
//! batch size. Saliency-guided methods take their maps from the evaluated network
//! itself, with respect to each image's true label, as training does: the occlusion
//! then targets (KeepCutout: avoids) the evidence for the correct class.

use super::evaluate::{load_checkpoint, score, to_device};
use super::metrics::Tally;
use super::RunConfig;
use crate::augment::apply::render;
use crate::augment::spec::{AugmentSpec, MethodSpec};
use crate::augment::Augmenter;
use crate::data::{DatasetSpec, Loader};
use crate::models::Network;
use crate::saliency::{self, Target};
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use std::path::Path;

/// The occlusion of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalOcclusion {
    pub spec: AugmentSpec,
    /// Seed of the occlusion draws (not the training run's seed).
    pub seed: u64,
}

impl EvalOcclusion {
    /// Parses an augmentation spec and checks it occludes images without changing
    /// labels: `none` (no occlusion), or one region-level occlusion.
    pub fn parse(text: &str, seed: u64) -> Result<Self> {
        let spec = AugmentSpec::parse(text)?;
        if spec.image.is_some() {
            bail!("{spec}: image-level methods (autoaugment, randaugment, selective-paste) are not occlusions; evaluate with a region-level one (cutout, hide-and-seek, random-erasing, gridmask, keep-cutout, keep-random-erasing, saliency-occlusion)");
        }
        match &spec.region {
            Some(MethodSpec::CutMix { .. }) => {
                bail!("{spec}: cutmix mixes labels; it is not an occlusion of the test image")
            }
            Some(MethodSpec::SelectiveCut { base, .. }) if matches!(**base, MethodSpec::CutMix { .. }) => {
                bail!("{spec}: keep-cutmix mixes labels; it is not an occlusion of the test image")
            }
            Some(MethodSpec::SelectivePaste { .. }) => bail!("{spec}: selective-paste needs an image-level method"),
            _ => {}
        }
        Ok(Self { spec, seed })
    }
}

/// What an evaluation on occluded images measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OccludedTally {
    pub tally: Tally,
    /// Mean fraction of each image's pixels that were occluded.
    pub occluded_fraction: f64,
}

/// Loss, top-1 and top-5 of `model` (running batch-norm statistics) on the images of
/// `loader`, each occluded as `occlusion` says.
pub fn evaluate_occluded<B: AutodiffBackend>(
    model: &Network<B>,
    loader: &Loader,
    occlusion: &EvalOcclusion,
    device: &B::Device,
) -> Result<OccludedTally> {
    let mut augmenter = Augmenter::new(&occlusion.spec, 0.0);
    let inference = model.valid();
    let classes = model.num_classes();
    let mut out = OccludedTally::default();
    let mut occluded_sum = 0.0;
    for batch in loader.epoch(0, 0) {
        let mut batch = batch?;
        let images = std::mem::take(&mut batch.images);
        let maps = match augmenter.saliency_method() {
            Some(method) => {
                let (x, y) = to_device::<B>(&batch, images.clone(), device);
                Some(saliency::compute_host(model, x, Target::Label(y), method).context("--occlude")?)
            }
            None => None,
        };
        let (x, y) = to_device::<B::InnerBackend>(&batch, images, device);
        let a = augmenter.augment(&batch, x, occlusion.seed, 0, classes, maps.as_ref())?;
        let mask = render(&a.params, batch.dims)?.mask;
        let per_image = mask.len() / batch.len().max(1);
        occluded_sum +=
            mask.chunks(per_image).map(|m| m.iter().filter(|&&b| b).count() as f64 / per_image as f64).sum::<f64>();
        score(&mut out.tally, inference.forward(a.images, false), y, &batch.labels)?;
    }
    out.occluded_fraction = occluded_sum / out.tally.count.max(1) as f64;
    Ok(out)
}

/// Rebuilds the model stored in a checkpoint and evaluates it on occluded images of
/// its evaluation split, or of `data` when given.
pub fn evaluate_checkpoint_occluded<B: AutodiffBackend>(
    checkpoint_path: &Path,
    data: Option<DatasetSpec>,
    batch_size: usize,
    occlusion: &EvalOcclusion,
    device: &B::Device,
) -> Result<(RunConfig, OccludedTally)> {
    let (cfg, splits, model) = load_checkpoint::<B>(checkpoint_path, data, device)?;
    let loader = super::eval_loader(&splits, batch_size, 0)?;
    Ok((cfg, evaluate_occluded(&model, &loader, occlusion, device)?))
}
