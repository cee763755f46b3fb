//! The classifiers the seeds train, built for any channel count and class count.
//!
//! Every model runs its forward pass with a [`Ctx`]: batch-norm mode, whether the
//! early-exit head is evaluated, and a hook on named taps (for saliency at a layer).
//!
//! Papers: [seed 000] §4.1, §4.4 (ResNet-50, AlexNet, VGG; taps at `layer{s}.{b}.conv1`)
//! and §4.5 (Dropout, SpatialDropout, DropBlock); [seed 003] §4.1 (Wide ResNet,
//! Shake-Shake, PyramidNet+ShakeDrop) and §3.1 (the early-loss head).
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

pub mod alexnet;
pub mod arch;
pub mod common;
pub mod layers;
mod network;
pub mod params;
pub mod pyramidnet;
pub mod regularize;
pub mod resnet;
pub mod shake;
pub mod torchvision;
pub mod vgg;
pub mod wrn;

pub use arch::{catalog, Arch, ArchInfo, ARCHITECTURES};
pub use layers::{BatchNorm, Ctx, TapHook};
pub use network::Network;
pub use regularize::Regularizer;
pub use resnet::{ResNet, ResNetSpec};

use alexnet::AlexNet;
use anyhow::{bail, Result};
use burn::prelude::*;
use pyramidnet::PyramidNet;
use serde::{Deserialize, Serialize};
use shake::ShakeShake;
use vgg::Vgg;
use wrn::WideResNet;

/// The `[model]` section of a run configuration.
///
/// Fields other than `arch` and `early_head` are left out of the saved configuration
/// when unset, so configurations written before they existed read back identically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// One of [`ARCHITECTURES`] or of their families (see [`Arch::parse`]).
    pub arch: String,
    /// Add the early-exit head after the first stage (needed by `saliency = "early-loss"`).
    #[serde(default)]
    pub early_head: bool,
    /// Dropout-family regulariser in the last two stages of a ResNet (seed 000 §4.5,
    /// Table 6): see [`regularize`] for the syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regularizer: Option<String>,
    /// Drop probability of the dropout layers an architecture has: AlexNet's and VGG's
    /// classifier (default 0.5, torchvision) and between the convolutions of a Wide
    /// ResNet block (default 0; Zagoruyko & Komodakis and the Cutout recipe use 0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// Width of AlexNet's and VGG's two hidden classifier layers (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_width: Option<usize>,
    /// Side of AlexNet's and VGG's adaptive average pool before the classifier
    /// (default 6 for AlexNet, 7 for VGG, as torchvision; 1 for 28–32 px inputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_pool: Option<usize>,
}

impl ModelConfig {
    pub fn new(arch: &str) -> Self {
        Self {
            arch: arch.to_string(),
            early_head: false,
            regularizer: None,
            dropout: None,
            classifier_width: None,
            classifier_pool: None,
        }
    }

    /// The parsed architecture.
    pub fn spec(&self) -> Result<Arch> {
        Arch::parse(&self.arch)
    }

    /// The parsed regulariser, if any.
    pub fn regularizer(&self) -> Result<Option<Regularizer>> {
        self.regularizer.as_deref().map(Regularizer::parse).transpose()
    }

    pub fn validate(&self) -> Result<()> {
        let arch = self.spec()?;
        let a = &self.arch;
        if self.regularizer()?.is_some() && !matches!(arch, Arch::ResNet(_)) {
            bail!("model.regularizer: only ResNets take a regulariser (seed 000 §4.5 puts it in ResNet-50), not {a}");
        }
        let head = matches!(arch, Arch::AlexNet | Arch::Vgg { .. });
        if let Some(p) = self.dropout {
            if !head && !matches!(arch, Arch::Wrn { .. }) {
                bail!("model.dropout: {a} has no dropout layers (alexnet, vgg* and wrn-* do)");
            }
            if !(0.0..1.0).contains(&p) {
                bail!("model.dropout: the drop probability must be in [0, 1), got {p}");
            }
        }
        for (field, v) in [("classifier_width", self.classifier_width), ("classifier_pool", self.classifier_pool)] {
            match v {
                Some(_) if !head => bail!("model.{field}: only alexnet and vgg* have this classifier, not {a}"),
                Some(0) => bail!("model.{field}: must be at least 1"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Builds the network with freshly initialised weights (drawn now, in a fixed
    /// order, from the backend's generator).
    pub fn init<B: Backend>(&self, in_channels: usize, num_classes: usize, device: &B::Device) -> Result<Network<B>> {
        let model = self.build(in_channels, num_classes, device)?;
        params::materialize::<B, _>(&model);
        Ok(model)
    }

    /// Builds the network with its weights not yet drawn: enough to count parameters
    /// or list taps; [`ModelConfig::init`] for a network to run.
    pub fn build<B: Backend>(&self, in_channels: usize, num_classes: usize, device: &B::Device) -> Result<Network<B>> {
        if in_channels == 0 || num_classes < 2 {
            bail!("a model needs at least 1 input channel and 2 classes (got {in_channels} and {num_classes})");
        }
        self.validate()?;
        let (c, k, e) = (in_channels, num_classes, self.early_head);
        let width = self.classifier_width.unwrap_or(4096);
        Ok(match self.spec()? {
            Arch::ResNet(spec) => Network::resnet(ResNet::new(&spec, c, k, e, self.regularizer()?.as_ref(), device)),
            Arch::AlexNet => {
                let pool = self.classifier_pool.unwrap_or(6);
                Network::alexnet(AlexNet::new(c, k, pool, width, self.dropout.unwrap_or(0.5), e, device))
            }
            Arch::Vgg { depth, batch_norm } => {
                let (pool, drop) = (self.classifier_pool.unwrap_or(7), self.dropout.unwrap_or(0.5));
                Network::vgg(Vgg::new(depth, batch_norm, c, k, pool, width, drop, e, device))
            }
            Arch::Wrn { depth, widen } => {
                Network::wrn(WideResNet::new(depth, widen, self.dropout.unwrap_or(0.0), c, k, e, device))
            }
            Arch::ShakeShake { depth, width } => Network::shake_shake(ShakeShake::new(depth, width, c, k, e, device)),
            Arch::PyramidNet { depth, alpha } => Network::pyramidnet(PyramidNet::new(depth, alpha, c, k, e, device)),
        })
    }
}

#[cfg(test)]
mod tests;
