//! Residual networks (He et al. 2016) in the variants the seeds train.
//!
//! * CIFAR family (`resnet20/32/44/56/110`, He et al. §4.2): a 3×3 stem with 16
//!   channels, three stages of `n` basic blocks (16, 32, 64 channels, depth 6n+2), and
//!   the paper's parameter-free shortcut ("option A": subsample, zero-pad channels).
//! * `resnet18-cifar` (the Cutout / KeepAugment ResNet-18): a 3×3 stem with 64
//!   channels, no max-pool, four stages of two basic blocks, 1×1 projection shortcuts.
//! * ImageNet ResNets (`resnet18/34/50/101`, torchvision layout, stride in the 3×3
//!   convolution of bottlenecks): a 7×7 stride-2 stem and a 3×3 stride-2 max-pool.
//!
//! Named taps, as in PyTorch: `stem`, `maxpool`, `layer{s}.{b}.conv1` (convolution
//! output before batch norm, the layers seed 000 §4.4 uses), `layer{s}.{b}.conv2`,
//! `layer{s}.{b}` (block output) with stages numbered from 1.
//!
//! With `model.regularizer` (seed 000 §4.5), a Dropout-family module follows every
//! convolution of the last two stages (ResNet-50: stages 3 and 4, torchvision's
//! `layer3` and `layer4`, Ghiasi et al.'s "groups 3 and 4"), as the DropBlock
//! authors' reference ResNet places it: after the batch norm (and its ReLU) of each
//! convolution, and, for DropBlock only, also on every shortcut of those stages
//! (after the projection's batch norm, or on the identity). Basic blocks get the
//! same treatment (after `bn1`+ReLU, after `bn2`, shortcut).

use super::common::{global_pool, lazy_dims, linear_in, linear_out, EarlyExit};
use super::layers::{conv, BatchNorm, Conv, Ctx};
use super::regularize::{Regularizer, RegularizerKind};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;

/// How a block's shortcut matches shapes when they change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShortcutKind {
    /// Option A: subsample with stride, zero-pad the new channels (no parameters).
    ZeroPad,
    /// Option B: 1×1 convolution + batch norm.
    Projection,
}

/// The shape of a ResNet.
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetSpec {
    pub stem_channels: usize,
    /// 7×7 stride-2 stem plus max-pool (ImageNet) instead of a 3×3 stem.
    pub imagenet_stem: bool,
    pub stage_channels: Vec<usize>,
    pub blocks_per_stage: Vec<usize>,
    pub bottleneck: bool,
    pub shortcut: ShortcutKind,
    /// Stride of the first block of the last stage: 2 in every classifier; 1 keeps
    /// twice the spatial resolution there (Bag-of-Tricks' "last stride" for re-ID).
    pub last_stride: usize,
}

impl ResNetSpec {
    /// He et al.'s CIFAR ResNet of depth 6n+2.
    pub fn cifar(depth: usize) -> Self {
        assert!(depth >= 8 && (depth - 2).is_multiple_of(6), "CIFAR ResNet depth must be 6n+2");
        let n = (depth - 2) / 6;
        Self {
            stem_channels: 16,
            imagenet_stem: false,
            stage_channels: vec![16, 32, 64],
            blocks_per_stage: vec![n; 3],
            bottleneck: false,
            shortcut: ShortcutKind::ZeroPad,
            last_stride: 2,
        }
    }

    /// ResNet-18 with a CIFAR stem (3×3, no max-pool), as in the Cutout code.
    pub fn resnet18_cifar() -> Self {
        Self {
            stem_channels: 64,
            imagenet_stem: false,
            stage_channels: vec![64, 128, 256, 512],
            blocks_per_stage: vec![2, 2, 2, 2],
            bottleneck: false,
            shortcut: ShortcutKind::Projection,
            last_stride: 2,
        }
    }

    /// torchvision's ImageNet ResNet of depth 18, 34, 50 or 101.
    pub fn imagenet(depth: usize) -> Self {
        let (blocks, bottleneck) = match depth {
            18 => (vec![2, 2, 2, 2], false),
            34 => (vec![3, 4, 6, 3], false),
            50 => (vec![3, 4, 6, 3], true),
            101 => (vec![3, 4, 23, 3], true),
            _ => panic!("ImageNet ResNet depth must be 18, 34, 50 or 101"),
        };
        Self {
            stem_channels: 64,
            imagenet_stem: true,
            stage_channels: vec![64, 128, 256, 512],
            blocks_per_stage: blocks,
            bottleneck,
            shortcut: ShortcutKind::Projection,
            last_stride: 2,
        }
    }

    fn expansion(&self) -> usize {
        if self.bottleneck {
            4
        } else {
            1
        }
    }

