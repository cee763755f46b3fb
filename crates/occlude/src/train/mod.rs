//! Training: a loop that is the same for every task ([`runner`]: SGD with the
//! configured schedule, evaluation every epoch, metrics, plots and atomic checkpoints,
//! resumable at any epoch or checkpointed step) and the tasks it trains ([`task`]:
//! what a step computes and reports; [`classification`] is the supervised task of
//! both seeds). [`evaluate`](mod@evaluate) and [`stethoscope`] evaluate checkpoints, the latter on
//! occluded images.
//!
//! Papers: the optimisation recipes of [seed 000] §4.1 (SGD, step schedule) and
//! [seed 003] §4.1 (SGD, cosine schedule), joint training ([seed 000] §3, §4.3) and
//! the early loss ([seed 003] §3.1).
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

pub mod adam;
pub mod checkpoint;
pub mod classification;
pub mod config;
pub mod evaluate;
pub mod loss;
pub mod metrics;
pub mod optimizer;
pub mod reid;
pub mod runner;
pub mod schedule;
pub mod semi;
pub mod sgd;
pub mod stethoscope;
pub mod task;

pub use config::RunConfig;
pub use evaluate::{eval_loader, evaluate, evaluate_checkpoint, to_device};
pub use task::{Evaluation, StepInfo, StepOutput, Task};

use crate::report::Summary;
use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Trains the run `cfg` describes on `device`, returning its summary.
pub fn train<B: AutodiffBackend>(cfg: &RunConfig, device: &B::Device, opts: &TrainOptions) -> Result<Summary> {
    // The task a configuration selects: semi-supervised with a [semi_supervised]
    // section, re-identification with a [reid] section, classification otherwise.
    if let Some(s) = &cfg.semi_supervised {
        return runner::run(cfg, device, opts, || semi::Uda::<B>::new(cfg, s, device));
    }
    if cfg.reid.is_some() {
        return runner::run(cfg, device, opts, || reid::Reid::<B>::new(cfg, device));
    }
    runner::run(cfg, device, opts, || classification::Classification::<B>::new(cfg, device))
}

/// How `occlude train` treats an existing output directory and the terminal.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue from the checkpoint in the output directory.
    pub resume: bool,
    /// Start over even if the output directory holds another run.
    pub force: bool,
    /// No progress bar or per-epoch lines.
    pub quiet: bool,
    /// Name of the device, for the summary.
    pub device_name: String,
    /// When set (by a Ctrl-C handler), the run stops after the current step and
    /// writes a checkpoint; [`Interrupted`] is returned.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The error returned when a run stopped on request after writing a checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("interrupted after step {step} (epoch {epoch}, batch {batch}); checkpoint written to {path}; continue with --resume")]
pub struct Interrupted {
    pub step: usize,
    pub epoch: usize,
    pub batch: usize,
    pub path: PathBuf,
}

/// Files of a run directory.
pub struct RunPaths {
    pub dir: PathBuf,
}

impl RunPaths {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.json")
    }
    pub fn curves(&self) -> PathBuf {
        self.dir.join("curves.png")
    }
}

#[cfg(test)]
mod tests;
