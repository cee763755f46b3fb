//! VGG (Simonyan & Zisserman 2015) in torchvision's layout, with or without batch
//! norm: seed 000's VGG16 and VGG16-BN (Tables 1, 4).
//!
//! Features: five blocks of 3×3 pad-1 convolutions (with bias; `-bn`: each followed by
//! batch norm) and ReLUs, each block ending in a 2×2/2 max-pool; configurations A
//! (11), B (13), D (16), E (19) as torchvision's `cfgs`. Then an adaptive average
//! pool to `pool × pool` (torchvision: 7) and the classifier FC `512·pool²→width` →
//! ReLU → Dropout → FC `width→width` → ReLU → Dropout → FC `width→classes`
//! (torchvision: width 4096, dropout 0.5). torchvision's initialisation: convolutions
//! Kaiming-normal (fan-out, ReLU gain) with zero bias, batch norm 1/0, FC `N(0, 0.01²)`
//! with zero bias. VGG16: 138,357,544 parameters (3 channels, 1000 classes);
//! VGG16-BN: 138,365,992.
//!
//! Small inputs: a pool is skipped when the map is smaller than its window
//! ([`max_pool_if_fits`]); at 224 px, 32 px and any size whose maps stay at least 2
//! px this is exactly torchvision's network. At 28 px the maps are 28, 14, 7, 3, 1
//! and the fifth pool is skipped. On such inputs torchvision's adaptive pool would
//! copy the 1×1 map 49 times into a 102 M-parameter FC layer; with
//! `model.classifier_pool = 1` and e.g. `model.classifier_width = 512` the head is
//! the usual CIFAR VGG head (FC 512→512→512→classes).
//!
//! Taps (seed 000 §4.4 and its footnote 5): `conv1` … `conv5`, the last convolution
//! of block X after its (batch norm and) ReLU, before the pool. The early-loss head
//! sits after block 1 (after its pool).

use super::common::{lazy_dims, linear_in, linear_out, linear_vgg, max_pool_if_fits, EarlyExit};
use super::layers::{conv, BatchNorm, Conv, Ctx};
use super::regularize::dropout;
use burn::module::Module;
use burn::nn::{Initializer, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::adaptive_avg_pool2d;

/// Convolutions per block and channels per block, by depth (torchvision's `cfgs`).
pub fn blocks(depth: usize) -> Option<[usize; 5]> {
    Some(match depth {
        11 => [1, 1, 2, 2, 2],
        13 => [2, 2, 2, 2, 2],
        16 => [2, 2, 3, 3, 3],
        19 => [2, 2, 4, 4, 4],
        _ => return None,
    })
}

const WIDTHS: [usize; 5] = [64, 128, 256, 512, 512];

#[derive(Module, Debug)]
pub struct Vgg<B: Backend> {
    convs: Vec<Conv<B>>,
    /// One per convolution for `-bn`, empty otherwise.
    bns: Vec<BatchNorm<B>>,
    fc1: Linear<B>,
    fc2: Linear<B>,
    fc3: Linear<B>,
    /// Convolutions in each of the five blocks.
    per_block: [usize; 5],
    pool: usize,
    drop: f64,
    early_head: Option<Linear<B>>,
}

impl<B: Backend> Vgg<B> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        depth: usize,
        batch_norm: bool,
        in_channels: usize,
        num_classes: usize,
        pool: usize,
        width: usize,
        drop: f64,
        early_head: bool,
        device: &B::Device,
    ) -> Self {
        let per_block = blocks(depth).expect("VGG depth 11, 13, 16 or 19");
        let (mut convs, mut bns) = (Vec::new(), Vec::new());
        let mut in_ch = in_channels;
        for (&n, &out) in per_block.iter().zip(&WIDTHS) {
            for _ in 0..n {
                let mut c = conv(in_ch, out, 3, 1, device);
                c.bias = Some(Initializer::Zeros.init([out], device));
                convs.push(c);
                if batch_norm {
                    bns.push(BatchNorm::new(out, device));
                }
                in_ch = out;
            }
        }
        Self {
            convs,
            bns,
            fc1: linear_vgg(512 * pool * pool, width, device),
            fc2: linear_vgg(width, width, device),
            fc3: linear_vgg(width, num_classes, device),
            per_block,
            pool,
            drop,
            early_head: early_head.then(|| linear_vgg(WIDTHS[0], num_classes, device)),
        }
    }

    pub fn input_channels(&self) -> usize {
        lazy_dims(&self.convs[0].weight)[1]
    }

    pub fn num_classes(&self) -> usize {
        linear_out(&self.fc3)
    }

    /// Blocks `from..to` (0-based), each ending in its tap and pool.
    fn features(&self, mut h: Tensor<B, 4>, from: usize, to: usize, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let mut i: usize = self.per_block[..from].iter().sum();
        for b in from..to {
            for _ in 0..self.per_block[b] {
                h = self.convs[i].forward(h);
                h = match self.bns.get(i) {
                    Some(bn) => bn.forward_relu(h, ctx.train),
                    None => relu(h),
                };
                i += 1;
            }
            h = ctx.tap(|| format!("conv{}", b + 1), h);
            h = max_pool_if_fits(h, 2, 2);
        }
        h
    }

    pub fn tap_names(&self) -> Vec<String> {
        (1..=5).map(|b| format!("conv{b}")).collect()
    }
}

impl<B: Backend> EarlyExit<B> for Vgg<B> {
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        self.features(x, 0, 1, ctx)
    }

    fn rest(&self, h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2> {
        let h = self.features(h, 1, 5, ctx);
        let n = h.dims()[0];
        let h = adaptive_avg_pool2d(h, [self.pool, self.pool]).reshape([n, linear_in(&self.fc1)]);
        let keep = 1.0 - self.drop;
        let h = dropout(relu(self.fc1.forward(h)), keep, ctx);
        let h = dropout(relu(self.fc2.forward(h)), keep, ctx);
        self.fc3.forward(h)
    }

    fn early_head(&self) -> Option<&Linear<B>> {
        self.early_head.as_ref()
    }
}
