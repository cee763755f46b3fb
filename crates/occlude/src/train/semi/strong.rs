//! The strong view `x′` of an unlabelled image (seed 003 §4.3): the `augment.method`
//! spec applied to the weak view `x` (the crop + flip the loader made), e.g.
//! RandAugment + Cutout (UDA's CIFAR setting) or KeepRandAugment, whose saliency map
//! is taken with respect to the **largest logit** of the prediction on `x` — there are
//! no labels — with the spec's saliency method (seed 003 uses `low-res` here).

use crate::augment::{AugmentPlan, Augmenter, Paradigm};
use crate::data::HostBatch;
use crate::models::Network;
use crate::saliency::{self, SaliencyMaps, SaliencyMethod, Target};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;

/// Makes the strong views of unlabelled batches.
#[derive(Debug)]
pub struct StrongView {
    augmenter: Augmenter,
}

impl StrongView {
    /// Checks that `plan` can serve as a strong view: one image in, one image out,
    /// no label mixed in (there are no labels), no cached training gradient.
    pub fn new(plan: &AugmentPlan) -> Result<Self> {
        if plan.paradigm != Paradigm::Standard {
            bail!(
                "augment.paradigm: semi-supervised training makes one strong view per unlabelled image; use standard"
            );
        }
        let spec = &plan.spec;
        if spec.region.as_ref().is_some_and(|m| m.mixes_labels()) {
            bail!(
                "augment.method {:?}: label mixing needs labels; the strong view of unlabelled images cannot mix them",
                plan.method
            );
        }
        if spec.saliency() == Some(&SaliencyMethod::Reuse) {
            bail!("augment.method {:?}: saliency=reuse is not available in semi-supervised training; use low-res or vanilla", plan.method);
        }
        Ok(Self { augmenter: Augmenter::new(spec, plan.p_keep_image) })
    }

    /// The saliency maps the strong view needs for the weak views `images`
    /// (`host.images` on the device): with respect to each image's largest logit
    /// ([`Target::MaxLogit`]), for the images that need one; `None` when none does.
    pub fn saliency<B: AutodiffBackend>(
        &self,
        host: &HostBatch,
        images: Tensor<B, 4>,
        model: &Network<B>,
        seed: u64,
        epoch: usize,
    ) -> Result<Option<SaliencyMaps>> {
        let Some(method) = self.augmenter.saliency_method() else { return Ok(None) };
        let needed = self.augmenter.saliency_images(host, seed, epoch);
        if needed.is_empty() {
            return Ok(None);
        }
        let images = if needed.len() == host.len() {
            images
        } else {
            let idx: Vec<i64> = needed.iter().map(|&i| i as i64).collect();
            let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [needed.len()]), &images.device());
            images.select(0, idx)
        };
        let maps = saliency::compute_host_with(model, images, Target::MaxLogit, method, self.augmenter.saliency_bn())
            .with_context(|| format!("augment.method {} (strong view)", self.augmenter.spec))?;
        Ok(Some(maps))
    }

    /// The strong views of the weak views `images` (`host.images` on the device),
    /// drawn from `(seed, epoch, index)` like every augmentation.
    pub fn apply<B: AutodiffBackend>(
        &mut self,
        host: &HostBatch,
        images: Tensor<B, 4>,
        model: &Network<B>,
        seed: u64,
        epoch: usize,
        classes: usize,
    ) -> Result<Tensor<B, 4>> {
        if self.augmenter.spec.is_none() {
            return Ok(images);
        }
        let maps = self.saliency(host, images.clone(), model, seed, epoch)?;
        let out = self.augmenter.augment(host, images, seed, epoch, classes, maps.as_ref())?;
        Ok(out.images)
    }
}
