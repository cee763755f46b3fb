//! [`Network`]: the enum over architectures that training, saliency and checkpoints see.

// The variant names are the first component of every tensor path, so they are
// lower case (`resnet.stages.0.1.conv1.weight`); burn's derive repeats them in
// generated types, hence the module-wide allowance.
#![allow(non_camel_case_types)]

use super::alexnet::AlexNet;
use super::common::EarlyExit;
use super::layers::Ctx;
use super::pyramidnet::PyramidNet;
use super::resnet::ResNet;
use super::shake::ShakeShake;
use super::vgg::Vgg;
use super::wrn::WideResNet;
use burn::module::Module;
use burn::prelude::*;

/// A classifier: one type for training, saliency and checkpoints whatever the
/// architecture. The variant names are the first component of every tensor path
/// (`resnet.stages.0.1.conv1.weight`, `wrn.stages.…`), hence lower case.
// Built once per run and moved, never stored in bulk: the size difference between
// variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network<B: Backend> {
    resnet(ResNet<B>),
    alexnet(AlexNet<B>),
    vgg(Vgg<B>),
    wrn(WideResNet<B>),
    shake_shake(ShakeShake<B>),
    pyramidnet(PyramidNet<B>),
}

/// Runs `$e` with `$m` bound to the architecture inside a [`Network`].
macro_rules! each {
    ($net:expr, $m:ident => $e:expr) => {
        match $net {
            Network::resnet($m) => $e,
            Network::alexnet($m) => $e,
            Network::vgg($m) => $e,
            Network::wrn($m) => $e,
            Network::shake_shake($m) => $e,
            Network::pyramidnet($m) => $e,
        }
    };
}

impl<B: Backend> Network<B> {
    /// Logits and, when `ctx.early_head` asks for it, the early head's logits.
    pub fn forward_with(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        each!(self, m => m.forward(x, ctx))
    }

    /// Logits with batch statistics (`train`) or running statistics.
    pub fn forward(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 2> {
        let mut ctx = if train { Ctx::train() } else { Ctx::eval() };
        self.forward_with(x, &mut ctx).0
    }

    /// The early-exit head's logits (stem + first stage + head only), if the model has one.
    pub fn forward_early(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Option<Tensor<B, 2>> {
        each!(self, m => m.forward_early(x, ctx))
    }

    pub fn has_early_head(&self) -> bool {
        each!(self, m => m.has_early_head())
    }

    /// Channels of the images the network takes.
    pub fn input_channels(&self) -> usize {
        each!(self, m => m.input_channels())
    }

    /// Number of classes (width of the logits).
    pub fn num_classes(&self) -> usize {
        each!(self, m => m.num_classes())
    }

    /// Every tap name of this network, in forward order.
    pub fn tap_names(&self) -> Vec<String> {
        each!(self, m => m.tap_names())
    }
}
