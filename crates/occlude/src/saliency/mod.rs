//! Saliency maps: which pixels a classifier's decision depends on, one `H×W` map of
//! non-negative values per image, computed for a whole batch in one backward pass.
//!
//! # Methods ([`SaliencyMethod`])
//!
//! * `vanilla` — seed 003 §3 (Simonyan et al.): `g_ij = max_c |∂ℓ_y(x)/∂x_cij|`, the
//!   absolute gradient of the target logit with respect to the input, reduced over
//!   colour channels by their maximum (as TorchRay's `gradient_to_saliency`).
//! * `gradxact:<layer>` — seed 000 §3, Eq. 1 (NormGrad): at the named layer `l` with
//!   activation `a` and gradient `g = ∂ℓ_y/∂a` (both `K_l×H_l×W_l`),
//!   `s_ij = ‖g_ij‖₂ · ‖a_ij‖₂` with the norms over the `K_l` channels (the Frobenius
//!   norm of the outer product `g_ij a_ijᵀ`), then upsampled bilinearly to the image
//!   size. Layers are the model's named taps ([`Network::tap_names`]): `stem`,
//!   `maxpool` (ImageNet stems), `layer{s}.{b}.conv1` (convolution output before batch
//!   norm, the layers of seed 000 §4.4), `layer{s}.{b}.conv2`, `layer{s}.{b}.conv3`
//!   (bottlenecks) and `layer{s}.{b}` (block output).
//! * `low-res` — seed 003 §3.1 and §4: the vanilla saliency of a copy of the batch with
//!   width and height halved (rounded down, at least 1) by bicubic interpolation,
//!   upsampled back to full size bilinearly. Roughly a quarter of the pixels, so
//!   roughly a quarter of the work of a full-resolution pass.
//! * `early-loss` — seed 003 §3.1 and §4: the vanilla saliency of the *early head's*
//!   logit (global average pool + linear layer after the first stage, trained with
//!   `train.early_loss_weight` = 0.3 times its cross-entropy). The pass runs only the
//!   stem, the first stage and the head ([`Network::forward_early`]), so neither the
//!   forward nor the backward pass touches the later stages. Needs a model trained
//!   with `model.early_head = true`.
//! * `reuse` — no pass at all: the training step's own input gradient, cached from the
//!   image's previous visit ([`crate::augment::keep::reuse`]). Only training has it;
//!   [`compute`] refuses it.
//!
//! # Target ([`Target`])
//!
//! The logit differentiated is the label's ([`Target::Label`], as in both seeds) or,
//! without labels (semi-supervised use, seed 003 §4.3), the largest logit of the same
//! forward pass ([`Target::MaxLogit`]). For `early-loss` that is the early head's
//! largest logit and for `low-res` the largest logit of the low-resolution copy: the
//! approximation never pays for a full-resolution, full-depth forward pass.
//!
//! # Batch norm runs in evaluation mode by default — why
//!
//! The saliency pass uses the running statistics (`Ctx { train: false, .. }`,
//! [`BnStats::Running`]), as the unofficial KeepAugment port does (`model.eval()`
//! before its saliency pass):
//!
//! 1. *A map must belong to one image.* With batch statistics, every image's logit
//!    depends on every other image of the batch through the batch mean and variance,
//!    so `∂(Σ_n ℓ_{y_n}(x_n))/∂x_m` would mix in other images' logits, and the map of an
//!    image would change with the batch it happens to be drawn in (and with the
//!    augmentation of its neighbours). With running statistics the network is a
//!    function of each image alone, so the batched backward pass is exactly N
//!    independent per-image gradients, and `occlude saliency` on one image gives the
//!    same map as the trainer's batched pass.
//! 2. *It must change nothing.* Training-mode batch norm updates the running
//!    statistics; an extra forward pass per step would move them twice as fast and on
//!    images the optimiser never steps on. Evaluation mode reads them and writes
//!    nothing.
//! 3. It is the network the saliency describes at test time, the one whose decisions
//!    the augmentation is meant to preserve.
//!
//! The cost: early in training the running statistics lag the weights (momentum 0.1),
//! so the maps of the first few hundred steps are those of a slightly stale
//! normalisation. The samplers only rank regions of one image against each other
//! (quantiles of region sums), which a per-image scale error does not change.
//!
//! [`BnStats::Batch`] (`saliency_bn=batch` in an augmentation spec) normalises with the
//! statistics of the batch the pass sees instead — the network exactly as the training
//! step's forward pass computes it, which seed 003 does not specify. The pass then
//! runs the frozen copy in training mode: its own running statistics (fresh cells,
//! see below) are updated and thrown away, the training model's are untouched, and
//! the maps are the gradients of `Σ_n ℓ_{y_n}` through the shared batch statistics
//! (point 1 above no longer holds). The trainer computes maps only for the images
//! that need one (not those left untouched by `p_keep_image`), so "the batch" is
//! those images.
//!
//! # Cost and isolation from training
//!
//! [`compute`] runs on a *frozen copy* of the model ([`frozen`]): the same weights,
//! rebuilt from the inner backend with every parameter marked as not requiring a
//! gradient, and with batch-norm running statistics in fresh cells. Consequently
//!
//! * no parameter gradient is ever computed: convolutions back-propagate only to
//!   their input, and the autodiff graph holds only what depends on the leaf;
//! * for `gradxact` the activation at the layer is detached and made the leaf, so
//!   nothing below the layer is recorded or back-propagated (the forward pass below
//!   it runs untracked);
//! * the input batch is re-wrapped from the inner backend, so the pass never links to
//!   the training graph, and the maps are returned on the inner backend (no autodiff);
//! * the training model's parameters, ids and running statistics are left
//!   bit-identical (the tests check it).
//!
//! # Interpolation conventions
//!
//! Both resamplings use `align_corners = false` (half-pixel centres), PyTorch's
//! default for `F.interpolate`: source coordinate `(o + ½)·in/out − ½`, clamped at the
//! border. Bicubic uses `a = −0.75` (PyTorch's kernel) without antialiasing. Bilinear
//! upsampling of a non-negative map is a convex combination, so maps stay
//! non-negative.
//!
//! # Papers
//!
//! [seed 000] §3, Eq. 1 (grad×act, NormGrad) and §4.4; [seed 003] §3 (vanilla gradient)
//! and §3.1 (low-resolution, early loss). Any model implementing [`SaliencyModel`]
//! gets these maps ([`compute_model`]).
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

