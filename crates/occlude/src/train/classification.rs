//! Supervised image classification, the task of both seeds: augmented batches from
//! one shuffled loader (seed 000's paradigms — standard, joint, batch, dataset
//! augmentation — and seed 003's saliency-guided methods), cross-entropy with label
//! smoothing plus the early-exit head's loss when the model has one, and top-1/top-5
//! on the evaluation split.

use super::evaluate::{clean_train_loader, eval_loader, evaluate, to_device, workers};
use super::loss;
use super::task::{Batches, Evaluation, StepInfo, StepOutput, Task};
use super::RunConfig;
use crate::augment::{AugmentInput, AugmentPlan, BatchAugment, Targets};
use crate::data::preprocess::Crop;
use crate::data::{load_dataset, HostBatch, Loader, LoaderConfig};
use crate::models::{Ctx, ModelConfig, Network};
use crate::saliency::SaliencyMethod;
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::collections::BTreeMap;

/// The classification task of a run configuration.
pub struct Classification<B: AutodiffBackend> {
    seed: u64,
    model: ModelConfig,
    channels: usize,
    classes: usize,
    label_smoothing: f64,
    early_loss_weight: f64,
    train_loader: Loader,
    test_loader: Loader,
    /// Un-augmented training images (`train.clean_train_eval`).
    clean_train: Option<Loader>,
    augment: Box<dyn BatchAugment<B>>,
    bad_images_skipped: usize,
    device: B::Device,
    /// The step's batch and its tracked input, while the augmentation wants the input
    /// gradient (`saliency=reuse`) and the loop has not back-propagated yet.
    pending_input: Option<(HostBatch, Tensor<B, 4>)>,
}

impl<B: AutodiffBackend> Classification<B> {
    /// Loads the data and builds the loaders and the augmentation `cfg` describes.
    pub fn new(cfg: &RunConfig, device: &B::Device) -> Result<Self> {
        let plan = AugmentPlan::from_config(&cfg.augment)?;
        let splits = load_dataset(&cfg.data).context("loading data")?;
        if plan.spec.saliency() == Some(&SaliencyMethod::Reuse)
            && !matches!(splits.train_preprocess.crop, Crop::None | Crop::PadCrop { .. })
        {
            bail!(
                "augment.method {:?}: saliency=reuse maps saliency through crops that do not resize; \
                 the training crop {:?} resizes (use crop none or pad-crop)",
                cfg.augment.method,
                splits.train_preprocess.crop
            );
        }
        let train_loader = Loader::new(
            splits.train.clone(),
            splits.train_preprocess.clone(),
            LoaderConfig {
                batch_size: cfg.optimizer.batch_size,
                workers: workers(cfg.loader.workers),
                prefetch: cfg.loader.prefetch,
                shuffle: true,
                // The last incomplete batch is dropped: a tiny batch would give noisy
                // batch-norm statistics. The order is reshuffled every epoch, so the
                // dropped samples differ from epoch to epoch.
                drop_last: splits.train.len() >= cfg.optimizer.batch_size,
                copies: plan.loader_copies(),
                passes: plan.loader_passes(),
                seed: cfg.seed,
                image_ops: plan.loader_image_ops(),
            },
        )?;
        let eval_bs =
            if cfg.loader.eval_batch_size > 0 { cfg.loader.eval_batch_size } else { cfg.optimizer.batch_size };
        let test_loader = eval_loader(&splits, eval_bs, cfg.loader.workers)?;
        let clean_train = match cfg.train.clean_train_eval {
            0 => None,
            n => Some(clean_train_loader(&splits, n, eval_bs, cfg.loader.workers)?),
        };
        Ok(Self {
            seed: cfg.seed,
            model: cfg.model.clone(),
            channels: splits.channels,
            classes: splits.num_classes,
            label_smoothing: cfg.train.label_smoothing,
            early_loss_weight: cfg.train.early_loss_weight,
            train_loader,
            test_loader,
            clean_train,
            augment: plan.build::<B>(),
            bad_images_skipped: splits.train.bad_images_skipped() + splits.test.bad_images_skipped(),
            device: device.clone(),
            pending_input: None,
        })
    }
}

impl<B: AutodiffBackend> Task<B> for Classification<B> {
    type Model = Network<B>;
    type Batch = HostBatch;

    fn init_model(&self, device: &B::Device) -> Result<Network<B>> {
        self.model.init(self.channels, self.classes, device)
    }

    fn steps_per_epoch(&self) -> usize {
        self.train_loader.batches_per_epoch()
    }

    fn batches(&self, epoch: usize, start: usize) -> Batches<HostBatch> {
        Box::new(self.train_loader.epoch(epoch, start))
    }

    fn step(&mut self, model: &Network<B>, mut batch: HostBatch, at: StepInfo) -> Result<StepOutput<B>> {
        let images = std::mem::take(&mut batch.images);
        let (x, y) = to_device::<B>(&batch, images, &self.device);
        let step_batch = self.augment.apply(AugmentInput {
            host: &batch,
            images: x,
            labels: y,
            model,
            epoch: at.epoch,
            num_classes: self.classes,
            seed: self.seed,
        })?;
        let n = step_batch.images.dims()[0];
        let mut images = step_batch.images;
        if self.augment.tracks_input_gradient() {
            // A leaf of the step's graph: the backward pass also yields ∂loss/∂images.
            images = images.detach().require_grad();
            self.pending_input = Some((batch, images.clone()));
        }
        let early = model.has_early_head();
        // Stochastic layers (Shake-Shake, ShakeDrop, dropout family) draw from (seed, step);
        // schedules (DropBlock's keep probability) see step / total steps.
        let mut ctx = Ctx::train_at(self.seed, at.step, at.total_steps).with_early_head(early);
        let (logits, early_logits) = model.forward_with(images, &mut ctx);
        let mut loss = loss::cross_entropy(logits.clone(), &step_batch.targets, self.label_smoothing);
        if let Some(e) = early_logits {
            let head = loss::cross_entropy(e, &step_batch.targets, self.label_smoothing);
            loss = loss + head.mul_scalar(self.early_loss_weight);
        }
        let hard = match &step_batch.targets {
            Targets::Hard(y) => y.clone(),
            Targets::Soft(q) => q.clone().argmax(1).reshape([n]),
        };
        let correct = logits.detach().argmax(1).reshape([n]).equal(hard).int().sum();
        Ok(StepOutput { loss, images: n, correct: correct.inner(), scored: n, metrics: Vec::new() })
    }

    fn after_backward(&mut self, grads: &B::Gradients) -> Result<()> {
        if let Some((host, images)) = self.pending_input.take() {
            let grad = images.grad(grads).context("saliency=reuse: no gradient reached the input batch")?;
            self.augment.record_input_gradient(&host, grad)?;
        }
        Ok(())
    }

    fn evaluate(&mut self, model: &Network<B::InnerBackend>, _epoch: usize) -> Result<Evaluation> {
        let test = evaluate(model, &self.test_loader, &self.device)?;
        let mut metrics = BTreeMap::new();
        if let Some(loader) = &self.clean_train {
            let clean = evaluate(model, loader, &self.device)?;
            metrics.insert("clean_train_loss".to_string(), clean.loss());
            metrics.insert(crate::report::plot::CLEAN_TRAIN_TOP1.to_string(), clean.top1());
        }
        Ok(Evaluation { loss: test.loss(), top1: test.top1(), top5: test.top5(), samples: test.count, metrics })
    }

    fn bad_images_skipped(&self) -> usize {
        self.bad_images_skipped
    }
}

#[cfg(test)]
mod reuse_tests;
