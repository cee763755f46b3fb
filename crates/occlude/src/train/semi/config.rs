//! The `[semi_supervised]` section of a run configuration: present, it selects the
//! semi-supervised task ([`super::Uda`]) instead of supervised classification.
//!
//! ```toml
//! [semi_supervised]
//! labels = 4000        # labelled images in all, the same number per class
//! mu = 7               # unlabelled batch = mu × optimizer.batch_size (0: supervised only)
//! lambda = 1.0         # weight of the consistency loss
//! temperature = 0.4    # sharpening of the weak view's prediction
//! threshold = 0.8      # confidence mask on the weak view's prediction
//! tsa = "none"         # training-signal annealing: none, linear, log, exp
//! # steps_per_epoch = 500  # default: one pass over the labelled subset
//! ```
//!
//! `augment.method` is the *strong* view of the unlabelled images (e.g.
//! `randaugment:n=2,m=15+cutout:s=16`, or `keep-randaugment:…,saliency=low-res+cutout:s=16`
//! whose saliency is taken with respect to the largest logit); the labelled images and
//! the weak view get the dataset's standard training preprocessing (crop + flip) only.
//! Defaults are UDA's CIFAR-10 setting (Xie et al. 2020; seed 003 §4.3).

use crate::train::config::AugmentConfig;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Semi-supervised training with UDA (seed 003 §4.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemiConfig {
    /// Labelled training images in all; a multiple of the number of classes (the
    /// subset is class-balanced). The rest of the training split is unlabelled.
    pub labels: usize,
    /// Unlabelled images per labelled image in a step (UDA: 7). 0 trains on the
    /// labelled subset alone (the supervised-only baseline).
    #[serde(default = "default_mu")]
    pub mu: usize,
    /// λ, the weight of the consistency loss.
    #[serde(default = "default_lambda")]
    pub lambda: f64,
    /// Softmax temperature of the consistency target (< 1 sharpens; 1 leaves it).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Unlabelled images whose weak-view confidence (largest class probability) is
    /// not above this are left out of the consistency loss (0 keeps all).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Training-signal annealing of the supervised loss.
    #[serde(default)]
    pub tsa: Tsa,
    /// Optimiser steps per epoch (evaluation, metrics and checkpoints happen per
    /// epoch); by default one pass over the labelled subset. Both data streams run
    /// on across epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_epoch: Option<usize>,
}

fn default_mu() -> usize {
    7
}
fn default_lambda() -> f64 {
    1.0
}
fn default_temperature() -> f64 {
    0.4
}
fn default_threshold() -> f64 {
    0.8
}

/// Training-signal annealing (UDA §3.3): the schedule of the threshold above which a
/// labelled example's correct-class probability removes it from the supervised loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tsa {
    /// No annealing: every labelled example counts.
    #[default]
    None,
    Linear,
    Log,
    Exp,
}

impl SemiConfig {
    /// Checks the values, naming the field, and that `augment` can make strong views.
    pub fn validate(&self, augment: &AugmentConfig) -> Result<()> {
        let plan = crate::augment::AugmentPlan::from_config(augment).context("augment")?;
        super::strong::StrongView::new(&plan)?;
        if self.labels == 0 {
            bail!("semi_supervised.labels: must be at least 1");
        }
        if self.mu > 64 {
            bail!("semi_supervised.mu: {} is out of range; expected 0..=64", self.mu);
        }
        if !(self.lambda.is_finite() && (0.0..=100.0).contains(&self.lambda)) {
            bail!("semi_supervised.lambda: {} is out of range; expected 0 <= lambda <= 100", self.lambda);
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0 && self.temperature <= 10.0) {
            bail!("semi_supervised.temperature: {} is out of range; expected 0 < temperature <= 10", self.temperature);
        }
        if !(self.threshold.is_finite() && (0.0..1.0).contains(&self.threshold)) {
            bail!("semi_supervised.threshold: {} is out of range; expected 0 <= threshold < 1", self.threshold);
        }
        if self.steps_per_epoch == Some(0) {
            bail!("semi_supervised.steps_per_epoch: must be at least 1 when given");
        }
        Ok(())
    }
}