pub mod compare;
pub mod explain;
pub mod gallery;
mod maps;
mod method;
pub mod model;
pub mod npy;
pub mod render;

pub use crate::models::TapHook;
pub use maps::SaliencyMaps;
pub use method::{BnStats, SaliencyMethod};
pub use model::SaliencyModel;

use crate::models::{Ctx, Network};
use anyhow::{bail, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use model::WithBn;

/// Which logit the saliency differentiates.
#[derive(Clone, Debug)]
pub enum Target<B: Backend> {
    /// The logit of each image's label (`N` class indices, each in `0..num_classes`).
    Label(Tensor<B, 1, Int>),
    /// The largest logit of each image (no labels; seed 003 §4.3).
    MaxLogit,
}

impl<B: Backend> From<Option<Tensor<B, 1, Int>>> for Target<B> {
    fn from(labels: Option<Tensor<B, 1, Int>>) -> Self {
        labels.map_or(Self::MaxLogit, Self::Label)
    }
}

/// A copy of `model` for saliency passes: same weights and running statistics, no
/// parameter requires a gradient, and the running statistics live in cells of their
/// own (nothing done to the copy reaches `model`).
///
/// [`compute`] makes one per call; callers running several methods on one step can
/// make it once and use [`compute_frozen`].
pub fn frozen<B: AutodiffBackend>(model: &Network<B>) -> Network<B> {
    Network::from_inner(model.valid().no_grad())
}

/// Saliency maps of a batch (`N×C×H×W`, preprocessed as the network sees it): an
/// `N×H×W` tensor of non-negative values on the inner (non-autodiff) backend.
///
/// Never changes `model` (parameters, running statistics) and never links to the
/// training graph: see the module documentation.
pub fn compute<B: AutodiffBackend>(
    model: &Network<B>,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
) -> Result<Tensor<B::InnerBackend, 3>> {
    compute_with(model, images, target, method, BnStats::Running)
}

/// [`compute`] with the batch-norm statistics `bn`.
pub fn compute_with<B: AutodiffBackend>(
    model: &Network<B>,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
    bn: BnStats,
) -> Result<Tensor<B::InnerBackend, 3>> {
    method.check(model)?;
    compute_frozen_with(&frozen(model), images, target, method, bn)
}

/// [`compute`] on a model already made by [`frozen`].
pub fn compute_frozen<B: AutodiffBackend>(
    frozen: &Network<B>,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
) -> Result<Tensor<B::InnerBackend, 3>> {
    compute_frozen_with(frozen, images, target, method, BnStats::Running)
}

/// [`compute_frozen`] with the batch-norm statistics `bn`.
pub fn compute_frozen_with<B: AutodiffBackend>(
    frozen: &Network<B>,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
    bn: BnStats,
) -> Result<Tensor<B::InnerBackend, 3>> {
    method.check(frozen)?;
    let c = images.dims()[1];
    if c != frozen.input_channels() {
        bail!("saliency: images have {c} channels but the model takes {}", frozen.input_channels());
    }
    compute_model_frozen(&WithBn { net: frozen, bn }, images, target, method)
}

/// Saliency maps of a batch under any [`SaliencyModel`] — a model of your own (see
/// [`model`]) or a [`Network`] — on a frozen copy of it (`M::from_inner(valid())`: no
/// parameter requires a gradient, nothing reaches `model`): an `N×H×W` tensor of
/// non-negative values on the inner backend, as [`compute`].
pub fn compute_model<B: AutodiffBackend, M: SaliencyModel<B> + AutodiffModule<B>>(
    model: &M,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
) -> Result<Tensor<B::InnerBackend, 3>> {
    method.check(model)?;
    compute_model_frozen(&M::from_inner(model.valid().no_grad()), images, target, method)
}

/// [`compute_model`], read back to the host (the form the samplers take).
pub fn compute_model_host<B: AutodiffBackend, M: SaliencyModel<B> + AutodiffModule<B>>(
    model: &M,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
) -> Result<SaliencyMaps> {
    SaliencyMaps::from_tensor(compute_model(model, images, target, method)?)
}

/// [`compute_model`] on a model that is already a frozen copy (or whose parameters
/// may receive gradients: none is computed, but the autodiff graph is then larger).
pub fn compute_model_frozen<B: AutodiffBackend, M: SaliencyModel<B> + ?Sized>(
    frozen: &M,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
) -> Result<Tensor<B::InnerBackend, 3>> {
    method.check(frozen)?;
    let [n, _, h, w] = images.dims();
    if let Target::Label(y) = &target {
        if y.dims()[0] != n {
            bail!("saliency: {} labels for {n} images", y.dims()[0]);
        }
    }
    // Re-wrapped from the inner backend: untracked, whatever `images` was linked to.
    let x = images.inner();
    match method {
        SaliencyMethod::Vanilla => Ok(channel_max_abs(input_gradient(frozen, x, &target, false)?)),
        SaliencyMethod::EarlyLoss => Ok(channel_max_abs(input_gradient(frozen, x, &target, true)?)),
        SaliencyMethod::LowRes => {
            let map = channel_max_abs(input_gradient(frozen, downsample(x, h, w), &target, false)?);
            Ok(upsample(map, h, w))
        }
        SaliencyMethod::GradXAct { layer } => grad_x_act(frozen, x, &target, layer),
        SaliencyMethod::Reuse => bail!("{REUSE_HAS_NO_PASS}"),
    }
}

/// Why `reuse` cannot be computed on its own.
const REUSE_HAS_NO_PASS: &str = "saliency reuse has no saliency pass of its own: it reuses the input gradient of the \
     training step (augment.method keep-…:saliency=reuse in training); use vanilla, low-res, early-loss or gradxact here";

/// The size of the low-resolution copy: half of each side, rounded down, at least 1
/// (`F.interpolate(scale_factor=0.5)`).
pub fn low_res_size(height: usize, width: usize) -> (usize, usize) {
    ((height / 2).max(1), (width / 2).max(1))
}

/// Bilinear resampling (`align_corners = false`) of `N×h×w` maps to `N×height×width`.
pub fn upsample<B: Backend>(maps: Tensor<B, 3>, height: usize, width: usize) -> Tensor<B, 3> {
    let [n, h, w] = maps.dims();
    if (h, w) == (height, width) {
        return maps;
    }
    let x = maps.reshape([n, 1, h, w]);
    interpolate(x, [height, width], InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false))
        .reshape([n, height, width])
}

