//! [`Augmenter`]: an [`AugmentSpec`] applied to loaded batches — the keep decision,
//! the image-level view, the region-level method and selective-paste, in that order.

use super::apply;
use super::params::RegionParams;
use super::sample::{keep_image, sampler_for, BatchContext, Sampler};
use super::spec::AugmentSpec;
use crate::data::HostBatch;
use crate::models::Network;
use crate::saliency::{self, BnStats, SaliencyMaps, SaliencyMethod, Target};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;

/// One augmented batch, before the paradigm arranges it.
pub struct Augmented<B: Backend> {
    /// `N × C × H × W`, every image augmented (or kept).
    pub images: Tensor<B, 4>,
    /// The region-level method's parameters of every image (`Keep` for kept images and
    /// when the spec has no region-level method).
    pub params: Vec<RegionParams>,
    /// Selective-Paste's parameters of every image (`Keep` for kept images, which stay
    /// entirely clean), when the spec ends with it.
    pub pastes: Option<Vec<RegionParams>>,
    /// Whether each image was left untouched (`p_keep_image`).
    pub kept: Vec<bool>,
    /// Soft targets `N × classes` when labels were mixed.
    pub soft_targets: Option<Vec<f32>>,
}

/// The region-level parameters of one batch, stage by stage.
#[derive(Clone, Debug, PartialEq)]
pub struct StageParams {
    /// The region-level method's (`Keep` for every image without one).
    pub region: Vec<RegionParams>,
    /// Selective-Paste's, when the spec ends with it.
    pub paste: Option<Vec<RegionParams>>,
}

/// Applies an [`AugmentSpec`] to loaded batches: for every image, keep it with
/// probability `p_keep_image`; otherwise take its image-level view (if any), apply the
/// region-level method's parameters to it (if any), and paste a region of the clean
/// image back over the result (selective-paste, if any).
#[derive(Debug)]
pub struct Augmenter {
    pub spec: AugmentSpec,
    pub p_keep_image: f64,
    region: Option<Box<dyn Sampler>>,
    paste: Option<Box<dyn Sampler>>,
    checked_size: Option<(usize, usize)>,
}

impl Augmenter {
    pub fn new(spec: &AugmentSpec, p_keep_image: f64) -> Self {
        Self {
            spec: spec.clone(),
            p_keep_image,
            region: spec.region.as_ref().and_then(sampler_for),
            paste: spec.paste.as_ref().and_then(sampler_for),
            checked_size: None,
        }
    }

    /// The saliency map the saliency-guided steps sample from, if any: the caller
    /// computes it on the clean batch, for the images
    /// [`saliency_images`](Self::saliency_images) lists, and passes it to
    /// [`augment`](Self::augment).
    pub fn saliency_method(&self) -> Option<&SaliencyMethod> {
        self.spec.saliency()
    }

    /// The batch-norm statistics of that saliency pass.
    pub fn saliency_bn(&self) -> BnStats {
        self.spec.saliency_bn()
    }

    /// Whether each image of the batch is left untouched (`p_keep_image`).
    pub fn kept(&self, ctx: &BatchContext) -> Vec<bool> {
        (0..ctx.len()).map(|i| keep_image(&ctx.site(i), self.p_keep_image)).collect()
    }

    fn samplers(&self) -> impl Iterator<Item = &dyn Sampler> {
        self.region.iter().chain(&self.paste).map(|s| s.as_ref())
    }

    /// The batch positions (ascending) whose draws read a saliency map: not the kept
    /// images, nor those whose draw does not depend on the map (e.g. Random Erasing's
    /// coin said "leave it"). Only these need a saliency pass.
    pub fn saliency_images(&self, host: &HostBatch, seed: u64, epoch: usize) -> Vec<usize> {
        let ctx = BatchContext::from_host(host, seed, epoch);
        self.saliency_images_of(&ctx, &self.kept(&ctx))
    }

    /// [`saliency_images`](Self::saliency_images) given the batch context and the keep
    /// decisions.
    pub fn saliency_images_of(&self, ctx: &BatchContext, kept: &[bool]) -> Vec<usize> {
        (0..ctx.len()).filter(|&i| !kept[i] && self.samplers().any(|s| s.needs_map(ctx, i))).collect()
    }

