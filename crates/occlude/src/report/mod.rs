//! Results on disk: per-epoch metrics as JSON lines, a final `summary.json`, and
//! training-curve plots.

pub mod plot;

use crate::io::{write_atomic, write_json_atomic};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Mean training loss over the (augmented) training batches.
    pub train_loss: f64,
    /// Top-1 accuracy on the (augmented) training batches, a fraction.
    pub train_top1: f64,
    pub test_loss: f64,
    /// Top-1 accuracy on the evaluation split, a fraction in [0, 1].
    pub test_top1: f64,
    /// Top-5 accuracy on the evaluation split, a fraction in [0, 1].
    pub test_top5: f64,
    /// Training wall time of the epoch (seconds, evaluation excluded).
    pub train_seconds: f64,
    /// Training images per second (every image the network saw, copies included).
    pub images_per_second: f64,
}

/// The final result of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub model: String,
    pub dataset: String,
    pub augment: String,
    pub paradigm: String,
    pub epochs: usize,
    /// Final top-1 accuracy on the evaluation split, a fraction in [0, 1].
    pub top1: f64,
    /// Final top-5 accuracy on the evaluation split, a fraction in [0, 1].
    pub top5: f64,
    pub test_loss: f64,
    pub eval_samples: usize,
    /// Training wall time (seconds, across restarts).
    pub wall_seconds: f64,
    /// Mean training images per second.
    pub images_per_second: f64,
    pub device: String,
    pub seed: u64,
    /// Images replaced because they could not be decoded (`skip_bad_images`).
    pub bad_images_skipped: usize,
}

/// Rewrites `metrics.jsonl` from the full history (atomically, so a crash never leaves
/// a torn line and a resumed run never duplicates one).
pub fn write_metrics(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in history {
        text.push_str(&serde_json::to_string(m)?);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Reads `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
        .collect()
}

pub fn write_summary(path: &Path, summary: &Summary) -> Result<()> {
    write_json_atomic(path, summary)
}