/// The logits a method differentiates, in evaluation mode: the full network's for
/// `vanilla` and `gradxact`, the early head's for `early-loss`, those of the half-size
/// copy for `low-res`. Their argmax is the class [`Target::MaxLogit`] explains.
pub fn method_logits<B: Backend>(
    model: &Network<B>,
    images: Tensor<B, 4>,
    method: &SaliencyMethod,
) -> Result<Tensor<B, 2>> {
    method.check(model)?;
    let mut ctx = Ctx::eval();
    Ok(match method {
        SaliencyMethod::Vanilla | SaliencyMethod::GradXAct { .. } => model.forward_with(images, &mut ctx).0,
        SaliencyMethod::EarlyLoss => model.forward_early(images, &mut ctx).context("the model has no early head")?,
        SaliencyMethod::LowRes => {
            let [_, _, h, w] = images.dims();
            model.forward_with(downsample(images, h, w), &mut ctx).0
        }
        SaliencyMethod::Reuse => bail!("{REUSE_HAS_NO_PASS}"),
    })
}

/// The half-size bicubic copy of `low-res`.
fn downsample<B: Backend>(images: Tensor<B, 4>, height: usize, width: usize) -> Tensor<B, 4> {
    let (h2, w2) = low_res_size(height, width);
    interpolate(images, [h2, w2], InterpolateOptions::new(InterpolateMode::Bicubic).with_align_corners(false))
}

