//! AlexNet in torchvision's layout (`torchvision.models.alexnet`, the single-GPU
//! variant of Krizhevsky 2014 with 64-192-384-256-256 filters), seed 000's AlexNet
//! (Tables 1, 3, 4).
//!
//! Features: conv 11×11/4 pad 2 (64) → ReLU → max-pool 3/2 → conv 5×5 pad 2 (192) →
//! ReLU → max-pool 3/2 → conv 3×3 (384) → ReLU → conv 3×3 (256) → ReLU → conv 3×3
//! (256) → ReLU → max-pool 3/2; adaptive average pool to `pool × pool` (torchvision:
//! 6); classifier: Dropout → FC `256·pool²→width` → ReLU → Dropout → FC
//! `width→width` → ReLU → FC `width→classes` (torchvision: width 4096, dropout 0.5).
//! 61,100,840 parameters at 3 channels and 1000 classes. Convolutions and FC layers
//! carry biases and use PyTorch's default initialisation, as torchvision's.
//!
//! Small inputs: torchvision's network fails below 63 px (the last pool has no
//! output). Here a pool is skipped when the map is smaller than its window
//! ([`max_pool_if_fits`]), so 28–32 px inputs run with every weight of the
//! architecture: at 28 px the maps are 6 → 2 (conv1, pool 1), 2 (pools 2 and 3
//! skipped). The stride-4 stem is kept, so on such inputs it is the ImageNet network
//! seeing a 6×6 map after one layer, not a network designed for them; set
//! `model.classifier_pool = 1` and a smaller `model.classifier_width` to drop the
//! 37 M-parameter classifier that the adaptive pool would otherwise feed with
//! copies of a 2×2 map.
//!
//! Taps (seed 000 §4.4: "post-ReLU but pre-pooling"): `conv1` … `conv5`, the output
//! of the X-th convolution after its ReLU. The early-loss head (seed 003 §3.1) sits
//! after the first block (conv1, ReLU, pool).

use super::common::{lazy_dims, linear, linear_in, linear_out, max_pool_if_fits, EarlyExit};
use super::layers::{Conv, Ctx};
use super::regularize::dropout;
use burn::module::Module;
use burn::nn::{Initializer, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::adaptive_avg_pool2d;

/// `(out channels, kernel, stride, padding, max-pool after)` of the five convolutions.
const LAYERS: [(usize, usize, usize, usize, bool); 5] =
    [(64, 11, 4, 2, true), (192, 5, 1, 2, true), (384, 3, 1, 1, false), (256, 3, 1, 1, false), (256, 3, 1, 1, true)];

#[derive(Module, Debug)]
pub struct AlexNet<B: Backend> {
    convs: Vec<Conv<B>>,
    fc1: Linear<B>,
    fc2: Linear<B>,
    fc3: Linear<B>,
    /// Side of the adaptive average pool before the classifier.
    pool: usize,
    /// Drop probability of the classifier's two dropout layers.
    drop: f64,
    early_head: Option<Linear<B>>,
}

impl<B: Backend> AlexNet<B> {
    pub fn new(
        in_channels: usize,
        num_classes: usize,
        pool: usize,
        width: usize,
        drop: f64,
        early_head: bool,
        device: &B::Device,
    ) -> Self {
        // PyTorch's default: kaiming_uniform(a=√5), i.e. U(±1/√fan_in).
        let init = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
        let mut in_ch = in_channels;
        let convs = LAYERS
            .iter()
            .map(|&(out, k, s, p, _)| {
                let c = Conv::new(in_ch, out, [k, k], [s, s], [p, p], true, &init, device);
                in_ch = out;
                c
            })
            .collect();
        Self {
            convs,
            fc1: linear(256 * pool * pool, width, device),
            fc2: linear(width, width, device),
            fc3: linear(width, num_classes, device),
            pool,
            drop,
            early_head: early_head.then(|| linear(LAYERS[0].0, num_classes, device)),
        }
    }

    pub fn input_channels(&self) -> usize {
        lazy_dims(&self.convs[0].weight)[1]
    }

    pub fn num_classes(&self) -> usize {
        linear_out(&self.fc3)
    }

    /// Convolutions `from..to` (0-based) with their ReLUs, taps and pools.
    fn features(&self, mut h: Tensor<B, 4>, from: usize, to: usize, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        for (i, (conv, layer)) in self.convs.iter().zip(&LAYERS).enumerate().take(to).skip(from) {
            h = ctx.tap(|| format!("conv{}", i + 1), relu(conv.forward(h)));
            if layer.4 {
                h = max_pool_if_fits(h, 3, 2);
            }
        }
        h
    }

    pub fn tap_names(&self) -> Vec<String> {
        (1..=LAYERS.len()).map(|i| format!("conv{i}")).collect()
    }
}

impl<B: Backend> EarlyExit<B> for AlexNet<B> {
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        self.features(x, 0, 1, ctx)
    }

    fn rest(&self, h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2> {
        let h = self.features(h, 1, LAYERS.len(), ctx);
        let n = h.dims()[0];
        let h = adaptive_avg_pool2d(h, [self.pool, self.pool]).reshape([n, linear_in(&self.fc1)]);
        let keep = 1.0 - self.drop;
        let h = relu(self.fc1.forward(dropout(h, keep, ctx)));
        let h = relu(self.fc2.forward(dropout(h, keep, ctx)));
        self.fc3.forward(h)
    }

    fn early_head(&self) -> Option<&Linear<B>> {
        self.early_head.as_ref()
    }
}
