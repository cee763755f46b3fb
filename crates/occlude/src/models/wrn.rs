//! Wide residual networks WRN-d-k (Zagoruyko & Komodakis 2016), seed 003's
//! WRN-28-10 (Tables 1, 3, 4) and WRN-28-2 (semi-supervised, §4.3).
//!
//! A 3×3 stem with 16 channels, three stages of `n = (d − 4)/6` pre-activation basic
//! blocks of widths `16k, 32k, 64k` (strides 1, 2, 2), then BN-ReLU, global average
//! pool and a linear classifier. A block is
//! `BN-ReLU → conv3×3(stride) → BN-ReLU → [dropout] → conv3×3`, added to the input,
//! or, when the width or resolution changes, to a 1×1 convolution of the
//! *pre-activated* input (the authors' code and its PyTorch port by xternalz, which the
//! Cutout and KeepAugment experiments use). Convolutions have no bias and are
//! Kaiming-normal (fan-out); the classifier's bias starts at zero. WRN-28-10 has
//! 36,479,194 parameters and WRN-28-2 1,467,610 (10 classes).
//!
//! `model.dropout` is the drop probability between the two convolutions of every
//! block (Zagoruyko & Komodakis §2.4 and the Cutout recipe use 0.3; default 0).
//!
//! Taps: `stem`, `layer{s}.{b}.conv1`, `layer{s}.{b}.conv2` (convolution outputs) and
//! `layer{s}.{b}` (block output), stages numbered from 1. The early-loss head sits
//! after the first stage.

use super::common::{global_pool, lazy_dims, linear, linear_out, linear_zero_bias, EarlyExit};
use super::layers::{conv, BatchNorm, Conv, Ctx};
use super::regularize::dropout;
use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct WideBlock<B: Backend> {
    bn1: BatchNorm<B>,
    conv1: Conv<B>,
    bn2: BatchNorm<B>,
    conv2: Conv<B>,
    /// 1×1 projection when the shape changes.
    shortcut: Option<Conv<B>>,
    drop: f64,
}

impl<B: Backend> WideBlock<B> {
    fn new(in_ch: usize, out_ch: usize, stride: usize, drop: f64, device: &B::Device) -> Self {
        Self {
            bn1: BatchNorm::new(in_ch, device),
            conv1: conv(in_ch, out_ch, 3, stride, device),
            bn2: BatchNorm::new(out_ch, device),
            conv2: conv(out_ch, out_ch, 3, 1, device),
            shortcut: (in_ch != out_ch || stride != 1).then(|| conv(in_ch, out_ch, 1, stride, device)),
            drop,
        }
    }

    fn forward(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>, name: &dyn Fn() -> String) -> Tensor<B, 4> {
        let a = self.bn1.forward_relu(x.clone(), ctx.train);
        let skip = match &self.shortcut {
            Some(p) => p.forward(a.clone()),
            None => x,
        };
        let h = ctx.tap(|| format!("{}.conv1", name()), self.conv1.forward(a));
        let h = dropout(self.bn2.forward_relu(h, ctx.train), 1.0 - self.drop, ctx);
        let h = ctx.tap(|| format!("{}.conv2", name()), self.conv2.forward(h));
        ctx.tap(name, h + skip)
    }
}

#[derive(Module, Debug)]
pub struct WideResNet<B: Backend> {
    stem: Conv<B>,
    stages: Vec<Vec<WideBlock<B>>>,
    bn: BatchNorm<B>,
    fc: Linear<B>,
    early_head: Option<Linear<B>>,
}

impl<B: Backend> WideResNet<B> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        depth: usize,
        widen: usize,
        drop: f64,
        in_channels: usize,
        num_classes: usize,
        early_head: bool,
        device: &B::Device,
    ) -> Self {
        assert!(depth >= 10 && (depth - 4).is_multiple_of(6) && widen >= 1, "WRN depth must be 6n+4");
        let n = (depth - 4) / 6;
        let widths = [16 * widen, 32 * widen, 64 * widen];
        let mut in_ch = 16;
        let stages = widths
            .iter()
            .enumerate()
            .map(|(s, &w)| {
                (0..n)
                    .map(|b| {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        let block = WideBlock::new(in_ch, w, stride, drop, device);
                        in_ch = w;
                        block
                    })
                    .collect()
            })
            .collect();
        Self {
            stem: conv(in_channels, 16, 3, 1, device),
            stages,
            bn: BatchNorm::new(in_ch, device),
            fc: linear_zero_bias(in_ch, num_classes, device),
            early_head: early_head.then(|| linear(widths[0], num_classes, device)),
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
            h = block.forward(h, ctx, &|| format!("layer{}.{b}", s + 1));
        }
        h
    }

    pub fn tap_names(&self) -> Vec<String> {
        let mut names = vec!["stem".to_string()];
        for (s, stage) in self.stages.iter().enumerate() {
            for b in 0..stage.len() {
                let l = format!("layer{}.{b}", s + 1);
                names.extend([format!("{l}.conv1"), format!("{l}.conv2"), l]);
            }
        }
        names
    }
}

impl<B: Backend> EarlyExit<B> for WideResNet<B> {
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let h = ctx.tap(|| "stem".into(), self.stem.forward(x));
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