    /// Channels leaving the first stage (input of the early-loss head).
    pub fn first_stage_channels(&self) -> usize {
        self.stage_channels[0] * self.expansion()
    }
}

/// Convolution + batch norm, used for projection shortcuts.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    conv: Conv<B>,
    bn: BatchNorm<B>,
}

/// A basic (two 3×3) or bottleneck (1×1, 3×3, 1×1) residual block.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    conv1: Conv<B>,
    bn1: BatchNorm<B>,
    conv2: Conv<B>,
    bn2: BatchNorm<B>,
    conv3: Option<Conv<B>>,
    bn3: Option<BatchNorm<B>>,
    projection: Option<ConvBn<B>>,
    /// Option-A shortcut: spatial stride and channels to add (0 when unused).
    pad_stride: usize,
    pad_channels: usize,
    /// The Dropout-family module after each convolution (last two stages only).
    reg: Option<Regularizer>,
}

impl<B: Backend> Block<B> {
    fn new(
        spec: &ResNetSpec,
        in_ch: usize,
        width: usize,
        stride: usize,
        reg: Option<Regularizer>,
        device: &B::Device,
    ) -> Self {
        let out_ch = width * spec.expansion();
        let (conv1, conv2, conv3) = if spec.bottleneck {
            (
                conv(in_ch, width, 1, 1, device),
                conv(width, width, 3, stride, device),
                Some(conv(width, out_ch, 1, 1, device)),
            )
        } else {
            (conv(in_ch, width, 3, stride, device), conv(width, width, 3, 1, device), None)
        };
        let reshape = stride != 1 || in_ch != out_ch;
        let (projection, pad_stride, pad_channels) = match (reshape, spec.shortcut) {
            (false, _) => (None, 0, 0),
            (true, ShortcutKind::Projection) => (
                Some(ConvBn { conv: conv(in_ch, out_ch, 1, stride, device), bn: BatchNorm::new(out_ch, device) }),
                0,
                0,
            ),
            (true, ShortcutKind::ZeroPad) => (None, stride, out_ch - in_ch),
        };
        Self {
            conv1,
            bn1: BatchNorm::new(width, device),
            conv2,
            bn2: BatchNorm::new(width, device),
            bn3: conv3.as_ref().map(|_| BatchNorm::new(out_ch, device)),
            conv3,
            projection,
            pad_stride,
            pad_channels,
            reg,
        }
    }

    fn regularize(&self, h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        match &self.reg {
            Some(r) => r.apply(h, ctx),
            None => h,
        }
    }

    fn forward(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>, name: &dyn Fn() -> String) -> Tensor<B, 4> {
        let mut shortcut = self.shortcut(x.clone(), ctx.train);
        if let Some(r @ Regularizer { kind: RegularizerKind::DropBlock { .. }, .. }) = &self.reg {
            shortcut = r.apply(shortcut, ctx);
        }
        let h = ctx.tap(|| format!("{}.conv1", name()), self.conv1.forward(x));
        let h = self.regularize(self.bn1.forward_relu(h, ctx.train), ctx);
        let h = ctx.tap(|| format!("{}.conv2", name()), self.conv2.forward(h));
        let out = match (&self.conv3, &self.bn3) {
            (Some(c3), Some(bn3)) => {
                let h = self.regularize(self.bn2.forward_relu(h, ctx.train), ctx);
                let h3 = ctx.tap(|| format!("{}.conv3", name()), c3.forward(h));
                self.tail(bn3, h3, shortcut, ctx)
            }
            _ => self.tail(&self.bn2, h, shortcut, ctx),
        };
        ctx.tap(name, out)
    }

    /// `relu(reg(bn(h)) + shortcut)`: fused into one pass when there is no regulariser
    /// between the batch norm and the sum.
    fn tail(&self, bn: &BatchNorm<B>, h: Tensor<B, 4>, shortcut: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        match &self.reg {
            None => bn.forward_add_relu(h, shortcut, ctx.train),
            Some(_) => relu(self.regularize(bn.forward(h, ctx.train), ctx) + shortcut),
        }
    }

    fn shortcut(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 4> {
        if let Some(p) = &self.projection {
            return p.bn.forward(p.conv.forward(x), train);
        }
        if self.pad_stride == 0 {
            return x;
        }
        let [n, c, h, w] = x.dims();
        let s = self.pad_stride;
        // x[:, :, ::s, ::s] as a 1×1 max-pool with stride s (exactly a subsample).
        let sub = if s > 1 { max_pool2d(x, [1, 1], [s, s], [0, 0], [1, 1], false) } else { x };
        let (hs, ws) = (h.div_ceil(s), w.div_ceil(s));
        let before = self.pad_channels / 2;
        let after = self.pad_channels - before;
        // The padding takes the activation's dtype, so the model also runs in f64
        // (saliency checks against finite differences).
        let opts = (&sub.device(), sub.dtype());
        Tensor::cat(vec![Tensor::zeros([n, before, hs, ws], opts), sub, Tensor::zeros([n, after, hs, ws], opts)], 1)
            .reshape([n, c + self.pad_channels, hs, ws])
    }
}

/// A ResNet classifier; see the module documentation.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem: Conv<B>,
    stem_bn: BatchNorm<B>,
    imagenet_stem: bool,
    stages: Vec<Vec<Block<B>>>,
    fc: Linear<B>,
    /// Early-exit head after the first stage (seed 003 §3.1, "early loss").
    early_head: Option<Linear<B>>,
}

