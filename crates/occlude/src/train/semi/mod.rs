//! Semi-supervised training with UDA (Xie et al. 2020) as seed 003 §4.3 runs it (its
//! Table 9: UDA with RandAugment vs KeepRandAugment on CIFAR-10 with 4,000 and 2,500
//! labels, Wide ResNet-28-2). Selected by a `[semi_supervised]` section in the run
//! configuration ([`config`]).
//!
//! * Data ([`subset`], [`streams`]): a class-balanced labelled subset drawn from the
//!   seed (written to `labelled.json` in the run directory and kept in every
//!   checkpoint), the rest of the training split unlabelled. Each step takes a
//!   labelled batch (`optimizer.batch_size`, crop + flip) and an unlabelled batch `μ`
//!   times larger, each image in two views: the weak view `x` (crop + flip) and the
//!   strong view `x′` ([`strong`]: `augment.method` applied to `x`).
//! * Loss ([`loss`]): one forward pass over labelled, weak and strong images together
//!   (as UDA's code, so batch norm sees all three); supervised cross-entropy (with
//!   optional training-signal annealing) + λ · the masked KL divergence from the
//!   sharpened weak-view prediction, held fixed, to the strong-view prediction.
//! * Reports per epoch: `sup_loss`, `consistency_loss`, `mask_rate` (share of
//!   unlabelled images above the confidence threshold), `tsa_kept` (with annealing),
//!   and test top-1 / top-5 as classification does. `train_top1` is the labelled batch's.
//! * `mu = 0` trains on the labelled subset alone: the supervised-only baseline on
//!   the same subset and the same steps.

pub mod config;
pub mod loss;
pub mod streams;
pub mod strong;
pub mod subset;

#[cfg(test)]
mod tests;

pub use config::{SemiConfig, Tsa};

use super::evaluate::{eval_loader, evaluate, to_device, workers};
use super::task::{Batches, Evaluation, StepInfo, StepOutput, Task};
use super::RunConfig;
use crate::augment::AugmentPlan;
use crate::data::{load_dataset, Dataset, HostBatch, Loader, LoaderConfig, Preprocess};
use crate::models::{Ctx, ModelConfig, Network};
use crate::rng::{derive_seed, Stream};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::path::Path;
use std::sync::Arc;
use streams::RunningStream;
use strong::StrongView;
use subset::LabelledSplit;

/// The file in the run directory that records the labelled subset.
pub const LABELLED_FILE: &str = "labelled.json";

/// One step's data: a labelled batch and, unless `mu = 0`, an unlabelled batch with
/// the loader epoch it comes from.
pub struct SemiBatch {
    pub labelled: HostBatch,
    pub unlabelled: Option<(usize, HostBatch)>,
}

/// How the two loaders are built (kept to rebuild them for a restored subset).
struct LoaderRecipe {
    train: Arc<dyn Dataset>,
    preprocess: Preprocess,
    labelled: LoaderConfig,
    unlabelled: LoaderConfig,
}

/// The UDA task of a run configuration.
pub struct Uda<B: AutodiffBackend> {
    semi: SemiConfig,
    seed: u64,
    model: ModelConfig,
    channels: usize,
    classes: usize,
    early_loss_weight: f64,
    split: LabelledSplit,
    recipe: LoaderRecipe,
    labelled: Loader,
    unlabelled: Option<Loader>,
    steps_per_epoch: usize,
    test_loader: Loader,
    strong: StrongView,
    bad_images_skipped: usize,
    device: B::Device,
}

