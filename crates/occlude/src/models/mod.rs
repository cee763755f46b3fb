//! The classifiers the seeds train, built for any channel count and class count.
//!
//! Every model runs its forward pass with a [`Ctx`]: batch-norm mode, whether the
//! early-exit head is evaluated, and a hook on named taps (for saliency at a layer).

pub mod layers;
pub mod params;
pub mod resnet;

pub use layers::{BatchNorm, Ctx, TapHook};
pub use resnet::{ResNet, ResNetSpec};

use anyhow::{bail, Result};
use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Architectures by name, with the figures of the paper that defines them.
pub const ARCHITECTURES: &[(&str, &str)] = &[
    ("resnet8", "CIFAR ResNet, 3 stages × 1 basic block (He et al. family, n=1); tiny, for tests and demos"),
    ("resnet20", "CIFAR ResNet-20 (He et al. 2016 §4.2), 0.27 M parameters"),
    ("resnet32", "CIFAR ResNet-32, 0.46 M parameters"),
    ("resnet44", "CIFAR ResNet-44, 0.66 M parameters"),
    ("resnet56", "CIFAR ResNet-56, 0.85 M parameters"),
    ("resnet110", "CIFAR ResNet-110, 1.7 M parameters"),
    ("resnet18-cifar", "ResNet-18 with a 3×3 stem (Cutout, KeepAugment), 11.17 M parameters"),
    ("resnet18", "ImageNet ResNet-18 (torchvision), 11.69 M parameters"),
    ("resnet34", "ImageNet ResNet-34 (torchvision), 21.80 M parameters"),
    ("resnet50", "ImageNet ResNet-50 (torchvision), 25.56 M parameters"),
    ("resnet101", "ImageNet ResNet-101 (torchvision), 44.55 M parameters"),
];

/// The `[model]` section of a run configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// One of [`ARCHITECTURES`].
    pub arch: String,
    /// Add the early-exit head after the first stage (needed by `saliency = "early-loss"`).
    #[serde(default)]
    pub early_head: bool,
}

impl ModelConfig {
    pub fn new(arch: &str) -> Self {
        Self { arch: arch.to_string(), early_head: false }
    }

    pub fn spec(&self) -> Result<ResNetSpec> {
        let a = self.arch.as_str();
        Ok(match a {
            "resnet18-cifar" => ResNetSpec::resnet18_cifar(),
            "resnet18" | "resnet34" | "resnet50" | "resnet101" => ResNetSpec::imagenet(a[6..].parse()?),
            _ => match a.strip_prefix("resnet").and_then(|d| d.parse::<usize>().ok()) {
                Some(d) if [8, 20, 32, 44, 56, 110].contains(&d) => ResNetSpec::cifar(d),
                _ => bail!(
                    "model.arch: unknown architecture {a:?}; expected one of {}",
                    ARCHITECTURES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            },
        })
    }

    pub fn validate(&self) -> Result<()> {
        self.spec().map(|_| ())
    }

    /// Builds the network with freshly initialised weights.
    pub fn init<B: Backend>(&self, in_channels: usize, num_classes: usize, device: &B::Device) -> Result<Network<B>> {
        if in_channels == 0 || num_classes < 2 {
            bail!("a model needs at least 1 input channel and 2 classes (got {in_channels} and {num_classes})");
        }
        Ok(Network { resnet: ResNet::new(&self.spec()?, in_channels, num_classes, self.early_head, device) })
    }
}

/// A classifier. Wraps the architecture so that training, saliency and checkpoints
/// see one type whatever the architecture.
#[derive(Module, Debug)]
pub struct Network<B: Backend> {
    resnet: ResNet<B>,
}

impl<B: Backend> Network<B> {
    /// Logits and, when `ctx.early_head` asks for it, the early head's logits.
    pub fn forward_with(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        self.resnet.forward(x, ctx)
    }

