//! Augmentation of training batches: occlusions, label mixing, image-level ops, and
//! the training paradigms of seed 000 (standard, joint, batch and dataset
//! augmentation).
//!
//! Design: every method is split into a *sampler* that draws plain-data parameters
//! ([`params`]: boxes, grid flags, λ and partner, op lists) deterministically from
//! `(seed, epoch, index, copy)` — possibly given a saliency map — and an *apply* that
//! applies a whole batch of parameters to a batch tensor on the device in one pass
//! ([`apply::apply_batch`]). The trainer only sees [`BatchAugment`].
//!
//! * [`spec`]: the `cutout:n=6,s=56` syntax of `augment.method` and `--augment`,
//!   and chains (`autoaugment:policy=cifar10+cutout+selective-paste`);
//! * [`context`], [`sample`]: draw sites, the region-level samplers (Cutout,
//!   Hide-and-Seek, Random Erasing, CutMix, GridMask) and the [`sample::Sampler`]
//!   trait saliency-guided samplers implement;
//! * [`keep`]: the saliency-guided samplers — Selective-Cut (KeepCutout,
//!   KeepRandomErasing, KeepCutMix), Selective-Paste (KeepAutoAugment,
//!   KeepRandAugment) and saliency-max occlusion; the trainer computes the maps
//!   ([`crate::saliency`]) on the clean batch once per step, for the images that need
//!   one ([`batch_saliency`]), and hands them over;
//! * [`Augmenter`]: a spec applied to a loaded batch, stage by stage;
//! * [`draws`]: `occlude sample`, the parameters a spec draws as JSON lines;
//! * [`ops`]: the 8-bit image ops of AutoAugment / RandAugment (PIL semantics) and
//!   their policies; they run in the data loader, which keeps the clean and the
//!   augmented view of every crop ([`crate::data::HostBatch::augmented`]);
//! * [`apply`]: the batched apply and soft targets;
//! * [`preview`]: the original-vs-augmented grid of `occlude preview`;
//! * [`bench`](mod@bench): apply-time measurements (`occlude bench augment`).
//!
//! Papers: [seed 000] §3 (Hide-and-Seek, Cutout, saliency-max occlusion, joint
//! training), §4.6 (batch augmentation); [seed 003] §3, Alg. 1 (Selective-Cut,
//! Selective-Paste).
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

pub mod apply;
mod augmenter;
pub mod bench;
pub mod context;
pub mod draws;
pub mod keep;
pub mod ops;
pub mod params;
pub mod preview;
pub mod sample;
pub mod spec;

pub use augmenter::{batch_saliency, Augmented, Augmenter, StageParams};

use crate::data::HostBatch;
use crate::models::Network;
use crate::saliency::SaliencyMethod;
use crate::train::config::AugmentConfig;
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use keep::reuse::ReuseCache;
use ops::{ImageOpsConfig, OpPolicy};
use spec::{AugmentSpec, MethodSpec};

/// The targets a batch is trained against.
pub enum Targets<B: Backend> {
    /// Class indices.
    Hard(Tensor<B, 1, Int>),
    /// A distribution over classes per image (label mixing, e.g. CutMix).
    Soft(Tensor<B, 2>),
}

/// What the network trains on for one step.
pub struct TrainBatch<B: Backend> {
    pub images: Tensor<B, 4>,
    pub targets: Targets<B>,
}

/// Everything an augmentation may look at for one step.
pub struct AugmentInput<'a, B: AutodiffBackend> {
    /// The preprocessed batch as loaded (indices, copies, crops, and the augmented
    /// view when image-level ops are configured).
    pub host: &'a HostBatch,
    /// `host.images` on the device.
    pub images: Tensor<B, 4>,
    /// `host.labels` on the device.
    pub labels: Tensor<B, 1, Int>,
    /// The model being trained (saliency-guided methods run it; they must not change it).
    pub model: &'a Network<B>,
    pub epoch: usize,
    pub num_classes: usize,
    pub seed: u64,
}

