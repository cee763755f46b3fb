//! The seam between the training loop and what is trained: a [`Task`].
//!
//! The loop ([`super::runner`]) owns everything that is the same for every task: the
//! optimiser and learning-rate schedule, the step counter, atomic checkpoints (every
//! epoch and every K steps), resuming, Ctrl-C, the progress bar, `metrics.jsonl`,
//! `summary.json`, `curves.png` and the non-finite-loss guard. A task owns what
//! differs: which network, which batches (its own samplers and data streams), the loss
//! and what a step reports, how the model is evaluated, and any state of its own that
//! a resumed run must get back.
//!
//! This is burn-train's split (`TrainStep::step(batch) -> TrainOutput`, `ValidStep`)
//! with the data and the run state added, because occlude's tasks differ there too:
//!
//! * classification ([`super::classification`]): one shuffled loader, the augmentation
//!   paradigms of seed 000 and the KeepAugment methods of seed 003, cross-entropy (plus
//!   the early-exit head's loss), evaluation top-1/top-5;
//! * semi-supervised UDA, seed 003 §4.3 ([`super::semi`]): `Batch = (labelled batch,
//!   unlabelled batch μ× larger)` from two loaders in [`Task::batches`], the
//!   supervised + consistency loss in [`Task::step`] with `sup_loss`,
//!   `consistency_loss` and `mask_rate` in [`StepOutput::metrics`], and the labelled
//!   subset in [`Task::state`] / [`Task::restore`] (and a file via
//!   [`Task::write_files`]);
//! * re-identification, seed 003 §4.4 ([`super::reid`]): a P×K identity sampler in
//!   [`Task::batches`], a model with a BNNeck as [`Task::Model`], ID + triplet loss in
//!   [`Task::step`], and rank-1/mAP in [`Evaluation::metrics`] (rank-1 and rank-5 as
//!   the headline `top1`/`top5`, no evaluation loss).

use anyhow::Result;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::collections::BTreeMap;
use std::path::Path;

/// The batches of one epoch, in order.
pub type Batches<T> = Box<dyn Iterator<Item = Result<T>>>;

/// Where the loop is when it asks for a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo {
    /// 0-based epoch.
    pub epoch: usize,
    /// Optimiser steps taken before this one (0-based index of this step).
    pub step: usize,
    pub steps_per_epoch: usize,
    /// Steps of the whole run (e.g. for UDA's training-signal annealing).
    pub total_steps: usize,
    /// Learning rate of this step.
    pub lr: f64,
}

/// What one step computed: the loss the loop minimises and what it reports.
///
/// Reported values stay on the device; the loop reads them back in groups
/// (`train.log_every_steps`), so a GPU is not synchronised every step.
pub struct StepOutput<B: AutodiffBackend> {
    /// The scalar to minimise; the loop backpropagates it and checks it is finite.
    pub loss: Tensor<B, 1>,
    /// Images the network processed (throughput), copies and every stream included.
    pub images: usize,
    /// Correct top-1 predictions among the `scored` ones (train top-1).
    pub correct: Tensor<B::InnerBackend, 1, Int>,
    /// Predictions scored for `correct`. The epoch's train loss and every metric are
    /// means over the epoch's steps weighted by this count.
    pub scored: usize,
    /// Further scalars by name (e.g. `consistency_loss`), averaged like the loss and
    /// written to `metrics.jsonl` under `extra`.
    pub metrics: Vec<(String, Tensor<B::InnerBackend, 1>)>,
}

/// What one evaluation measured.
///
/// `loss`, `top1` and `top5` fill the fixed fields of the metrics records and the
/// summary (`test_loss`, `test_top1`, `test_top5`); a task that has no such figure
/// sets it to NaN, written as `null`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub top1: f64,
    pub top5: f64,
    /// Images evaluated.
    pub samples: usize,
    /// Further figures by name (e.g. `clean_train_top1`, `rank1`, `map`).
    pub metrics: BTreeMap<String, f64>,
}

/// What a step of one kind of training computes and reports; see the module docs.
pub trait Task<B: AutodiffBackend> {
    /// The network trained.
    type Model: AutodiffModule<B>;
    /// What one step consumes: a loaded batch, or one batch of each data stream.
    type Batch: Send + 'static;

    /// A freshly initialised network. The loop seeds the backend before the call.
    fn init_model(&self, device: &B::Device) -> Result<Self::Model>;

    /// Steps per epoch; the same every epoch.
    fn steps_per_epoch(&self) -> usize;

    /// The batches of `epoch` from batch `start` on (`start > 0` when a run resumes
    /// mid-epoch). Must be a function of the seed, epoch and batch position only, so
    /// that a resumed run sees the batches the uninterrupted run would have seen.
    fn batches(&self, epoch: usize, start: usize) -> Batches<Self::Batch>;

    /// One step's forward pass: the loss and what to report. The model is updated by
    /// the loop, which owns the optimiser.
    fn step(&mut self, model: &Self::Model, batch: Self::Batch, at: StepInfo) -> Result<StepOutput<B>>;

    /// Called with the gradients of the step's loss after the loop back-propagated it
    /// and before the optimiser steps: a task that reuses what the backward pass
    /// computed (e.g. the input gradient, for `saliency=reuse`) reads it here.
    fn after_backward(&mut self, grads: &B::Gradients) -> Result<()> {
        let _ = grads;
        Ok(())
    }

    /// Evaluation after `epoch` (0-based) with the network in inference mode.
    fn evaluate(&mut self, model: &<Self::Model as AutodiffModule<B>>::InnerModule, epoch: usize)
        -> Result<Evaluation>;

    /// State of the task a resumed run needs back (saved in every checkpoint and in
    /// `state.json`), e.g. the labelled subset of a semi-supervised run.
    fn state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }

    /// Restores what [`state`](Self::state) returned, when a run resumes.
    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Writes the task's own files into the run directory (after a restore on resume).
    fn write_files(&self, dir: &Path) -> Result<()> {
        let _ = dir;
        Ok(())
    }

    /// Images of its datasets replaced because they could not be decoded.
    fn bad_images_skipped(&self) -> usize {
        0
    }
}