impl<B: AutodiffBackend> Uda<B> {
    /// Loads the data, draws the labelled subset and builds both streams.
    pub fn new(cfg: &RunConfig, semi: &SemiConfig, device: &B::Device) -> Result<Self> {
        let plan = AugmentPlan::from_config(&cfg.augment)?;
        let strong = StrongView::new(&plan)?;
        let splits = load_dataset(&cfg.data).context("loading data")?;
        let split = LabelledSplit::draw(splits.train.as_ref(), semi.labels, cfg.seed)?;
        let bs = cfg.optimizer.batch_size;
        let loader = |batch_size: usize, seed: u64| LoaderConfig {
            batch_size,
            workers: workers(cfg.loader.workers),
            prefetch: cfg.loader.prefetch,
            shuffle: true,
            drop_last: true,
            copies: 1,
            passes: 1,
            seed,
            image_ops: None,
        };
        let recipe = LoaderRecipe {
            train: splits.train.clone(),
            preprocess: splits.train_preprocess.clone(),
            labelled: loader(bs, cfg.seed),
            unlabelled: LoaderConfig {
                image_ops: plan.loader_image_ops(),
                // Its own shuffling and crops, not the labelled stream's.
                ..loader(semi.mu * bs, derive_seed(cfg.seed, Stream::Subset, 0x0a11, 1, 0))
            },
        };
        let eval_bs = if cfg.loader.eval_batch_size > 0 { cfg.loader.eval_batch_size } else { bs };
        let (labelled, unlabelled) = build_loaders(&recipe, &split, semi.mu)?;
        let steps_per_epoch = semi.steps_per_epoch.unwrap_or(labelled.batches_per_epoch());
        Ok(Self {
            semi: semi.clone(),
            seed: cfg.seed,
            model: cfg.model.clone(),
            channels: splits.channels,
            classes: splits.num_classes,
            early_loss_weight: cfg.train.early_loss_weight,
            split,
            recipe,
            labelled,
            unlabelled,
            steps_per_epoch,
            test_loader: eval_loader(&splits, eval_bs, cfg.loader.workers)?,
            strong,
            bad_images_skipped: splits.train.bad_images_skipped() + splits.test.bad_images_skipped(),
            device: device.clone(),
        })
    }

    /// The labelled subset in use.
    pub fn split(&self) -> &LabelledSplit {
        &self.split
    }
}

/// The labelled loader and (with `mu > 0`) the unlabelled one of `split`. A stream
/// smaller than its batch keeps its one incomplete batch.
fn build_loaders(recipe: &LoaderRecipe, split: &LabelledSplit, mu: usize) -> Result<(Loader, Option<Loader>)> {
    let (lab, unlab) = split.datasets(&recipe.train)?;
    let config = |c: &LoaderConfig, len: usize| LoaderConfig { drop_last: len >= c.batch_size, ..c.clone() };
    let labelled = Loader::new(lab.clone(), recipe.preprocess.clone(), config(&recipe.labelled, lab.len()))
        .context("the labelled stream")?;
    let unlabelled = match mu {
        0 => None,
        _ => Some(
            Loader::new(unlab.clone(), recipe.preprocess.clone(), config(&recipe.unlabelled, unlab.len()))
                .context("the unlabelled stream")?,
        ),
    };
    Ok((labelled, unlabelled))
}

impl<B: AutodiffBackend> Task<B> for Uda<B> {
    type Model = Network<B>;
    type Batch = SemiBatch;

    fn init_model(&self, device: &B::Device) -> Result<Network<B>> {
        self.model.init(self.channels, self.classes, device)
    }

    fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    fn batches(&self, epoch: usize, start: usize) -> Batches<SemiBatch> {
        let (from, to) = (epoch * self.steps_per_epoch + start, (epoch + 1) * self.steps_per_epoch);
        let labelled = RunningStream::new(self.labelled.clone(), from, to);
        match &self.unlabelled {
            None => Box::new(labelled.map(|l| Ok(SemiBatch { labelled: l?.1, unlabelled: None }))),
            Some(u) => Box::new(
                labelled
                    .zip(RunningStream::new(u.clone(), from, to))
                    .map(|(l, u)| Ok(SemiBatch { labelled: l?.1, unlabelled: Some(u?) })),
            ),
        }
    }