    /// Draws the parameters of every stage for a batch. `maps` holds one map per image
    /// of `map_images` (as [`saliency_images`](Self::saliency_images) lists them), in
    /// that order.
    pub fn sample_params(
        &self,
        ctx: &BatchContext,
        kept: &[bool],
        map_images: &[usize],
        maps: Option<&SaliencyMaps>,
    ) -> Result<StageParams> {
        let (n, h, w) = (ctx.len(), ctx.height, ctx.width);
        let mut slot = vec![None; n];
        if !map_images.is_empty() {
            let maps = maps.with_context(|| format!("{}: no saliency maps were computed", self.spec))?;
            if (maps.count, maps.height, maps.width) != (map_images.len(), h, w) {
                bail!(
                    "{}: {} saliency maps of {}×{} for the {} images of {h}×{w} that need one",
                    self.spec,
                    maps.count,
                    maps.height,
                    maps.width,
                    map_images.len()
                );
            }
            for (k, &i) in map_images.iter().enumerate() {
                if let Some(p) = maps.map(k).iter().position(|v| !v.is_finite()) {
                    bail!(
                        "{}: the saliency map of image {i} has a non-finite value ({}) at row {}, column {} (did the model diverge?)",
                        self.spec,
                        maps.map(k)[p],
                        p / w,
                        p % w
                    );
                }
                slot[i] = Some(k);
            }
        }
        let map = |i: usize| slot[i].map(|k| maps.expect("checked above").map(k));
        let draw = |sampler: &dyn Sampler| -> Vec<RegionParams> {
            (0..n).map(|i| if kept[i] { RegionParams::Keep } else { sampler.sample(ctx, i, map(i)) }).collect()
        };
        Ok(StageParams {
            region: self.region.as_deref().map_or_else(|| vec![RegionParams::Keep; n], draw),
            paste: self.paste.as_deref().map(draw),
        })
    }

    /// Augments the batch `x` (`host.images` on a device). `saliency` holds one map
    /// per image [`saliency_images`](Self::saliency_images) lists, in that order
    /// ([`batch_saliency`] computes them).
    pub fn augment<B: Backend>(
        &mut self,
        host: &HostBatch,
        x: Tensor<B, 4>,
        seed: u64,
        epoch: usize,
        classes: usize,
        saliency: Option<&SaliencyMaps>,
    ) -> Result<Augmented<B>> {
        let [_, _, h, w] = host.dims;
        if self.checked_size != Some((h, w)) {
            self.spec.check_image_size(h, w).context("augment.method")?;
            self.checked_size = Some((h, w));
        }
        let ctx = BatchContext::from_host(host, seed, epoch);
        let kept = self.kept(&ctx);
        let map_images = self.saliency_images_of(&ctx, &kept);
        let StageParams { region, paste } = self.sample_params(&ctx, &kept, &map_images, saliency)?;
        let view = match (&self.spec.image, &host.augmented) {
            (None, _) => None,
            (Some(_), Some(aug)) => {
                Some(Tensor::<B, 4>::from_data(TensorData::new(aug.clone(), host.dims), &x.device()))
            }
            (Some(_), None) => {
                bail!("the loader produced no augmented view; image-level methods need LoaderConfig::image_ops")
            }
        };
        let clean = x;
        // 1. The image-level view: A(x), or x for kept images. When selective-paste
        //    comes last, kept images become clean there (their paste is `Keep`), so
        //    the view is A(x) for every image.
        let mut images = match view {
            Some(aug) if paste.is_none() => {
                let select: Vec<RegionParams> = kept
                    .iter()
                    .map(|&k| if k { RegionParams::Keep } else { RegionParams::Paste { rects: vec![] } })
                    .collect();
                apply::apply_batch(clean.clone(), Some(aug), &select)?
            }
            Some(aug) => aug,
            None => clean.clone(),
        };
        // 2. The region-level method, on the view.
        if self.region.is_some() {
            images = apply::apply_batch(images, None, &region)?;
        }
        // 3. Selective-paste: pasted regions (and kept images) from the clean batch,
        //    everything else from the result so far (seed 003 Eq. 3).
        if let Some(paste) = &paste {
            images = apply::apply_batch(clean, Some(images), paste)?;
        }
        let soft_targets = apply::soft_targets(&region, &host.labels, classes);
        Ok(Augmented { images, params: region, pastes: paste, kept, soft_targets })
    }
}

/// The saliency maps `augmenter` needs for one batch: computed on the clean images
/// `images` (`host.images` on the device) of the positions
/// [`Augmenter::saliency_images`] lists, with respect to their labels, on a frozen copy
/// of `model` (see [`crate::saliency`]). `None` when no image needs one.
pub fn batch_saliency<B: AutodiffBackend>(
    augmenter: &Augmenter,
    host: &HostBatch,
    images: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    model: &Network<B>,
    seed: u64,
    epoch: usize,
) -> Result<Option<SaliencyMaps>> {
    let Some(method) = augmenter.saliency_method() else { return Ok(None) };
    let needed = augmenter.saliency_images(host, seed, epoch);
    if needed.is_empty() {
        return Ok(None);
    }
    let (images, labels) = if needed.len() == host.len() {
        (images, labels)
    } else {
        let device = images.device();
        let idx: Vec<i64> = needed.iter().map(|&i| i as i64).collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [needed.len()]), &device);
        (images.select(0, idx.clone()), labels.select(0, idx))
    };
    let maps = saliency::compute_host_with(model, images, Target::Label(labels), method, augmenter.saliency_bn())
        .with_context(|| format!("augment.method {}", augmenter.spec))?;
    Ok(Some(maps))
}
