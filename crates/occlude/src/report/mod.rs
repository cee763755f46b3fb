//! Results on disk: per-epoch metrics as JSON lines, a final `summary.json`, and
//! training-curve plots.
//!
//! Papers: the figures the seeds' tables report (top-1/top-5, [seed 000] §4,
//! [seed 003] §4; clean training accuracy, [seed 003] Fig. 2).
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

pub mod plot;

use crate::io::{write_atomic, write_json_atomic};
use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
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
    /// Loss on the evaluation split (`null`: the task measures none).
    #[serde(deserialize_with = "nan_if_null")]
    pub test_loss: f64,
    /// Top-1 accuracy on the evaluation split, a fraction in [0, 1].
    #[serde(deserialize_with = "nan_if_null")]
    pub test_top1: f64,
    /// Top-5 accuracy on the evaluation split, a fraction in [0, 1].
    #[serde(deserialize_with = "nan_if_null")]
    pub test_top5: f64,
    /// Training wall time of the epoch (seconds, evaluation excluded).
    pub train_seconds: f64,
    /// Training images per second (every image the network saw, copies included).
    pub images_per_second: f64,
    /// Further figures by name: a task's per-step metrics averaged over the epoch
    /// (e.g. `consistency_loss`) and its evaluation figures (e.g. `clean_train_top1`,
    /// the top-1 accuracy on un-augmented training images with `train.clean_train_eval`).
    /// Absent when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "map_nan_if_null")]
    pub extra: BTreeMap<String, f64>,
}

/// Reads a number written by serde_json, which writes NaN (a figure a task does not
/// measure) as `null`.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn map_nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
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
    #[serde(deserialize_with = "nan_if_null")]
    pub top1: f64,
    /// Final top-5 accuracy on the evaluation split, a fraction in [0, 1].
    #[serde(deserialize_with = "nan_if_null")]
    pub top5: f64,
    #[serde(deserialize_with = "nan_if_null")]
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
    /// The final epoch's further figures ([`EpochMetrics::extra`]); absent when none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "map_nan_if_null")]
    pub extra: BTreeMap<String, f64>,
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

/// Reads `summary.json`.
pub fn read_summary(path: &Path) -> Result<Summary> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not an occlude summary", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            lr: 0.1,
            train_loss: 1.5,
            train_top1: 0.4,
            test_loss: 1.25,
            test_top1: 0.5,
            test_top5: 0.75,
            train_seconds: 2.0,
            images_per_second: 100.0,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn metrics_lines_keep_their_fields_and_round_trip_extras_and_missing_figures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let plain = metrics(1);
        let mut rich = metrics(2);
        rich.test_loss = f64::NAN;
        rich.extra.insert("clean_train_top1".into(), 0.625);
        rich.extra.insert("mask_rate".into(), f64::NAN);
        write_metrics(&path, &[plain.clone(), rich.clone()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        // Without extras a line is exactly the fields it always had.
        let keys: Vec<&str> = lines[0].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
        assert!(lines[0].get("extra").is_none());
        assert_eq!(lines[1]["extra"]["clean_train_top1"], 0.625);
        assert!(lines[1]["test_loss"].is_null() && lines[1]["extra"]["mask_rate"].is_null());
        let back = read_metrics(&path).unwrap();
        assert_eq!(back[0], plain);
        assert!(back[1].test_loss.is_nan() && back[1].extra["mask_rate"].is_nan());
        assert_eq!((back[1].test_top1, back[1].extra["clean_train_top1"]), (0.5, 0.625));
    }
}
