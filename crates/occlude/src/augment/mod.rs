//! Augmentation of training batches: occlusions, label mixing, image-level ops, and
//! the training paradigms of seed 000 (standard, joint, batch and dataset
//! augmentation).
//!
//! Design: every method is split into a *sampler* that draws plain-data parameters
//! (boxes, grid flags, λ and partner, op lists) deterministically from
//! `(seed, epoch, index, copy)` — possibly given a saliency map — and an *apply* that
//! applies a whole batch of parameters to a batch tensor on the device in one pass.
//! The trainer only sees [`BatchAugment`].

use crate::data::HostBatch;
use crate::models::Network;
use crate::train::config::AugmentConfig;
use anyhow::{bail, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

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
    /// The preprocessed batch as loaded (indices, copies, crops).
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
}

/// The training paradigms of seed 000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paradigm {
    /// Each image once; occluded with probability `1 − p_keep_image` (the non-joint
    /// setting of §4.3).
    Standard,
    /// §3: preprocess once, duplicate the batch, occlude one copy, train on both.
    Joint,
    /// §4.6: M copies per sample in the batch, each preprocessed independently, each
    /// occluded with probability `1 − p_keep_image`.
    Batch,
    /// Table 8: M passes over the data per epoch, copies in distinct batches.
    Dataset,
}

impl Paradigm {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "standard" | "non-joint" => Self::Standard,
            "joint" => Self::Joint,
            "batch" => Self::Batch,
            "dataset" => Self::Dataset,
            _ => bail!("paradigm: unknown {s:?}; expected standard, joint, batch or dataset"),
        })
    }
}

/// A validated augmentation configuration.
#[derive(Clone, Debug)]
pub struct AugmentPlan {
    pub paradigm: Paradigm,
    pub copies: usize,
    pub p_keep_image: f64,
    pub method: String,
}

impl AugmentPlan {
    pub fn from_config(c: &AugmentConfig) -> Result<Self> {
        let paradigm = Paradigm::parse(&c.paradigm)?;
        if c.method != "none" {
            bail!("method: unknown augmentation {:?}; expected none", c.method);
        }
        Ok(Self { paradigm, copies: c.copies, p_keep_image: c.p_keep_image, method: c.method.clone() })
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

    /// The batch transform for training.
    pub fn build<B: AutodiffBackend>(&self) -> Box<dyn BatchAugment<B>> {
        Box::new(Identity { joint: self.paradigm == Paradigm::Joint })
    }
}

/// No occlusion. With joint training the batch is still duplicated (the "joint
/// baseline" of seed 000 §4.1: every image appears exactly twice).
struct Identity {
    joint: bool,
}

impl<B: AutodiffBackend> BatchAugment<B> for Identity {
    fn apply(&mut self, input: AugmentInput<'_, B>) -> Result<TrainBatch<B>> {
        let (images, labels) = if self.joint {
            (
                Tensor::cat(vec![input.images.clone(), input.images], 0),
                Tensor::cat(vec![input.labels.clone(), input.labels], 0),
            )
        } else {
            (input.images, input.labels)
        };
        Ok(TrainBatch { images, targets: Targets::Hard(labels) })
    }
}
