//! [`SaliencyModel`]: the one trait a classifier implements so that occlude can
//! compute its saliency maps — every method of [`super::SaliencyMethod`], including
//! grad×act at a named layer (seed 000 §3, Eq. 1) — and so drive the saliency-guided
//! samplers (seed 003 §3) from any training loop.
//!
//! occlude's own [`Network`] implements it (in evaluation mode: batch norm with its
//! running statistics, see [`super`]). A model of your own implements it in a few
//! lines: run the forward pass, and pass the activation of every layer you want to
//! name through the hook.
//!
//! ```ignore
//! use burn::nn::{conv::Conv2d, Linear};
//! use burn::prelude::*;
//! use occlude::saliency::{SaliencyModel, TapHook};
//!
//! #[derive(Module, Debug)]
//! struct Tiny<B: Backend> {
//!     conv: Conv2d<B>,
//!     head: Linear<B>,
//! }
//!
//! impl<B: Backend> SaliencyModel<B> for Tiny<B> {
//!     fn forward_tapped(&self, x: Tensor<B, 4>, hook: &mut dyn TapHook<B>) -> Tensor<B, 2> {
//!         let a = hook.tap("conv", burn::tensor::activation::relu(self.conv.forward(x)));
//!         let [n, c, _, _] = a.dims();
//!         self.head.forward(a.mean_dim(3).mean_dim(2).reshape([n, c]))
//!     }
//!     fn tap_names(&self) -> Vec<String> {
//!         vec!["conv".into()]
//!     }
//! }
//! ```
//!
//! (`ignore`d here: `crates/occlude/examples/own_model.rs` is this model, trained
//! with KeepCutout and Hide-and-Seek, and a test runs it.)
//!
//! Then [`super::compute_model`] gives `vanilla`, `low-res` and `gradxact:conv` maps
//! of a batch (and `early-loss` if [`SaliencyModel::forward_early`] is provided).
//! The maps must belong to one image each: a layer that mixes the images of a batch
//! in evaluation (burn's `BatchNorm` on an autodiff backend normalises with batch
//! statistics) makes each map depend on its batch.

use super::BnStats;
use crate::models::{Ctx, Network, TapHook};
use burn::prelude::*;

/// A classifier whose saliency maps occlude can compute: its logits, with named
/// layers ("taps") passed through a [`TapHook`]. See the [module documentation](self).
pub trait SaliencyModel<B: Backend> {
    /// The logits (`N × classes`) of `x` (`N × C × H × W`), as in evaluation. At every
    /// named layer call `hook.tap(name, activation)` and continue the forward pass with
    /// the tensor it returns (grad×act makes it the leaf it differentiates).
    fn forward_tapped(&self, x: Tensor<B, 4>, hook: &mut dyn TapHook<B>) -> Tensor<B, 2>;

    /// The names [`forward_tapped`](Self::forward_tapped) passes to the hook, in
    /// forward order: the layers `gradxact:<layer>` accepts.
    fn tap_names(&self) -> Vec<String>;

    /// The early-exit head's logits (seed 003 §3.1), for `early-loss`; `None` (the
    /// default) when the model has none.
    fn forward_early(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 2>> {
        let _ = x;
        None
    }

    /// Whether [`forward_early`](Self::forward_early) gives logits (default: no).
    fn has_early_head(&self) -> bool {
        false
    }
}

/// The logits of `model` without a hook.
pub(super) fn forward<B: Backend, M: SaliencyModel<B> + ?Sized>(model: &M, x: Tensor<B, 4>) -> Tensor<B, 2> {
    model.forward_tapped(x, &mut ())
}

/// occlude's networks in evaluation mode (running batch-norm statistics, stochastic
/// layers at their expectation): the pass [`super::compute`] runs by default.
impl<B: Backend> SaliencyModel<B> for Network<B> {
    fn forward_tapped(&self, x: Tensor<B, 4>, hook: &mut dyn TapHook<B>) -> Tensor<B, 2> {
        WithBn { net: self, bn: BnStats::Running }.forward_tapped(x, hook)
    }

    fn tap_names(&self) -> Vec<String> {
        Network::tap_names(self)
    }

    fn forward_early(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 2>> {
        WithBn { net: self, bn: BnStats::Running }.forward_early(x)
    }

    fn has_early_head(&self) -> bool {
        Network::has_early_head(self)
    }
}

/// A [`Network`] whose batch norm uses the statistics `bn` (`saliency_bn`).
pub(super) struct WithBn<'a, B: Backend> {
    pub net: &'a Network<B>,
    pub bn: BnStats,
}

impl<B: Backend> SaliencyModel<B> for WithBn<'_, B> {
    fn forward_tapped(&self, x: Tensor<B, 4>, hook: &mut dyn TapHook<B>) -> Tensor<B, 2> {
        let mut ctx = Ctx::eval_with_batch_stats(self.bn.train()).with_hook(hook);
        self.net.forward_with(x, &mut ctx).0
    }

    fn tap_names(&self) -> Vec<String> {
        self.net.tap_names()
    }

    fn forward_early(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 2>> {
        self.net.forward_early(x, &mut Ctx::eval_with_batch_stats(self.bn.train()))
    }

    fn has_early_head(&self) -> bool {
        self.net.has_early_head()
    }
}