impl<B: Backend> ResNet<B> {
    /// `regularizer` goes into the last two stages (see the module documentation).
    pub fn new(
        spec: &ResNetSpec,
        in_channels: usize,
        num_classes: usize,
        early_head: bool,
        regularizer: Option<&Regularizer>,
        device: &B::Device,
    ) -> Self {
        let (k, stride) = if spec.imagenet_stem { (7, 2) } else { (3, 1) };
        let stem = conv(in_channels, spec.stem_channels, k, stride, device);
        let mut in_ch = spec.stem_channels;
        let mut stages = Vec::new();
        let stages_n = spec.stage_channels.len();
        for (s, (&width, &blocks)) in spec.stage_channels.iter().zip(&spec.blocks_per_stage).enumerate() {
            let mut stage = Vec::new();
            let reg = regularizer.filter(|_| s + 2 >= stages_n).cloned();
            for b in 0..blocks {
                let stride = match (b, s) {
                    (0, 0) | (1.., _) => 1,
                    (0, s) if s + 1 == stages_n => spec.last_stride,
                    _ => 2,
                };
                stage.push(Block::new(spec, in_ch, width, stride, reg.clone(), device));
                in_ch = width * spec.expansion();
            }
            stages.push(stage);
        }
        Self {
            stem,
            stem_bn: BatchNorm::new(spec.stem_channels, device),
            imagenet_stem: spec.imagenet_stem,
            stages,
            fc: LinearConfig::new(in_ch, num_classes).init(device),
            early_head: early_head.then(|| LinearConfig::new(spec.first_stage_channels(), num_classes).init(device)),
        }
    }

    /// Channels of the images the network takes.
    pub fn input_channels(&self) -> usize {
        lazy_dims(&self.stem.weight)[1]
    }

    /// Number of classes (width of the logits).
    pub fn num_classes(&self) -> usize {
        linear_out(&self.fc)
    }

    fn stage(&self, s: usize, mut h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        for (b, block) in self.stages[s].iter().enumerate() {
            h = block.forward(h, ctx, &|| format!("layer{}.{b}", s + 1));
        }
        h
    }

    /// Width of [`features`](Self::features).
    pub fn feature_dim(&self) -> usize {
        linear_in(&self.fc)
    }

    /// The globally pooled output of the last stage (`N × channels`), the input of
    /// `fc`: the embedding a re-identification head builds on.
    pub fn features(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2> {
        let h = self.head_input(x, ctx);
        global_pool(self.later_stages(h, ctx))
    }

    /// Stages 2 and later.
    fn later_stages(&self, mut h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        for s in 1..self.stages.len() {
            h = self.stage(s, h, ctx);
        }
        h
    }

    /// Every tap name of this network, in forward order.
    pub fn tap_names(&self) -> Vec<String> {
        let mut names = vec!["stem".to_string()];
        if self.imagenet_stem {
            names.push("maxpool".into());
        }
        for (s, stage) in self.stages.iter().enumerate() {
            for (b, block) in stage.iter().enumerate() {
                names.push(format!("layer{}.{b}.conv1", s + 1));
                names.push(format!("layer{}.{b}.conv2", s + 1));
                if block.conv3.is_some() {
                    names.push(format!("layer{}.{b}.conv3", s + 1));
                }
                names.push(format!("layer{}.{b}", s + 1));
            }
        }
        names
    }
}

impl<B: Backend> EarlyExit<B> for ResNet<B> {
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4> {
        let h = self.stem_bn.forward_relu(self.stem.forward(x), ctx.train);
        let mut h = ctx.tap(|| "stem".into(), h);
        if self.imagenet_stem {
            h = ctx.tap(|| "maxpool".into(), max_pool2d(h, [3, 3], [2, 2], [1, 1], [1, 1], false));
        }
        self.stage(0, h, ctx)
    }

    fn rest(&self, h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2> {
        self.fc.forward(global_pool(self.later_stages(h, ctx)))
    }

    fn early_head(&self) -> Option<&Linear<B>> {
        self.early_head.as_ref()
    }
}
