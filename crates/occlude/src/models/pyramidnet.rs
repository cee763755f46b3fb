//! PyramidNet (Han et al. 2017) with ShakeDrop (Yamada et al. 2018): seed 003's
//! "PyramidNet+ShakeDrop" (Tables 1, 9), PyramidNet-272 with α = 200 and bottleneck
//! blocks, 26.0 M parameters — the network and settings of AutoAugment.
//!
//! Depth `d = 9n + 2`: a 3×3 stem with 16 channels + BN (no ReLU), then `L = 3n`
//! bottleneck blocks in three stages (strides 1, 2, 2) whose width grows additively:
//! block `l` (1-based) has `w_l = round(16 + l·α/L)` (Python's round-half-even, as the
//! reference code) and outputs `4·w_l` channels. A block is
//! `BN → conv1×1 → BN → ReLU → conv3×3(stride) → BN → ReLU → conv1×1 → BN`, then
//! ShakeDrop ([`shake_drop`]), added to the input, which is average-pooled 2×2/2 when
//! the block downsamples and zero-padded with the new channels at the end. After the
//! last block: BN → ReLU → global average pool → linear. Convolutions have no bias and
//! are Kaiming-normal (fan-out); the classifier's bias starts at zero.
//!
//! Taps: `stem` and `layer{s}.{b}` (block outputs), stages numbered from 1. The
//! early-loss head sits after the first stage.

use super::common::{global_pool, lazy_dims, linear, linear_out, linear_zero_bias, scale_forward_backward, EarlyExit};
use super::layers::{conv, BatchNorm, Conv, Ctx};
use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::module::avg_pool2d;
use rand::Rng as _;

/// ShakeDrop's final keep probability `p_L` (Yamada et al. §4: 0.5).
pub const P_L: f64 = 0.5;

/// ShakeDrop's probability `p_l = 1 − (l/L)(1 − p_L)` for block `l` of `L` (the
/// linear-decay rule of stochastic depth, Yamada et al. Eq. 3).
pub fn shake_drop_prob(l: usize, total: usize) -> f64 {
    1.0 - (l as f64 / total as f64) * (1.0 - P_L)
}

/// ShakeDrop (Yamada et al. 2018, Eq. 4 with PyramidNet): the residual branch output
/// `r` is scaled by `b + α − bα` in the forward pass and by `b + β − bβ` in the
/// backward pass, with, per image and per step, `b ~ Bernoulli(p_l)`, `α ~ U(−1, 1)`,
/// `β ~ U(0, 1)` drawn from `(seed, step, site)`. In evaluation `r` is scaled by
/// `E[b + α − bα] = p_l`. Per-image draws follow the AutoAugment authors'
/// implementation (the setting of seed 003) and Yamada et al.'s best "image-level"
/// choice for α and β.
pub fn shake_drop<B: Backend>(r: Tensor<B, 4>, p_l: f64, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
    if !ctx.stochastic {
        return r.mul_scalar(p_l);
    }
    let n = r.dims()[0];
    let mut rng = ctx.rng();
    let mut fwd = Vec::with_capacity(n);
    let mut bwd = Vec::with_capacity(n);
    for _ in 0..n {
        let b = if rng.random::<f64>() < p_l { 1.0 } else { 0.0 };
        let alpha: f64 = rng.random_range(-1.0..1.0);
        let beta = rng.random::<f64>();
        fwd.push(b + alpha - b * alpha);
        bwd.push(b + beta - b * beta);
    }
    scale_forward_backward(r, &fwd, &bwd)
}

#[derive(Module, Debug)]
pub struct PyramidBlock<B: Backend> {
    bn1: BatchNorm<B>,
    conv1: Conv<B>,
    bn2: BatchNorm<B>,
    conv2: Conv<B>,
    bn3: BatchNorm<B>,
    conv3: Conv<B>,
    bn4: BatchNorm<B>,
    stride: usize,
    /// ShakeDrop's `p_l`.
    p_l: f64,
}

impl<B: Backend> PyramidBlock<B> {
    fn forward(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let t = ctx.train;
        let h = self.conv1.forward(self.bn1.forward(x.clone(), t));
        let h = self.conv2.forward(self.bn2.forward_relu(h, t));
        let h = self.conv3.forward(self.bn3.forward_relu(h, t));
        let r = shake_drop(self.bn4.forward(h, t), self.p_l, ctx);
        let skip = if self.stride > 1 { avg_pool2d(x, [2, 2], [2, 2], [0, 0], true, true) } else { x };
        let [n, c, h, w] = skip.dims();
        let out = r.dims()[1];
        let skip = if out > c {
            let opts = (&skip.device(), skip.dtype());
            Tensor::cat(vec![skip, Tensor::zeros([n, out - c, h, w], opts)], 1)
        } else {
            skip
        };
        r + skip
    }
}

#[derive(Module, Debug)]
pub struct PyramidNet<B: Backend> {
    stem: Conv<B>,
    stem_bn: BatchNorm<B>,
    stages: Vec<Vec<PyramidBlock<B>>>,
    bn: BatchNorm<B>,
    fc: Linear<B>,
    early_head: Option<Linear<B>>,
}

