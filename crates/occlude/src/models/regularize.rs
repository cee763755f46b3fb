//! The Dropout-family regularisers seed 000 compares occlusion against (§4.5,
//! Table 6): Dropout (Srivastava et al.), SpatialDropout (Tompson et al.) and
//! DropBlock (Ghiasi et al. 2018), configured by `model.regularizer`:
//!
//! * `dropout:p_keep=P` — every activation kept with probability `P`;
//! * `spatial-dropout:p_keep=P` — every channel of every image kept with probability `P`;
//! * `dropblock:p_keep=P,block=7` — contiguous `block × block` squares dropped so that
//!   about `1 − P` of the activations are (Ghiasi et al. Algorithm 1);
//!
//! each optionally with `,schedule=linear`: the keep probability falls linearly from
//! 1 at the first step to `P` at the last (Ghiasi et al. §3 "Scheduled DropBlock").
//! Seed 000 trains DropBlock *without* the schedule (§4.5), so it is off by default.
//!
//! Kept activations are scaled so that the expected activation is unchanged (by
//! `1/P`, and for DropBlock by the fraction actually kept, as Algorithm 1 step 7).
//! All are the identity in evaluation mode. Where they go in ResNet-50 is decided in
//! [`super::resnet`].
//!
//! Masks are drawn on the device from the backend's generator seeded with
//! `(seed, step, site)` ([`Ctx::seed_backend`]).

use super::layers::Ctx;
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::PadMode;
use burn::tensor::Distribution;
use std::fmt;

/// Which units a regulariser drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegularizerKind {
    Dropout,
    SpatialDropout,
    /// Squares of side `block` (clipped to the map).
    DropBlock {
        block: usize,
    },
}

/// A parsed `model.regularizer`.
#[derive(Clone, Debug, PartialEq)]
pub struct Regularizer {
    pub kind: RegularizerKind,
    /// Target keep probability `p_keep prob` of seed 000 §4.5.
    pub p_keep: f64,
    /// Ghiasi et al.'s linear ramp of the keep probability from 1 to `p_keep`.
    pub linear_schedule: bool,
}

impl Regularizer {
    pub const SYNTAX: &'static str =
        "dropout:p_keep=P | spatial-dropout:p_keep=P | dropblock:p_keep=P[,block=7] (each [,schedule=linear])";

    /// Parses the `model.regularizer` syntax; errors name the field.
    pub fn parse(text: &str) -> Result<Self> {
        let err = || format!("model.regularizer: {text:?} (expected {})", Self::SYNTAX);
        let (name, args) = text.split_once(':').unwrap_or((text, ""));
        let (mut p_keep, mut block, mut linear_schedule) = (None, None, false);
        for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let (k, v) = arg.split_once('=').with_context(|| format!("{}: {arg:?} is not key=value", err()))?;
            match (k.trim(), v.trim()) {
                ("p_keep", v) => p_keep = Some(v.parse::<f64>().with_context(|| format!("{}: p_keep", err()))?),
                ("block", v) => block = Some(v.parse::<usize>().with_context(|| format!("{}: block", err()))?),
                ("schedule", "linear") => linear_schedule = true,
                ("schedule", "none") => linear_schedule = false,
                _ => bail!("{}: unknown argument {arg:?}", err()),
            }
        }
        let kind = match name.trim() {
            "dropout" => RegularizerKind::Dropout,
            "spatial-dropout" => RegularizerKind::SpatialDropout,
            "dropblock" => RegularizerKind::DropBlock { block: block.unwrap_or(7) },
            _ => bail!("{}: unknown regulariser {name:?}", err()),
        };
        if block.is_some() && !matches!(kind, RegularizerKind::DropBlock { .. }) {
            bail!("{}: block= applies to dropblock only", err());
        }
        let p_keep = p_keep.with_context(|| format!("{}: p_keep is required", err()))?;
        if !(p_keep > 0.0 && p_keep <= 1.0) {
            bail!("model.regularizer: p_keep must be in (0, 1], got {p_keep}");
        }
        if kind == (RegularizerKind::DropBlock { block: 0 }) {
            bail!("model.regularizer: block must be at least 1");
        }
        Ok(Self { kind, p_keep, linear_schedule })
    }

    /// The keep probability after `progress ∈ [0, 1]` of training.
    pub fn keep_prob(&self, progress: f64) -> f64 {
        if self.linear_schedule {
            1.0 - progress.clamp(0.0, 1.0) * (1.0 - self.p_keep)
        } else {
            self.p_keep
        }
    }

    /// Applies the regulariser to an activation (identity in evaluation mode).
    pub fn apply<B: Backend>(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        if !ctx.stochastic {
            return x;
        }
        let p = self.keep_prob(ctx.progress);
        match self.kind {
            RegularizerKind::Dropout => dropout(x, p, ctx),
            RegularizerKind::SpatialDropout => spatial_dropout(x, p, ctx),
            RegularizerKind::DropBlock { block } => drop_block(x, p, block, ctx),
        }
    }
}

