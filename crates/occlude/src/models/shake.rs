//! Shake-Shake regularised ResNets (Gastaldi 2017), seed 003's "Shake-Shake"
//! (Tables 1, 4: Shake-Shake 26 2×96d, 26.2 M parameters).
//!
//! Shake-Shake `d 2×Wd`: a 3×3 stem with 16 channels + BN + ReLU, three stages of
//! `n = (d − 2)/6` blocks of widths `W, 2W, 4W` (strides 1, 2, 2), then ReLU, global
//! average pool and a linear classifier. A block has two residual branches
//! `ReLU → conv3×3(stride) → BN → ReLU → conv3×3 → BN` combined by the shake
//! ([`shake`]) and added to the input, or, when the shape changes, to Gastaldi's
//! shortcut: ReLU, then two 1×1 convolutions with `out/2` channels each, one on the
//! input subsampled at even positions and one on the input shifted by one pixel
//! (subsampled at odd positions), concatenated and batch-normalised. This is the
//! layout of the author's code and of its PyTorch ports; convolutions have no bias,
//! are Kaiming-normal (fan-out), the classifier's bias starts at zero.
//!
//! The shake is "Shake-Shake-Image" (Gastaldi §2.2, the configuration of the CIFAR
//! results): per image, `α ~ U(0, 1)` in the forward pass and an independent
//! `β ~ U(0, 1)` in the backward pass of each training step; `0.5` at evaluation.
//!
//! Taps: `stem` and `layer{s}.{b}` (block outputs), stages numbered from 1. The
//! early-loss head sits after the first stage.

use super::common::{global_pool, lazy_dims, linear, linear_out, linear_zero_bias, scale_forward_backward, EarlyExit};
use super::layers::{conv, BatchNorm, Conv, Ctx};
use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::PadMode;
use rand::Rng as _;

/// Combines two branch outputs as Shake-Shake-Image (Gastaldi 2017, §2.1–2.2):
/// `y = α·b1 + (1 − α)·b2` in the forward pass, while the gradient reaching `b1` is
/// scaled by `β` and the one reaching `b2` by `1 − β`; `α, β ~ U(0, 1)` independently
/// per image, drawn from `(seed, step, site)`. In evaluation `y = (b1 + b2)/2`.
pub fn shake<B: Backend>(b1: Tensor<B, 4>, b2: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
    if !ctx.stochastic {
        return (b1 + b2).mul_scalar(0.5);
    }
    let n = b1.dims()[0];
    let mut rng = ctx.rng();
    let alpha: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let beta: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let one_minus = |v: &[f64]| v.iter().map(|a| 1.0 - a).collect::<Vec<_>>();
    scale_forward_backward(b1, &alpha, &beta) + scale_forward_backward(b2, &one_minus(&alpha), &one_minus(&beta))
}

#[derive(Module, Debug)]
pub struct Branch<B: Backend> {
    conv1: Conv<B>,
    bn1: BatchNorm<B>,
    conv2: Conv<B>,
    bn2: BatchNorm<B>,
}

impl<B: Backend> Branch<B> {
    fn new(in_ch: usize, out_ch: usize, stride: usize, device: &B::Device) -> Self {
        Self {
            conv1: conv(in_ch, out_ch, 3, stride, device),
            bn1: BatchNorm::new(out_ch, device),
            conv2: conv(out_ch, out_ch, 3, 1, device),
            bn2: BatchNorm::new(out_ch, device),
        }
    }

    /// `x` is already ReLU'd (shared by both branches).
    fn forward(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 4> {
        let h = self.bn1.forward_relu(self.conv1.forward(x), train);
        self.bn2.forward(self.conv2.forward(h), train)
    }
}

/// Gastaldi's shortcut for a change of shape (see the module documentation).
#[derive(Module, Debug)]
pub struct Skip<B: Backend> {
    conv1: Conv<B>,
    conv2: Conv<B>,
    bn: BatchNorm<B>,
    stride: usize,
}

impl<B: Backend> Skip<B> {
    /// `x` is already ReLU'd.
    fn forward(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 4> {
        let s = self.stride;
        let sub = |t: Tensor<B, 4>| if s > 1 { max_pool2d(t, [1, 1], [s, s], [0, 0], [1, 1], false) } else { t };
        let [_, _, h, w] = x.dims();
        // x[:, :, 1:, 1:] padded with a zero row and column at the end.
        let shifted =
            x.clone().slice([0..x.dims()[0], 0..x.dims()[1], 1..h, 1..w]).pad((0, 1, 0, 1), PadMode::Constant(0.0));
        let y = Tensor::cat(vec![self.conv1.forward(sub(x)), self.conv2.forward(sub(shifted))], 1);
        self.bn.forward(y, train)
    }
}

#[derive(Module, Debug)]
pub struct ShakeBlock<B: Backend> {
    branch1: Branch<B>,
    branch2: Branch<B>,
    skip: Option<Skip<B>>,
}

impl<B: Backend> ShakeBlock<B> {
    fn new(in_ch: usize, out_ch: usize, stride: usize, device: &B::Device) -> Self {
        let skip = (in_ch != out_ch || stride != 1).then(|| Skip {
            conv1: conv(in_ch, out_ch / 2, 1, 1, device),
            conv2: conv(in_ch, out_ch - out_ch / 2, 1, 1, device),
            bn: BatchNorm::new(out_ch, device),
            stride,
        });
        Self {
            branch1: Branch::new(in_ch, out_ch, stride, device),
            branch2: Branch::new(in_ch, out_ch, stride, device),
            skip,
        }
    }

