//! Person re-identification (seed 003 §4.4, Table 10): the Bag-of-Tricks baseline
//! (Luo et al. 2019) on Market-1501, trained with Random Erasing or with seed 003's
//! selective version (`keep-random-erasing`: erase only regions whose saliency is
//! below the τ = 0.6 quantile).
//!
//! A run is a re-ID run when its configuration has a `[reid]` section
//! ([`ReidConfig`]); the training loop ([`super::runner`]) is the classification
//! one. The task ([`Reid`]) supplies:
//!
//! * batches of P identities × K images ([`sampler`]), resized to 256×128, padded by
//!   10 and randomly cropped back, flipped, then augmented on the device
//!   (`augment.method`, region-level methods);
//! * the network ([`model`]): ResNet with last stride 1, BNNeck, bias-free classifier;
//! * the loss ([`loss`]): label-smoothed ID loss (`train.label_smoothing`) plus the
//!   batch-hard triplet loss (`reid.margin`), reported as `id_loss` / `triplet_loss`;
//! * evaluation ([`ranking`]): query against gallery by Euclidean distance of the
//!   L2-normalised features after the BNNeck, same-identity same-camera gallery images
//!   excluded; `rank1`, `rank5`, `rank10` and `map` in `metrics.jsonl` and the summary,
//!   rank-1 / rank-5 as the headline `test_top1` / `test_top5`, no evaluation loss.

pub mod config;
pub mod eval;
pub mod loss;
pub mod model;
pub mod ranking;
pub mod sampler;

pub use config::ReidConfig;
pub use eval::evaluate_checkpoint;
pub use model::ReidNet;

use super::evaluate::{to_device, workers};
use super::task::{Batches, Evaluation, StepInfo, StepOutput, Task};
use super::RunConfig;
use crate::augment::{AugmentPlan, Augmenter};
use crate::data::market1501::{Market1501, ReidSplit};
use crate::data::preprocess::{Crop, Normalization, Preprocess};
use crate::data::{Dataset, HostBatch, Loader, LoaderConfig};
use crate::models::{Arch, Ctx};
use crate::saliency::{BnStats, SaliencyMaps, Target};
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use ranking::Identities;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The re-identification task of a run configuration.
pub struct Reid<B: AutodiffBackend> {
    cfg: ReidConfig,
    seed: u64,
    arch: crate::models::ResNetSpec,
    backbone_from: Option<std::path::PathBuf>,
    identities: usize,
    label_smoothing: f64,
    sampler: sampler::IdentitySampler,
    train_loader: Loader,
    query_loader: Loader,
    gallery_loader: Loader,
    query: Identities,
    gallery: Identities,
    augmenter: Augmenter,
    device: B::Device,
    _backend: std::marker::PhantomData<B>,
}

fn identities(split: &ReidSplit) -> Identities {
    Identities { pids: split.pids().to_vec(), cameras: split.cameras().to_vec() }
}

impl<B: AutodiffBackend> Reid<B> {
    pub fn new(run: &RunConfig, device: &B::Device) -> Result<Self> {
        let cfg = run.reid.clone().context("reid: the run has no [reid] section")?;
        cfg.validate(run)?;
        let Arch::ResNet(mut arch) = run.model.spec()? else { bail!("model.arch: the re-ID backbone is a ResNet") };
        arch.last_stride = cfg.last_stride;
        let plan = AugmentPlan::from_config(&run.augment)?;
        if plan.spec.image.is_some() || plan.spec.paste.is_some() {
            bail!("augment.method {:?}: re-ID takes region-level methods (random-erasing, keep-random-erasing, cutout, …)", run.augment.method);
        }
        if plan.spec.saliency() == Some(&crate::saliency::SaliencyMethod::Reuse) {
            bail!(
                "augment.method {:?}: saliency=reuse is not available for re-ID (use low-res or vanilla)",
                run.augment.method
            );
        }
        let root = run
            .data
            .path
            .as_deref()
            .context("data.path: required for data.kind = \"market1501\" (or pass --data DIR)")?;
        let [h, w] = cfg.input_size;
        let data = Market1501::open(root, (h, w))?;
        let (query, gallery) = (identities(&data.query), identities(&data.gallery));
        let identities = data.train.num_classes();
        let sampler = sampler::IdentitySampler::new(data.train.labels(), cfg.p, cfg.k, run.seed)?;
        let norm = Normalization::imagenet();
        let train_pre = Preprocess { crop: Crop::PadCrop { pad: cfg.pad }, flip: true, normalization: norm.clone() };
        let eval_pre = Preprocess { crop: Crop::None, flip: false, normalization: norm };
        let n_workers = workers(run.loader.workers);
        let train_loader = Loader::new(
            Arc::new(data.train),
            train_pre,
            LoaderConfig {
                batch_size: sampler.batch_size(),
                workers: n_workers,
                prefetch: run.loader.prefetch,
                shuffle: false,
                drop_last: true,
                copies: 1,
                passes: 1,
                seed: run.seed,
                image_ops: None,
            },
        )?;
        let eval_bs = if run.loader.eval_batch_size > 0 { run.loader.eval_batch_size } else { sampler.batch_size() };
        let eval =
            |split: ReidSplit| Loader::new(Arc::new(split), eval_pre.clone(), LoaderConfig::eval(eval_bs, n_workers));
        Ok(Self {
            seed: run.seed,
            arch,
            backbone_from: cfg.backbone_from.clone(),
            identities,
            label_smoothing: run.train.label_smoothing,
            sampler,
            train_loader,
            query_loader: eval(data.query)?,
            gallery_loader: eval(data.gallery)?,
            query,
            gallery,
            augmenter: Augmenter::new(&plan.spec, plan.p_keep_image),
            device: device.clone(),
            cfg,
            _backend: std::marker::PhantomData,
        })
    }