impl fmt::Display for Regularizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RegularizerKind::Dropout => write!(f, "dropout:p_keep={}", self.p_keep)?,
            RegularizerKind::SpatialDropout => write!(f, "spatial-dropout:p_keep={}", self.p_keep)?,
            RegularizerKind::DropBlock { block } => write!(f, "dropblock:p_keep={},block={block}", self.p_keep)?,
        }
        if self.linear_schedule {
            write!(f, ",schedule=linear")?;
        }
        Ok(())
    }
}

/// A 0/1 mask of `shape`, each entry 1 with probability `p`, of `like`'s dtype.
fn bernoulli<B: Backend, const D: usize>(
    shape: [usize; D],
    p: f64,
    like: &Tensor<B, D>,
    ctx: &mut Ctx<B>,
) -> Tensor<B, D> {
    let device = like.device();
    ctx.seed_backend(&device);
    Tensor::<B, D>::random(shape, Distribution::Bernoulli(p), &device).cast(like.dtype())
}

/// Inverted dropout: each unit kept with probability `p_keep` and scaled by
/// `1/p_keep` (Srivastava et al. 2014, with the scaling moved to training time).
/// Identity when `p_keep ≥ 1` or in evaluation mode.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, p_keep: f64, ctx: &mut Ctx<B>) -> Tensor<B, D> {
    if !ctx.stochastic || p_keep >= 1.0 {
        return x;
    }
    let mask = bernoulli(x.dims(), p_keep, &x, ctx);
    x * mask.div_scalar(p_keep)
}

/// SpatialDropout (Tompson et al. 2015): whole feature maps (one channel of one
/// image) kept with probability `p_keep`, scaled by `1/p_keep`.
pub fn spatial_dropout<B: Backend>(x: Tensor<B, 4>, p_keep: f64, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
    if !ctx.stochastic || p_keep >= 1.0 {
        return x;
    }
    let [n, c, _, _] = x.dims();
    let mask = bernoulli([n, c, 1, 1], p_keep, &x, ctx);
    x * mask.div_scalar(p_keep)
}

/// DropBlock's seed rate γ (Ghiasi et al. Eq. 1) for a `h × w` map and a
/// `bh × bw` block (the block already clipped to the map): seeds fall only where a
/// whole block fits, `(h − bh + 1)(w − bw + 1)` positions, and each drops `bh·bw`
/// units, so that `1 − p_keep` of the units would be dropped if blocks never
/// overlapped. Capped at 1.
pub fn drop_block_gamma(p_keep: f64, bh: usize, bw: usize, h: usize, w: usize) -> f64 {
    let valid = ((h - bh + 1) * (w - bw + 1)) as f64;
    ((1.0 - p_keep) / (bh * bw) as f64 * (h * w) as f64 / valid).min(1.0)
}

/// DropBlock (Ghiasi et al. 2018, Algorithm 1), per image and channel: seeds drawn
/// with rate γ ([`drop_block_gamma`]) at the positions where a whole block fits,
/// each seed zeroing the `block × block` square it anchors; the result is scaled by
/// `count(M) / count_ones(M)` over the batch. `block` is clipped to the map (the
/// reference code's `min(dropblock_size, width)`), so on a map no larger than the
/// block a seed drops the whole channel.
pub fn drop_block<B: Backend>(x: Tensor<B, 4>, p_keep: f64, block: usize, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
    if !ctx.stochastic || p_keep >= 1.0 {
        return x;
    }
    let [n, c, h, w] = x.dims();
    let (bh, bw) = (block.min(h), block.min(w));
    let gamma = drop_block_gamma(p_keep, bh, bw, h, w);
    let seeds = bernoulli([n, c, h - bh + 1, w - bw + 1], gamma, &x, ctx);
    // Unit (i, j) is dropped when a seed anchored at (p, q) with p ≤ i < p + bh and
    // q ≤ j < q + bw is set: a stride-1 max-pool of the seed map zero-padded by
    // (bh − 1, bw − 1) on every side.
    let padded = seeds.pad((bw - 1, bw - 1, bh - 1, bh - 1), PadMode::Constant(0.0));
    let dropped = max_pool2d(padded, [bh, bw], [1, 1], [0, 0], [1, 1], false);
    let keep = dropped.neg().add_scalar(1.0);
    let total = (n * c * h * w) as f64;
    let scale = keep.clone().sum().clamp_min(1.0).recip().mul_scalar(total).reshape([1, 1, 1, 1]);
    x * keep * scale
}

#[cfg(test)]
#[path = "regularize_tests.rs"]
mod tests;
