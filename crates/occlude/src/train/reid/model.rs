//! The Bag-of-Tricks re-ID network (Luo et al. 2019 §4.2, `modeling/baseline.py`):
//! a ResNet backbone (last stride 1), global average pooling to the feature `f_t`
//! the triplet loss sees, a BNNeck — batch norm whose shift is frozen at 0 — giving
//! the feature `f_i` the evaluation ranks by, and a bias-free linear classifier over
//! the training identities on `f_i` for the ID loss.
//!
//! The backbone is occlude's ResNet with its own `fc` unused (built with two outputs,
//! so it costs nothing): its tensors keep the classifier's names
//! (`backbone.stages.…`), so ImageNet weights load into it.

use crate::models::layers::{BatchNorm, Ctx, TapHook};
use crate::models::params::{load_named, named_tensors};
use crate::models::{ResNet, ResNetSpec};
use crate::saliency::SaliencyModel;
use anyhow::{bail, Context, Result};
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use std::collections::HashMap;
use std::path::Path;

#[derive(Module, Debug)]
pub struct ReidNet<B: Backend> {
    backbone: ResNet<B>,
    /// BNNeck (`bottleneck` in the reference), its `beta` frozen at 0.
    neck: BatchNorm<B>,
    /// ID classifier, no bias, weights `N(0, 0.001²)` (`weights_init_classifier`).
    classifier: Linear<B>,
}

impl<B: Backend> ReidNet<B> {
    /// A freshly initialised network over `identities` training identities.
    pub fn new(spec: &ResNetSpec, in_channels: usize, identities: usize, device: &B::Device) -> Self {
        let backbone = ResNet::new(spec, in_channels, 2, false, None, device);
        let d = backbone.feature_dim();
        let mut neck = BatchNorm::new(d, device);
        neck.beta = Param::from_tensor(Tensor::zeros([d], device)).set_require_grad(false);
        let mut classifier = LinearConfig::new(d, identities).with_bias(false).init(device);
        classifier.weight =
            Initializer::Normal { mean: 0.0, std: 0.001 }.init_with([d, identities], Some(d), Some(identities), device);
        let net = Self { backbone, neck, classifier };
        crate::models::params::materialize::<B, _>(&net);
        net
    }

    /// `(f_t, logits)`: the pooled feature before the BNNeck and the ID logits after it.
    pub fn forward(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let f_t = self.backbone.features(x, ctx);
        let f_i = self.neck_forward(f_t.clone(), ctx.train);
        (f_t, self.classifier.forward(f_i))
    }

    fn neck_forward(&self, f_t: Tensor<B, 2>, train: bool) -> Tensor<B, 2> {
        let [n, d] = f_t.dims();
        self.neck.forward(f_t.reshape([n, d, 1, 1]), train).reshape([n, d])
    }

    /// The evaluation embedding: the feature after the BNNeck (running statistics),
    /// L2-normalised (Bag-of-Tricks `TEST.NECK_FEAT = after`, `FEAT_NORM = yes`).
    pub fn embed(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let f_i = self.neck_forward(self.backbone.features(x, &mut Ctx::eval()), false);
        let norm = f_i.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        f_i / norm
    }

    /// Initialises the backbone from an ImageNet ResNet checkpoint (`resnet.…`
    /// tensors of an occlude checkpoint; its `fc` is left out). Every backbone tensor
    /// must be there with this network's shape.
    pub fn load_backbone(self, source: &Path) -> Result<Self> {
        let ck = crate::train::checkpoint::load(source)
            .with_context(|| format!("reid.backbone_from {}", source.display()))?;
        let mut values: HashMap<String, _> = named_tensors::<B, _>(&self).into_iter().collect();
        let mut missing = Vec::new();
        for name in values.keys().filter(|k| k.starts_with("backbone.") && !k.starts_with("backbone.fc.")) {
            if !ck.model.contains_key(&format!("resnet.{}", &name["backbone.".len()..])) {
                missing.push(name.clone());
            }
        }
        if !missing.is_empty() {
            missing.sort();
            bail!(
                "reid.backbone_from {}: not a checkpoint of this ResNet; {} backbone tensor(s) missing, e.g. resnet.{}",
                source.display(),
                missing.len(),
                &missing[0]["backbone.".len()..]
            );
        }
        for (name, data) in ck.model {
            match name.strip_prefix("resnet.") {
                Some(rest) if !rest.starts_with("fc.") => {
                    values.insert(format!("backbone.{rest}"), data);
                }
                _ => {}
            }
        }
        load_named(self, values).with_context(|| format!("reid.backbone_from {}", source.display()))
    }

    pub fn tap_names(&self) -> Vec<String> {
        self.backbone.tap_names()
    }

    /// The BNNeck's scale and shift.
    #[cfg(test)]
    pub(super) fn neck_params(&self) -> (Tensor<B, 1>, Tensor<B, 1>) {
        (self.neck.gamma.val(), self.neck.beta.val())
    }
}

/// The ID logits of a [`ReidNet`] for saliency (seed 003's KeepAugment on re-ID:
/// the saliency of the identity the image belongs to), with running batch-norm
/// statistics or, with `batch_stats`, those of the images in the pass.
pub struct ReidSaliency<'a, B: Backend> {
    pub net: &'a ReidNet<B>,
    pub batch_stats: bool,
}

impl<B: Backend> SaliencyModel<B> for ReidSaliency<'_, B> {
    fn forward_tapped(&self, x: Tensor<B, 4>, hook: &mut dyn TapHook<B>) -> Tensor<B, 2> {
        let mut ctx = Ctx::eval_with_batch_stats(self.batch_stats).with_hook(hook);
        self.net.forward(x, &mut ctx).1
    }

    fn tap_names(&self) -> Vec<String> {
        self.net.tap_names()
    }
}
