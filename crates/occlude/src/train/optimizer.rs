//! The optimiser a run configures (`optimizer.kind`): SGD with momentum ([`super::sgd`],
//! the seeds' classification recipes) or Adam ([`super::adam`], the Bag-of-Tricks
//! re-ID recipe of seed 003 §4.4). The loop steps and checkpoints either the same way.

use super::adam::{Adam, AdamConfig};
use super::config::{OptimizerConfig, OptimizerKind};
use super::sgd::{Sgd, SgdConfig};
use anyhow::Result;
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;

/// What a checkpoint saves of an optimiser: its buffers by name.
pub trait OptimizerState {
    fn state(&self) -> Vec<(String, TensorData)>;
}

impl<B: AutodiffBackend> OptimizerState for Sgd<B> {
    fn state(&self) -> Vec<(String, TensorData)> {
        Sgd::state(self)
    }
}

impl<B: AutodiffBackend> OptimizerState for Adam<B> {
    fn state(&self) -> Vec<(String, TensorData)> {
        Adam::state(self)
    }
}

/// SGD or Adam.
pub enum Optimizer<B: AutodiffBackend> {
    Sgd(Sgd<B>),
    Adam(Adam<B>),
}

impl<B: AutodiffBackend> Optimizer<B> {
    pub fn new(c: &OptimizerConfig) -> Self {
        match c.kind {
            OptimizerKind::Sgd => {
                Self::Sgd(Sgd::new(SgdConfig { momentum: c.momentum, nesterov: c.nesterov, weight_decay: c.weight_decay }))
            }
            OptimizerKind::Adam => Self::Adam(Adam::new(AdamConfig {
                beta1: c.betas[0],
                beta2: c.betas[1],
                epsilon: c.eps,
                weight_decay: c.weight_decay,
            })),
        }
    }

    /// One update with learning rate `lr`.
    pub fn step<M: AutodiffModule<B>>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Sgd(o) => o.step(lr, module, grads),
            Self::Adam(o) => o.step(lr, module, grads),
        }
    }

    /// Restores the buffers a checkpoint holds.
    pub fn load_state(&mut self, state: Vec<(String, TensorData)>, device: &B::Device) -> Result<()> {
        match self {
            Self::Sgd(o) => {
                o.load_state(state, device);
                Ok(())
            }
            Self::Adam(o) => o.load_state(state, device),
        }
    }
}

impl<B: AutodiffBackend> OptimizerState for Optimizer<B> {
    fn state(&self) -> Vec<(String, TensorData)> {
        match self {
            Self::Sgd(o) => o.state(),
            Self::Adam(o) => o.state(),
        }
    }
}
