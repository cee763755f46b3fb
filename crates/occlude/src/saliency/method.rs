//! The saliency methods ([`SaliencyMethod`]) and the batch-norm statistics of the
//! pass ([`BnStats`]); see the documentation of [`super`].

use super::SaliencyModel;
use anyhow::{bail, Result};
use burn::prelude::*;
use std::fmt;
use std::str::FromStr;

/// How a saliency map is computed; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaliencyMethod {
    /// `vanilla`: channel-wise max of |∂ logit / ∂ input|.
    Vanilla,
    /// `gradxact:<layer>`: ‖gradient‖·‖activation‖ over channels at a named layer,
    /// upsampled bilinearly.
    GradXAct { layer: String },
    /// `low-res`: vanilla saliency of a half-size bicubic copy, upsampled bilinearly.
    LowRes,
    /// `early-loss`: vanilla saliency of the early head's logit.
    EarlyLoss,
    /// `reuse`: no saliency pass. The map is `max_c |∂ loss / ∂ input|` of the image
    /// from the training step of its previous visit, cached in source-image
    /// coordinates and mapped through the current crop and flip
    /// ([`crate::augment::keep::reuse`]); only the training path has it.
    Reuse,
}

impl SaliencyMethod {
    /// The accepted spellings, for messages.
    pub const SYNTAX: &'static str =
        "vanilla, gradxact:<layer> (e.g. gradxact:layer3.0.conv1), low-res, early-loss, reuse";

    /// Parses `vanilla`, `gradxact:<layer>`, `low-res`, `early-loss` or `reuse`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name.trim(), Some(arg.trim())),
            None => (s, None),
        };
        Ok(match (name, arg) {
            ("vanilla", None) => Self::Vanilla,
            ("low-res", None) => Self::LowRes,
            ("early-loss", None) => Self::EarlyLoss,
            ("reuse", None) => Self::Reuse,
            ("gradxact", Some(layer)) if !layer.is_empty() => Self::GradXAct { layer: layer.to_string() },
            ("gradxact", _) => bail!("saliency method {s:?}: name the layer, e.g. gradxact:layer3.0.conv1"),
            _ => bail!("unknown saliency method {s:?}; expected one of {}", Self::SYNTAX),
        })
    }

    /// Checks that `model` supports this method: the layer exists, or the model has an
    /// early head.
    pub fn check<B: Backend, M: SaliencyModel<B> + ?Sized>(&self, model: &M) -> Result<()> {
        match self {
            Self::GradXAct { layer } => {
                let names = model.tap_names();
                if !names.iter().any(|n| n == layer) {
                    bail!(
                        "saliency method gradxact: this model has no layer {layer:?}; its layers are {}",
                        names.join(", ")
                    );
                }
            }
            Self::EarlyLoss if !model.has_early_head() => bail!(
                "saliency method early-loss needs a model with an early head: train it with model.early_head = true"
            ),
            _ => {}
        }
        Ok(())
    }
}

impl FromStr for SaliencyMethod {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for SaliencyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vanilla => write!(f, "vanilla"),
            Self::GradXAct { layer } => write!(f, "gradxact:{layer}"),
            Self::LowRes => write!(f, "low-res"),
            Self::EarlyLoss => write!(f, "early-loss"),
            Self::Reuse => write!(f, "reuse"),
        }
    }
}

/// The batch-norm statistics of a saliency pass; see the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BnStats {
    /// `running`: the running statistics (evaluation mode), the default.
    #[default]
    Running,
    /// `batch`: the statistics of the images in the pass (training mode on the frozen
    /// copy).
    Batch,
}

impl BnStats {
    /// Parses `running` or `batch`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "running" | "eval" => Ok(Self::Running),
            "batch" | "train" => Ok(Self::Batch),
            other => bail!("batch-norm statistics {other:?}: expected running (the default) or batch"),
        }
    }

    /// Whether batch norm uses batch statistics (`Ctx::train`).
    pub(super) fn train(self) -> bool {
        self == Self::Batch
    }
}

impl fmt::Display for BnStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Batch => "batch",
        })
    }
}
