//! `occlude eval` of a re-ID checkpoint: the network rebuilt from the checkpoint and
//! ranked query against gallery exactly as the run's own evaluation does (rank-1/5/10
//! and mAP, [`super::ranking`]).

use super::{Reid, ReidNet};
use crate::models::params::load_named;
use crate::train::task::{Evaluation, Task};
use crate::train::{checkpoint, RunConfig};
use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use std::path::{Path, PathBuf};

/// The checkpoint tensor whose shape gives the number of training identities.
const CLASSIFIER: &str = "classifier.weight";

/// Rebuilds the re-ID network stored in `checkpoint_path` and evaluates it on the
/// query and gallery of its Market-1501 tree, or of `data` (another tree in the same
/// layout, e.g. for a cross-domain test). `batch_size` images per evaluation batch.
pub fn evaluate_checkpoint<B: AutodiffBackend>(
    checkpoint_path: &Path,
    data: Option<PathBuf>,
    batch_size: usize,
    device: &B::Device,
) -> Result<(RunConfig, Evaluation)> {
    let ck = checkpoint::load(checkpoint_path)?;
    let mut cfg = RunConfig::from_toml_str(&ck.config_toml, None).with_context(|| {
        format!("{}: the configuration stored in the checkpoint is invalid", checkpoint_path.display())
    })?;
    let Some(reid) = cfg.reid.as_mut() else {
        bail!("{}: not a re-ID checkpoint (its run has no [reid] section)", checkpoint_path.display())
    };
    // Every weight comes from the checkpoint: the backbone it started from is not read.
    reid.backbone_from = None;
    if let Some(d) = data {
        cfg.data.path = Some(d);
    }
    cfg.loader.eval_batch_size = batch_size;
    let mut task = Reid::<B>::new(&cfg, device)?;
    // The classifier is not used to rank, but its size is that of the training set the
    // checkpoint saw, which another tree's need not match.
    let identities = ck
        .model
        .get(CLASSIFIER)
        .and_then(|t| t.shape.as_slice().get(1).copied())
        .with_context(|| format!("{}: no {CLASSIFIER} tensor", checkpoint_path.display()))?;
    let model = ReidNet::<B::InnerBackend>::new(&task.arch, 3, identities, device);
    let model = load_named(model, ck.model).with_context(|| format!("loading {}", checkpoint_path.display()))?;
    let evaluation = task.evaluate(&model, 0)?;
    Ok((cfg, evaluation))
}