/// Turns a loaded batch into the batch the network trains on.
pub trait BatchAugment<B: AutodiffBackend> {
    fn apply(&mut self, input: AugmentInput<'_, B>) -> Result<TrainBatch<B>>;

    /// Whether the step must track the batch [`apply`](Self::apply) returned, so that
    /// [`record_input_gradient`](Self::record_input_gradient) gets its gradient
    /// (`saliency=reuse`).
    fn tracks_input_gradient(&self) -> bool {
        false
    }

    /// The gradient of the step's loss with respect to the batch `apply` returned for
    /// `host` (same rows), after the step's backward pass.
    fn record_input_gradient(&mut self, host: &HostBatch, grad: Tensor<B::InnerBackend, 4>) -> Result<()> {
        let _ = (host, grad);
        Ok(())
    }

    /// The map `saliency=reuse` holds for dataset image `index`, in source-image
    /// coordinates ([`keep::reuse::ReuseCache::source`]), if any.
    fn reused_map(&self, index: usize) -> Option<&[f32]> {
        let _ = index;
        None
    }
}

/// The training paradigms of seed 000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paradigm {
    /// Each image once; occluded with probability `1 − p_keep_image` (the non-joint
    /// setting of §4.3).
    Standard,
    /// §3: preprocess once, duplicate the batch, occlude one copy, train on both
    /// (clean copy first; the occluded copy is occluded with probability
    /// `1 − p_keep_image`, i.e. always with the default `p_keep_image = 0`).
    Joint,
    /// §4.6: M copies per sample in the batch, each preprocessed independently, each
    /// occluded with probability `1 − p_keep_image`.
    Batch,
    /// Table 8: M passes over the data per epoch, copies in distinct batches, each
    /// occluded with probability `1 − p_keep_image`.
    Dataset,
}

impl Paradigm {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "standard" | "non-joint" => Self::Standard,
            "joint" => Self::Joint,
            "batch" => Self::Batch,
            "dataset" => Self::Dataset,
            _ => bail!("paradigm: unknown {s:?}; expected standard (non-joint), joint, batch or dataset"),
        })
    }
}

/// A validated augmentation configuration.
#[derive(Clone, Debug)]
pub struct AugmentPlan {
    pub paradigm: Paradigm,
    pub copies: usize,
    pub p_keep_image: f64,
    /// The spec as written in the configuration.
    pub method: String,
    pub spec: AugmentSpec,
}

impl AugmentPlan {
    pub fn from_config(c: &AugmentConfig) -> Result<Self> {
        let paradigm = Paradigm::parse(&c.paradigm)?;
        let spec = AugmentSpec::parse(&c.method).with_context(|| format!("method {:?}", c.method))?;
        if !(0.0..=1.0).contains(&c.p_keep_image) {
            bail!("p_keep_image: must be in [0, 1], got {}", c.p_keep_image);
        }
        if matches!(paradigm, Paradigm::Batch | Paradigm::Dataset) && c.copies == 0 {
            bail!("copies: must be at least 1 for the {} paradigm", c.paradigm);
        }
        Ok(Self { paradigm, copies: c.copies, p_keep_image: c.p_keep_image, method: c.method.clone(), spec })
    }

    /// Copies of each sample the loader puts in a batch.
    pub fn loader_copies(&self) -> usize {
        if self.paradigm == Paradigm::Batch {
            self.copies
        } else {
            1
        }
    }

    /// Passes over the data per epoch.
    pub fn loader_passes(&self) -> usize {
        if self.paradigm == Paradigm::Dataset {
            self.copies
        } else {
            1
        }
    }

    /// The image-level ops the loader applies to produce the augmented view, if any.
    pub fn loader_image_ops(&self) -> Option<ImageOpsConfig> {
        self.spec.image.as_ref().map(image_ops_config)
    }

    /// The batch transform for training.
    pub fn build<B: AutodiffBackend>(&self) -> Box<dyn BatchAugment<B>> {
        let reuse = (self.spec.saliency() == Some(&SaliencyMethod::Reuse)).then(ReuseCache::new);
        Box::new(TrainAugment {
            paradigm: self.paradigm,
            augmenter: Augmenter::new(&self.spec, self.p_keep_image),
            reuse,
        })
    }
}