    fn forward(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let a = relu(x.clone());
        let y = shake(self.branch1.forward(a.clone(), ctx.train), self.branch2.forward(a.clone(), ctx.train), ctx);
        let skip = match &self.skip {
            Some(s) => s.forward(a, ctx.train),
            None => x,
        };
        y + skip
    }
}

#[derive(Module, Debug)]
pub struct ShakeShake<B: Backend> {
    stem: Conv<B>,
    stem_bn: BatchNorm<B>,
    stages: Vec<Vec<ShakeBlock<B>>>,
    fc: Linear<B>,
    early_head: Option<Linear<B>>,
}

impl<B: Backend> ShakeShake<B> {
    /// Shake-Shake `depth 2×{width}d`.
    pub fn new(
        depth: usize,
        width: usize,
        in_channels: usize,
        num_classes: usize,
        early_head: bool,
        device: &B::Device,
    ) -> Self {
        assert!(depth >= 8 && (depth - 2).is_multiple_of(6) && width >= 1, "Shake-Shake depth must be 6n+2");
        let n = (depth - 2) / 6;
        let mut in_ch = 16;
        let stages = [width, 2 * width, 4 * width]
            .iter()
            .enumerate()
            .map(|(s, &w)| {
                (0..n)
                    .map(|b| {
                        let block = ShakeBlock::new(in_ch, w, if s > 0 && b == 0 { 2 } else { 1 }, device);
                        in_ch = w;
                        block
                    })
                    .collect()
            })
            .collect();
        Self {
            stem: conv(in_channels, 16, 3, 1, device),
            stem_bn: BatchNorm::new(16, device),
            stages,
            fc: linear_zero_bias(in_ch, num_classes, device),
            early_head: early_head.then(|| linear(width, num_classes, device)),
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
}

impl<B: Backend> EarlyExit<B> for ShakeShake<B> {
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let h = self.stem_bn.forward_relu(self.stem.forward(x), ctx.train);
        let h = ctx.tap(|| "stem".into(), h);
        self.stage(0, h, ctx)
    }

    fn rest(&self, mut h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2> {
        for s in 1..self.stages.len() {
            h = self.stage(s, h, ctx);
        }
        self.fc.forward(global_pool(relu(h)))
    }

    fn early_head(&self) -> Option<&Linear<B>> {
        self.early_head.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff as A;
    use crate::rng::{rng_for, Stream};

    fn leaf(v: [[f32; 2]; 3]) -> Tensor<A, 4> {
        Tensor::<A, 2>::from_floats(v, &Default::default()).reshape([3, 1, 1, 2]).require_grad()
    }

    fn vec(t: Tensor<A, 4>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn forward_mixes_by_alpha_and_gradients_are_scaled_by_beta() {
        let (b1, b2) = (leaf([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0]]), leaf([[0.0, 4.0], [2.0, 2.0], [-1.0, 1.0]]));
        let w = leaf([[1.0, -1.0], [0.5, 2.0], [1.5, 1.0]]).detach();
        // The draws the layer must make: site 0 of (seed 9, step 4), α for the 3
        // images then β.
        let mut rng = rng_for(9, Stream::Model, 4, 0, 0);
        let alpha: Vec<f64> = (0..3).map(|_| rng.random::<f64>()).collect();
        let beta: Vec<f64> = (0..3).map(|_| rng.random::<f64>()).collect();
        assert!(alpha.iter().zip(&beta).all(|(a, b)| (a - b).abs() > 0.05), "draws too close to tell apart");

        let y = shake(b1.clone(), b2.clone(), &mut Ctx::train_at(9, 4, 10));
        let grads = (y.clone() * w.clone()).sum().backward();
        let grad = |b: &Tensor<A, 4>| -> Vec<f32> { b.grad(&grads).unwrap().into_data().to_vec().unwrap() };
        let (g1, g2) = (grad(&b1), grad(&b2));
        let (v1, v2, vw, vy) = (vec(b1.clone()), vec(b2.clone()), vec(w), vec(y));
        for k in 0..6 {
            let (a, b) = (alpha[k / 2] as f32, beta[k / 2] as f32);
            assert!((vy[k] - (a * v1[k] + (1.0 - a) * v2[k])).abs() < 1e-5, "forward {k}");
            assert!((g1[k] - b * vw[k]).abs() < 1e-5, "∂y/∂b1 must be β, not α ({k})");
            assert!((g2[k] - (1.0 - b) * vw[k]).abs() < 1e-5, "∂y/∂b2 must be 1 − β ({k})");
        }
        // Evaluation: the expectation, 0.5 each, with the plain gradient.
        let y = shake(b1.clone(), b2.clone(), &mut Ctx::eval());
        let g: Vec<f32> = b1.grad(&y.clone().sum().backward()).unwrap().into_data().to_vec().unwrap();
        assert!(vec(y).iter().zip(v1.iter().zip(&v2)).all(|(y, (a, b))| (y - 0.5 * (a + b)).abs() < 1e-6));
        assert!(g.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        // Another step draws other factors.
        let y4 = vec(shake(b1.clone(), b2.clone(), &mut Ctx::train_at(9, 4, 10)));
        let y5 = vec(shake(b1, b2, &mut Ctx::train_at(9, 5, 10)));
        assert_ne!(y4, y5);
    }
}