impl<B: Backend> PyramidNet<B> {
    pub fn new(
        depth: usize,
        alpha: usize,
        in_channels: usize,
        num_classes: usize,
        early_head: bool,
        device: &B::Device,
    ) -> Self {
        assert!(depth >= 11 && (depth - 2).is_multiple_of(9), "bottleneck PyramidNet depth must be 9n+2");
        let n = (depth - 2) / 9;
        let total = 3 * n;
        let add = alpha as f64 / total as f64;
        let mut dim = 16.0f64;
        let mut in_ch = 16;
        let mut l = 0;
        let mut stages = Vec::new();
        for s in 0..3 {
            let mut stage = Vec::new();
            for b in 0..n {
                // Accumulated as the reference code does, so rounding matches it.
                dim += add;
                l += 1;
                let w = dim.round_ties_even() as usize;
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                stage.push(PyramidBlock {
                    bn1: BatchNorm::new(in_ch, device),
                    conv1: conv(in_ch, w, 1, 1, device),
                    bn2: BatchNorm::new(w, device),
                    conv2: conv(w, w, 3, stride, device),
                    bn3: BatchNorm::new(w, device),
                    conv3: conv(w, 4 * w, 1, 1, device),
                    bn4: BatchNorm::new(4 * w, device),
                    stride,
                    p_l: shake_drop_prob(l, total),
                });
                in_ch = 4 * w;
            }
            stages.push(stage);
        }
        let first = stages[0].last().map_or(16, |b: &PyramidBlock<B>| lazy_dims(&b.conv3.weight)[0]);
        Self {
            stem: conv(in_channels, 16, 3, 1, device),
            stem_bn: BatchNorm::new(16, device),
            stages,
            bn: BatchNorm::new(in_ch, device),
            fc: linear_zero_bias(in_ch, num_classes, device),
            early_head: early_head.then(|| linear(first, num_classes, device)),
        }
    }

    pub fn input_channels(&self) -> usize {
        lazy_dims(&self.stem.weight)[1]
    }

    pub fn num_classes(&self) -> usize {
        linear_out(&self.fc)
    }

    fn stage(&self, s: usize, mut h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        for (b, block) in self.stages[s].iter().enumerate() {
            h = block.forward(h, ctx);
            h = ctx.tap(|| format!("layer{}.{b}", s + 1), h);
        }
        h
    }

    pub fn tap_names(&self) -> Vec<String> {
        let mut names = vec!["stem".to_string()];
        for (s, stage) in self.stages.iter().enumerate() {
            names.extend((0..stage.len()).map(|b| format!("layer{}.{b}", s + 1)));
        }
        names
    }

    /// ShakeDrop's `p_l` of every block, in order.
    pub fn shake_drop_probs(&self) -> Vec<f64> {
        self.stages.iter().flatten().map(|b| b.p_l).collect()
    }
}

impl<B: Backend> EarlyExit<B> for PyramidNet<B> {
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let h = self.stem_bn.forward(self.stem.forward(x), ctx.train);
        let h = ctx.tap(|| "stem".into(), h);
        self.stage(0, h, ctx)
    }

    fn rest(&self, mut h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2> {
        for s in 1..self.stages.len() {
            h = self.stage(s, h, ctx);
        }
        self.fc.forward(global_pool(self.bn.forward_relu(h, ctx.train)))
    }

    fn early_head(&self) -> Option<&Linear<B>> {
        self.early_head.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{CpuAutodiff as A, CpuBackend};

    #[test]
    fn shake_drop_gate_forward_and_backward_factors() {
        let n = 4000;
        let p_l = 0.75;
        let r = Tensor::<A, 4>::ones([n, 1, 1, 1], &Default::default()).require_grad();
        let y = shake_drop(r.clone(), p_l, &mut Ctx::train_at(2, 7, 10));
        let g: Vec<f32> = r.grad(&y.clone().sum().backward()).unwrap().into_data().to_vec().unwrap();
        let f: Vec<f32> = y.into_data().to_vec().unwrap();
        // b = 1: both factors 1. b = 0: forward α ∈ [−1, 1), backward β ∈ [0, 1).
        let kept: Vec<bool> = f.iter().map(|&v| v == 1.0).collect();
        let k = kept.iter().filter(|&&b| b).count();
        let sigma = (p_l * (1.0 - p_l) / n as f64).sqrt();
        assert!((k as f64 / n as f64 - p_l).abs() < 4.0 * sigma, "P(b = 1) = {}", k as f64 / n as f64);
        let (mut alphas, mut betas) = (vec![], vec![]);
        for i in 0..n {
            if kept[i] {
                assert_eq!(g[i], 1.0);
            } else {
                assert!((-1.0..1.0).contains(&f[i]) && (0.0..1.0).contains(&g[i]));
                alphas.push(f[i] as f64);
                betas.push(g[i] as f64);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let m = alphas.len() as f64;
        assert!(mean(&alphas).abs() < 4.0 * (1.0 / 3.0 / m).sqrt(), "E[α] = {}", mean(&alphas));
        assert!((mean(&betas) - 0.5).abs() < 4.0 * (1.0 / 12.0 / m).sqrt(), "E[β] = {}", mean(&betas));
        // α and β are independent draws, not one value.
        assert!(alphas.iter().zip(&betas).filter(|(a, b)| a != b).count() as f64 > 0.99 * m);
        // Evaluation scales by E[b + α − bα] = p_l.
        let e: Vec<f32> = shake_drop(Tensor::<A, 4>::ones([2, 1, 1, 1], &Default::default()), p_l, &mut Ctx::eval())
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(e, vec![0.75, 0.75]);
    }

    #[test]
    fn probabilities_decay_linearly_to_one_half_and_widths_grow_additively() {
        let m = PyramidNet::<CpuBackend>::new(272, 200, 3, 10, false, &Default::default());
        let p = m.shake_drop_probs();
        assert_eq!(p.len(), 90);
        assert!((p[0] - (1.0 - 0.5 / 90.0)).abs() < 1e-12 && (p[89] - 0.5).abs() < 1e-12);
        // Last block: round(16 + 200) = 216 channels, ×4 out; the classifier sees 864.
        assert_eq!(lazy_dims(&m.stages[2][29].conv3.weight)[0], 864);
        assert_eq!(lazy_dims(&m.stages[0][0].conv1.weight)[0], 18);
    }
}