/// The loader configuration of an image-level method.
pub fn image_ops_config(m: &MethodSpec) -> ImageOpsConfig {
    match *m {
        MethodSpec::AutoAugment { policy, m, fill } => {
            ImageOpsConfig { policy: OpPolicy::AutoAugment { policy, magnitude: m }, fill }
        }
        MethodSpec::RandAugment { n, m, fill } => ImageOpsConfig { policy: OpPolicy::RandAugment { n, m }, fill },
        _ => panic!("{} is not an image-level method", m.name()),
    }
}

/// The trainer's [`BatchAugment`]: an [`Augmenter`] arranged by the paradigm.
struct TrainAugment {
    paradigm: Paradigm,
    augmenter: Augmenter,
    /// `saliency=reuse`: the maps of earlier visits ([`keep::reuse`]).
    reuse: Option<ReuseCache>,
}

impl<B: AutodiffBackend> BatchAugment<B> for TrainAugment {
    fn apply(&mut self, input: AugmentInput<'_, B>) -> Result<TrainBatch<B>> {
        let AugmentInput { host, images, labels, model, epoch, num_classes, seed } = input;
        let device = images.device();
        let n = host.len();
        let joint = self.paradigm == Paradigm::Joint;
        if self.augmenter.spec.is_none() && !joint {
            return Ok(TrainBatch { images, targets: Targets::Hard(labels) });
        }
        // The maps of the clean (preprocessed) batch with respect to the labels, on a
        // frozen copy of the model (see `crate::saliency`), for the images whose draws
        // read one.
        let maps = match &self.reuse {
            Some(cache) => {
                let needed = self.augmenter.saliency_images(host, seed, epoch);
                (!needed.is_empty()).then(|| cache.maps(host, &needed)).transpose()?
            }
            None => batch_saliency(&self.augmenter, host, images.clone(), labels.clone(), model, seed, epoch)?,
        };
        let clean = if joint { Some(images.clone()) } else { None };
        let a = self.augmenter.augment(host, images, seed, epoch, num_classes, maps.as_ref())?;
        let soft =
            |q: Vec<f32>, rows: usize| Tensor::<B, 2>::from_data(TensorData::new(q, [rows, num_classes]), &device);
        Ok(match (clean, a.soft_targets) {
            (None, None) => TrainBatch { images: a.images, targets: Targets::Hard(labels) },
            (None, Some(q)) => TrainBatch { images: a.images, targets: Targets::Soft(soft(q, n)) },
            // Joint training: the clean copy first, then the augmented one.
            (Some(clean), None) => TrainBatch {
                images: Tensor::cat(vec![clean, a.images], 0),
                targets: Targets::Hard(Tensor::cat(vec![labels.clone(), labels], 0)),
            },
            (Some(clean), Some(q)) => {
                let mut both = vec![0.0f32; n * num_classes];
                for (i, &y) in host.labels.iter().enumerate() {
                    both[i * num_classes + y] = 1.0;
                }
                both.extend(q);
                TrainBatch { images: Tensor::cat(vec![clean, a.images], 0), targets: Targets::Soft(soft(both, 2 * n)) }
            }
        })
    }

    fn tracks_input_gradient(&self) -> bool {
        self.reuse.is_some()
    }

    /// Rows `0..n` are the clean copy in joint training and the trained images
    /// otherwise ([`keep::reuse`]).
    fn record_input_gradient(&mut self, host: &HostBatch, grad: Tensor<B::InnerBackend, 4>) -> Result<()> {
        let Some(cache) = &mut self.reuse else { return Ok(()) };
        let maps = keep::reuse::input_saliency(grad, host.len())?;
        cache.record_batch(host, &maps)
    }

    fn reused_map(&self, index: usize) -> Option<&[f32]> {
        self.reuse.as_ref()?.source(index)
    }
}

#[cfg(test)]
mod tests;
