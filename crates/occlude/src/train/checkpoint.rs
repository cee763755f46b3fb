//! Checkpoints: one safetensors file holding the model weights, the optimiser's
//! momentum buffers, the run state (epoch, step, metrics so far) and the resolved
//! configuration, written atomically (temporary file, fsync, rename). Because it is
//! one file, weights and state can never disagree after a crash.

use super::metrics::EpochSums;
use super::optimizer::OptimizerState;
use crate::io::write_atomic;
use crate::models::params::named_tensors;
use crate::report::EpochMetrics;
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

const MODEL_PREFIX: &str = "model/";
const MOMENTUM_PREFIX: &str = "momentum/";
const STATE_KEY: &str = "occlude.state";
const CONFIG_KEY: &str = "occlude.config";

/// Where a run is and what it has measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs fully completed.
    pub epoch: usize,
    /// Batches completed in the current (incomplete) epoch.
    pub batch: usize,
    /// Optimiser steps taken in total.
    pub step: usize,
    /// Training sums of the current incomplete epoch.
    pub partial: EpochSums,
    /// Wall time of the current incomplete epoch so far (seconds).
    pub partial_seconds: f64,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
    /// Wall time spent training so far, across restarts (seconds).
    pub elapsed_seconds: f64,
    /// The task's own state ([`super::task::Task::state`]); absent when it has none.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub task: serde_json::Value,
}

/// The contents of a checkpoint file.
pub struct Checkpoint {
    pub model: HashMap<String, TensorData>,
    pub momentum: Vec<(String, TensorData)>,
    pub state: RunState,
    /// The resolved run configuration, as TOML.
    pub config_toml: String,
}

fn to_f32_bytes(data: &TensorData) -> Result<Vec<u8>> {
    let v: Vec<f32> = data.clone().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Writes a checkpoint of `model`, the optimiser's buffers (`sgd`: SGD's momentum or
/// Adam's moments) and `state` to `path` atomically.
pub fn save<B: AutodiffBackend, M: AutodiffModule<B>>(
    path: &Path,
    model: &M,
    sgd: &impl OptimizerState,
    state: &RunState,
    config_toml: &str,
) -> Result<()> {
    // `valid()` synchronises the batch-norm running statistics before they are read.
    let weights = named_tensors::<B::InnerBackend, _>(&model.valid());
    write(path, &weights, &sgd.state(), state, config_toml)
}

/// Writes a checkpoint from named tensors (model weights, momentum buffers) atomically:
/// what [`save`] does once the tensors are read, and what `occlude import` uses.
pub fn write(
    path: &Path,
    weights: &[(String, TensorData)],
    momentum: &[(String, TensorData)],
    state: &RunState,
    config_toml: &str,
) -> Result<()> {
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, data) in weights {
        entries.push((format!("{MODEL_PREFIX}{name}"), data.shape.to_vec(), to_f32_bytes(data)?));
    }
    for (name, data) in momentum {
        entries.push((format!("{MOMENTUM_PREFIX}{name}"), data.shape.to_vec(), to_f32_bytes(data)?));
    }
    // A finite loss does not make the weights after its update finite: never replace
    // the last good checkpoint with NaN or infinite values.
    for (name, _, bytes) in &entries {
        if let Some(v) =
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).find(|v| !v.is_finite())
        {
            anyhow::bail!(
                "training diverged at step {}: {name} holds {v}; not writing it, the last good checkpoint is kept at {}",
                state.step,
                path.display()
            );
        }
    }
    let views: Vec<(String, TensorView)> = entries
        .iter()
        .map(|(n, shape, bytes)| Ok((n.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes)?)))
        .collect::<Result<_>>()?;
    let metadata = HashMap::from([
        (STATE_KEY.to_string(), serde_json::to_string(state)?),
        (CONFIG_KEY.to_string(), config_toml.to_string()),
    ]);
    let bytes = safetensors::serialize(views, &Some(metadata))?;
    write_atomic(path, &bytes)
}

/// Reads a checkpoint written by [`save`].
pub fn load(path: &Path) -> Result<Checkpoint> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {name}"))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).with_context(|| format!("{name}: not a safetensors file"))?;
    let tensors = SafeTensors::deserialize(&bytes).with_context(|| format!("{name}: corrupt safetensors data"))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let state_json = metadata
        .get(STATE_KEY)
        .with_context(|| format!("{name}: no {STATE_KEY} metadata (not an occlude checkpoint)"))?;
    let state: RunState = serde_json::from_str(state_json).with_context(|| format!("{name}: bad {STATE_KEY}"))?;
    let config_toml = metadata.get(CONFIG_KEY).cloned().unwrap_or_default();
    let mut model = HashMap::new();
    let mut momentum = Vec::new();
    for (key, view) in tensors.tensors() {
        if view.dtype() != Dtype::F32 {
            bail!("{name}: tensor {key} has dtype {:?}, expected F32", view.dtype());
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let data = TensorData::new(values, view.shape().to_vec());
        if let Some(p) = key.strip_prefix(MODEL_PREFIX) {
            model.insert(p.to_string(), data);
        } else if let Some(p) = key.strip_prefix(MOMENTUM_PREFIX) {
            momentum.push((p.to_string(), data));
        } else {
            bail!("{name}: unexpected tensor {key}");
        }
    }
    Ok(Checkpoint { model, momentum, state, config_toml })
}