/// `Σ_n logit_n[target_n]`: one backward pass gives every image's gradient, since the
/// images do not interact in evaluation mode.
fn objective<B: AutodiffBackend>(logits: Tensor<B, 2>, target: &Target<B>) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let index = match target {
        Target::Label(y) => y.clone().reshape([n, 1]),
        Target::MaxLogit => logits.clone().detach().argmax(1),
    };
    logits.gather(1, index).sum()
}

/// ∂ objective / ∂ x for the main logits or the early head's.
fn input_gradient<B: AutodiffBackend, M: SaliencyModel<B> + ?Sized>(
    frozen: &M,
    x: Tensor<B::InnerBackend, 4>,
    target: &Target<B>,
    early: bool,
) -> Result<Tensor<B::InnerBackend, 4>> {
    let x = Tensor::<B, 4>::from_inner(x).require_grad();
    let logits = if early {
        frozen.forward_early(x.clone()).context("saliency early-loss: the model has no early head")?
    } else {
        model::forward(frozen, x.clone())
    };
    let grads = objective(logits, target).backward();
    x.grad(&grads).context("saliency: no gradient reached the input")
}

/// `max_c |g|`: `N×C×H×W` → `N×H×W` (seed 003 §3's reduction over colour channels).
pub fn channel_max_abs<B: Backend>(g: Tensor<B, 4>) -> Tensor<B, 3> {
    let [n, _, h, w] = g.dims();
    g.abs().max_dim(1).reshape([n, h, w])
}

/// Makes the activation at one tap a leaf of the graph and keeps it.
struct Probe<B: AutodiffBackend> {
    layer: String,
    leaf: Option<Tensor<B, 4>>,
}

impl<B: AutodiffBackend> TapHook<B> for Probe<B> {
    fn tap(&mut self, name: &str, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if name != self.layer {
            return x;
        }
        // Below the tap nothing requires a gradient (untracked input, frozen weights);
        // detaching anyway makes the leaf independent of how the copy was made.
        let leaf = x.detach().require_grad();
        self.leaf = Some(leaf.clone());
        leaf
    }
}

fn grad_x_act<B: AutodiffBackend, M: SaliencyModel<B> + ?Sized>(
    frozen: &M,
    x: Tensor<B::InnerBackend, 4>,
    target: &Target<B>,
    layer: &str,
) -> Result<Tensor<B::InnerBackend, 3>> {
    let [_, _, h, w] = x.dims();
    let mut probe = Probe::<B> { layer: layer.to_string(), leaf: None };
    let logits = frozen.forward_tapped(Tensor::from_inner(x), &mut probe);
    let leaf =
        probe.leaf.with_context(|| format!("saliency gradxact: the forward pass never reached layer {layer:?}"))?;
    let grads = objective(logits, target).backward();
    let g = leaf.grad(&grads).with_context(|| format!("saliency gradxact: no gradient reached layer {layer:?}"))?;
    let a = leaf.inner();
    let [n, _, hl, wl] = a.dims();
    let norm = |t: Tensor<B::InnerBackend, 4>| t.square().sum_dim(1).sqrt();
    let s = (norm(g) * norm(a)).reshape([n, hl, wl]);
    Ok(upsample(s, h, w))
}

/// [`compute`], read back to the host.
pub fn compute_host<B: AutodiffBackend>(
    model: &Network<B>,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
) -> Result<SaliencyMaps> {
    SaliencyMaps::from_tensor(compute(model, images, target, method)?)
}

/// [`compute_with`], read back to the host.
pub fn compute_host_with<B: AutodiffBackend>(
    model: &Network<B>,
    images: Tensor<B, 4>,
    target: Target<B>,
    method: &SaliencyMethod,
    bn: BnStats,
) -> Result<SaliencyMaps> {
    SaliencyMaps::from_tensor(compute_with(model, images, target, method, bn)?)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bn_tests;