    fn step(&mut self, model: &Network<B>, batch: SemiBatch, at: StepInfo) -> Result<StepOutput<B>> {
        let SemiBatch { mut labelled, unlabelled } = batch;
        let nl = labelled.len();
        let images = std::mem::take(&mut labelled.images);
        let (xl, yl) = to_device::<B>(&labelled, images, &self.device);
        let mut parts = vec![xl];
        let mut nu = 0;
        if let Some((u_epoch, mut host)) = unlabelled {
            nu = host.len();
            let images = std::mem::take(&mut host.images);
            let (weak, _) = to_device::<B>(&host, images, &self.device);
            let u_seed = self.recipe.unlabelled.seed;
            let strong = self.strong.apply(&host, weak.clone(), model, u_seed, u_epoch, self.classes)?;
            parts.extend([weak, strong]);
        }
        let early = model.has_early_head();
        let mut ctx = Ctx::train_at(self.seed, at.step, at.total_steps).with_early_head(early);
        let (logits, early_logits) = model.forward_with(Tensor::cat(parts, 0), &mut ctx);
        let labelled_logits = logits.clone().narrow(0, 0, nl);
        let eta = loss::tsa_threshold(self.semi.tsa, at.step, at.total_steps, self.classes);
        let (sup, tsa_kept) = loss::supervised_loss(labelled_logits.clone(), yl.clone(), eta);
        let mut total = sup.clone();
        let mut metrics = vec![("sup_loss".to_string(), sup.detach().inner())];
        if nu > 0 {
            let weak = logits.clone().narrow(0, nl, nu);
            let strong = logits.narrow(0, nl + nu, nu);
            let (cons, mask_rate) = loss::consistency_loss(weak, strong, self.semi.temperature, self.semi.threshold);
            total = total + cons.clone().mul_scalar(self.semi.lambda);
            metrics.push(("consistency_loss".to_string(), cons.detach().inner()));
            metrics.push(("mask_rate".to_string(), mask_rate.inner()));
        }
        if eta.is_some() {
            metrics.push(("tsa_kept".to_string(), tsa_kept.inner()));
        }
        if let Some(e) = early_logits {
            // The early head (early-loss saliency) learns from the labelled images.
            let (head, _) = loss::supervised_loss(e.narrow(0, 0, nl), yl.clone(), None);
            total = total + head.mul_scalar(self.early_loss_weight);
        }
        let correct = labelled_logits.detach().argmax(1).reshape([nl]).equal(yl).int().sum();
        Ok(StepOutput { loss: total, images: nl + 2 * nu, correct: correct.inner(), scored: nl, metrics })
    }

    fn evaluate(&mut self, model: &Network<B::InnerBackend>, _epoch: usize) -> Result<Evaluation> {
        let test = evaluate(model, &self.test_loader, &self.device)?;
        Ok(Evaluation {
            loss: test.loss(),
            top1: test.top1(),
            top5: test.top5(),
            samples: test.count,
            metrics: Default::default(),
        })
    }

    fn state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({ "labelled_subset": self.split }))
    }

    /// The subset recorded in the checkpoint is the one the run continues with, even
    /// if drawing it again from the seed would now give another.
    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        let recorded = state.get("labelled_subset").context("the checkpoint records no labelled subset")?;
        let split: LabelledSplit = serde_json::from_value(recorded.clone()).context("labelled_subset")?;
        if split.per_class * self.classes != self.semi.labels {
            bail!(
                "the checkpoint's labelled subset has {} images per class; semi_supervised.labels is {}",
                split.per_class,
                self.semi.labels
            );
        }
        if split != self.split {
            let (labelled, unlabelled) = build_loaders(&self.recipe, &split, self.semi.mu)?;
            (self.labelled, self.unlabelled, self.split) = (labelled, unlabelled, split);
        }
        Ok(())
    }

    fn write_files(&self, dir: &Path) -> Result<()> {
        crate::io::write_json_atomic(&dir.join(LABELLED_FILE), &self.split)
    }

    fn bad_images_skipped(&self) -> usize {
        self.bad_images_skipped
    }
}
