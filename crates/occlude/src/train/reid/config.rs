//! The `[reid]` section of a run configuration: its presence makes the run a person
//! re-identification run ([`super::Reid`]) on a Market-1501 tree (`data.kind =
//! "market1501"`). Defaults are the Bag-of-Tricks baseline (Luo et al. 2019), the
//! setting seed 003 §4.4 / Table 10 builds on.

use crate::data::DatasetKind;
use crate::models::Arch;
use crate::train::RunConfig;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReidConfig {
    /// Identities per batch (P; Bag-of-Tricks: 16).
    #[serde(default = "default_p")]
    pub p: usize,
    /// Images per identity in a batch (K; Bag-of-Tricks: 4). `optimizer.batch_size`
    /// must equal P × K.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Margin of the batch-hard triplet loss (0.3).
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// Weight of the triplet loss next to the ID loss (1).
    #[serde(default = "default_weight")]
    pub triplet_weight: f64,
    /// Network input `[height, width]` every image is resized to (256×128).
    #[serde(default = "default_input_size")]
    pub input_size: [usize; 2],
    /// Zero padding before the random crop back to the input size (10), with a
    /// horizontal flip: Bag-of-Tricks' training preprocessing.
    #[serde(default = "default_pad")]
    pub pad: usize,
    /// Stride of the last ResNet stage (Bag-of-Tricks' "last stride": 1; 2 is the
    /// ImageNet network).
    #[serde(default = "default_last_stride")]
    pub last_stride: usize,
    /// An occlude checkpoint of the same ResNet trained on ImageNet (e.g. made by
    /// `occlude import --format torchvision` from torchvision's weights) whose
    /// backbone tensors (all but `fc`) initialise the backbone, as Bag-of-Tricks starts
    /// from ImageNet weights. Relative paths are resolved against the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone_from: Option<PathBuf>,
}

fn default_p() -> usize {
    16
}
fn default_k() -> usize {
    4
}
fn default_margin() -> f64 {
    0.3
}
fn default_weight() -> f64 {
    1.0
}
fn default_input_size() -> [usize; 2] {
    [256, 128]
}
fn default_pad() -> usize {
    10
}
fn default_last_stride() -> usize {
    1
}

impl Default for ReidConfig {
    fn default() -> Self {
        Self {
            p: default_p(),
            k: default_k(),
            margin: default_margin(),
            triplet_weight: default_weight(),
            input_size: default_input_size(),
            pad: default_pad(),
            last_stride: default_last_stride(),
            backbone_from: None,
        }
    }
}

impl ReidConfig {
    /// Checks the section and the fields of `run` it constrains, naming the field.
    pub fn validate(&self, run: &RunConfig) -> Result<()> {
        if self.p < 2 || self.k < 2 {
            bail!(
                "reid.p / reid.k: the batch-hard triplet loss needs at least 2 identities × 2 images (got {} × {})",
                self.p,
                self.k
            );
        }
        if run.optimizer.batch_size != self.p * self.k {
            bail!(
                "optimizer.batch_size: a re-ID batch is reid.p × reid.k = {} images, but batch_size is {}",
                self.p * self.k,
                run.optimizer.batch_size
            );
        }
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            bail!("reid.margin: must be a number >= 0, got {}", self.margin);
        }
        if !(self.triplet_weight.is_finite() && self.triplet_weight >= 0.0) {
            bail!("reid.triplet_weight: must be a number >= 0, got {}", self.triplet_weight);
        }
        let [h, w] = self.input_size;
        if h < 16 || w < 8 {
            bail!("reid.input_size: must be at least [16, 8], got [{h}, {w}]");
        }
        if !matches!(self.last_stride, 1 | 2) {
            bail!("reid.last_stride: must be 1 or 2, got {}", self.last_stride);
        }
        if run.data.kind != DatasetKind::Market1501 {
            bail!(
                "data.kind: a [reid] run reads the Market-1501 layout (kind = \"market1501\"), not {:?}",
                run.data.kind
            );
        }
        if !matches!(run.model.spec()?, Arch::ResNet(_)) || run.model.early_head || run.model.regularizer.is_some() {
            bail!(
                "model.arch: the re-ID backbone is a plain ResNet (no early head or regulariser), got {}",
                run.model.arch
            );
        }
        if run.augment.paradigm != "standard" {
            bail!("augment.paradigm: re-ID training uses the standard paradigm, got {:?}", run.augment.paradigm);
        }
        if run.train.clean_train_eval > 0 {
            bail!("train.clean_train_eval: not available for re-ID runs");
        }
        Ok(())
    }
}