    /// Logits with batch statistics (`train`) or running statistics.
    pub fn forward(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 2> {
        let mut ctx = if train { Ctx::train() } else { Ctx::eval() };
        self.forward_with(x, &mut ctx).0
    }

    /// The early-exit head's logits (stem + first stage + head only), if the model has one.
    pub fn forward_early(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Option<Tensor<B, 2>> {
        self.resnet.forward_early(x, ctx)
    }

    pub fn has_early_head(&self) -> bool {
        self.resnet.has_early_head()
    }

    /// Channels of the images the network takes.
    pub fn input_channels(&self) -> usize {
        self.resnet.input_channels()
    }

    /// Number of classes (width of the logits).
    pub fn num_classes(&self) -> usize {
        self.resnet.num_classes()
    }

    pub fn tap_names(&self) -> Vec<String> {
        self.resnet.tap_names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    fn params(arch: &str, in_ch: usize, classes: usize) -> usize {
        let m = ModelConfig::new(arch).init::<CpuBackend>(in_ch, classes, &Default::default()).unwrap();
        params::trainable_param_count::<CpuBackend, _>(&m)
    }

    #[test]
    fn parameter_counts_match_published_figures() {
        // He et al. 2016 Table 6 (CIFAR-10): 0.27 M, 0.46 M, 0.66 M, 0.85 M, 1.7 M.
        for (arch, want) in
            [("resnet20", 0.27), ("resnet32", 0.46), ("resnet44", 0.66), ("resnet56", 0.85), ("resnet110", 1.7)]
        {
            let m = params(arch, 3, 10) as f64 / 1e6;
            assert!((m - want).abs() / want < 0.03, "{arch}: {m} M");
        }
        // CIFAR ResNet-18 (kuangliu / Cutout code): 11,173,962 parameters exactly.
        assert_eq!(params("resnet18-cifar", 3, 10), 11_173_962);
        // torchvision: resnet18 11,689,512 and resnet50 25,557,032 (1000 classes).
        assert_eq!(params("resnet18", 3, 1000), 11_689_512);
        assert_eq!(params("resnet50", 3, 1000), 25_557_032);
    }

    #[test]
    fn forward_shapes_and_taps() {
        let device = Default::default();
        let mut cfg = ModelConfig::new("resnet8");
        cfg.early_head = true;
        let m = cfg.init::<CpuBackend>(1, 10, &device).unwrap();
        let x = Tensor::<CpuBackend, 4>::zeros([2, 1, 28, 28], &device);
        let (logits, early) = m.forward_with(x.clone(), &mut Ctx::eval().with_early_head(true));
        assert_eq!(logits.dims(), [2, 10]);
        assert_eq!(early.unwrap().dims(), [2, 10]);
        assert_eq!(m.forward_early(x, &mut Ctx::eval()).unwrap().dims(), [2, 10]);
        let names = m.tap_names();
        assert_eq!(&names[..4], &["stem", "layer1.0.conv1", "layer1.0.conv2", "layer1.0"]);

        struct Record(Vec<(String, [usize; 4])>);
        impl TapHook<CpuBackend> for Record {
            fn tap(&mut self, name: &str, x: Tensor<CpuBackend, 4>) -> Tensor<CpuBackend, 4> {
                self.0.push((name.to_string(), x.dims()));
                x
            }
        }
        let mut rec = Record(vec![]);
        let x = Tensor::<CpuBackend, 4>::zeros([1, 1, 28, 28], &device);
        m.forward_with(x, &mut Ctx::eval().with_hook(&mut rec));
        let seen: Vec<_> = rec.0.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(seen, names);
        assert_eq!(rec.0.last().unwrap().1, [1, 64, 7, 7]);
    }

    #[test]
    fn unknown_architecture_names_the_field() {
        let e = ModelConfig::new("resnet21").validate().unwrap_err().to_string();
        assert!(e.contains("model.arch") && e.contains("resnet20"), "{e}");
    }
}