    /// The step's batch after the augmentation: Random Erasing as drawn, or with
    /// `keep-…` only where the ID logit's saliency (on a frozen copy) is low.
    fn augment(
        &mut self,
        model: &ReidNet<B>,
        host: &HostBatch,
        x: Tensor<B, 4>,
        y: Tensor<B, 1, Int>,
        epoch: usize,
    ) -> Result<Tensor<B, 4>> {
        if self.augmenter.spec.is_none() {
            return Ok(x);
        }
        let maps = match self.augmenter.saliency_method().cloned() {
            Some(method) => {
                let needed = self.augmenter.saliency_images(host, self.seed, epoch);
                if needed.is_empty() {
                    None
                } else {
                    let idx: Vec<i64> = needed.iter().map(|&i| i as i64).collect();
                    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [needed.len()]), &x.device());
                    let frozen = ReidNet::<B>::from_inner(model.valid().no_grad());
                    let batch_stats = self.augmenter.saliency_bn() == BnStats::Batch;
                    let s = model::ReidSaliency { net: &frozen, batch_stats };
                    let target = Target::Label(y.select(0, idx.clone()));
                    let maps = crate::saliency::compute_model_frozen(&s, x.clone().select(0, idx), target, &method)
                        .with_context(|| format!("augment.method {}", self.augmenter.spec))?;
                    Some(SaliencyMaps::from_tensor(maps)?)
                }
            }
            None => None,
        };
        let a = self.augmenter.augment(host, x, self.seed, epoch, self.identities, maps.as_ref())?;
        if a.soft_targets.is_some() {
            bail!("augment.method {}: label-mixing methods do not apply to re-ID", self.augmenter.spec);
        }
        Ok(a.images)
    }

    /// L2-normalised BNNeck features of every image of `loader`, in order (`N × D`).
    fn features(&self, model: &ReidNet<B::InnerBackend>, loader: &Loader) -> Result<Tensor<B::InnerBackend, 2>> {
        let mut parts = Vec::new();
        for batch in loader.epoch(0, 0) {
            let mut batch = batch?;
            let images = std::mem::take(&mut batch.images);
            let (x, _) = to_device::<B::InnerBackend>(&batch, images, &self.device);
            parts.push(model.embed(x));
        }
        Ok(Tensor::cat(parts, 0))
    }
}

impl<B: AutodiffBackend> Task<B> for Reid<B> {
    type Model = ReidNet<B>;
    type Batch = HostBatch;

    fn init_model(&self, device: &B::Device) -> Result<ReidNet<B>> {
        let net = ReidNet::new(&self.arch, 3, self.identities, device);
        match &self.backbone_from {
            Some(path) => net.load_backbone(path),
            None => Ok(net),
        }
    }

    fn steps_per_epoch(&self) -> usize {
        self.sampler.batches_per_epoch()
    }

    fn batches(&self, epoch: usize, start: usize) -> Batches<HostBatch> {
        Box::new(self.train_loader.epoch_in_order(self.sampler.order(epoch), epoch, start))
    }

    fn step(&mut self, model: &ReidNet<B>, mut batch: HostBatch, at: StepInfo) -> Result<StepOutput<B>> {
        let images = std::mem::take(&mut batch.images);
        let (x, y) = to_device::<B>(&batch, images, &self.device);
        let x = self.augment(model, &batch, x, y.clone(), at.epoch)?;
        let n = batch.len();
        let mut ctx = Ctx::train_at(self.seed, at.step, at.total_steps);
        let (f_t, logits) = model.forward(x, &mut ctx);
        let id = loss::id_loss(logits.clone(), y.clone(), self.label_smoothing);
        let triplet = loss::batch_hard_triplet(f_t, &batch.labels, self.cfg.margin);
        let total = id.clone() + triplet.clone().mul_scalar(self.cfg.triplet_weight);
        let correct = logits.detach().argmax(1).reshape([n]).equal(y).int().sum();
        Ok(StepOutput {
            loss: total,
            images: n,
            correct: correct.inner(),
            scored: n,
            metrics: vec![("id_loss".into(), id.detach().inner()), ("triplet_loss".into(), triplet.detach().inner())],
        })
    }

    fn evaluate(&mut self, model: &ReidNet<B::InnerBackend>, _epoch: usize) -> Result<Evaluation> {
        let q = self.features(model, &self.query_loader)?;
        let g = self.features(model, &self.gallery_loader)?;
        // Squared Euclidean distance of unit vectors, 2 − 2 q·g: the same ranking as
        // the distance itself.
        let dist = q.matmul(g.transpose()).mul_scalar(-2.0).add_scalar(2.0);
        let dist: Vec<f32> = dist.into_data().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let r = ranking::evaluate_ranking(&dist, &self.query, &self.gallery, 10)?;
        let metrics = BTreeMap::from([
            ("rank1".to_string(), r.rank(1)),
            ("rank5".to_string(), r.rank(5)),
            ("rank10".to_string(), r.rank(10)),
            ("map".to_string(), r.map),
        ]);
        let samples = self.query.pids.len() + self.gallery.pids.len();
        Ok(Evaluation { loss: f64::NAN, top1: r.rank(1), top5: r.rank(5), samples, metrics })
    }
}

#[cfg(test)]
mod tests;
