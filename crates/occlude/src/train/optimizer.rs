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
            OptimizerKind::Sgd => Self::Sgd(Sgd::new(SgdConfig {
                momentum: c.momentum,
                nesterov: c.nesterov,
                weight_decay: c.weight_decay,
            })),
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

#[cfg(test)]
mod tests {
    use crate::train::config::OptimizerKind;
    use crate::train::RunConfig;

    const BASE: &str = "epochs = 1\noutput_dir = \"out\"\n[data]\nkind = \"embedded\"\n[model]\narch = \"resnet8\"\n";

    #[test]
    fn adam_is_chosen_by_kind_and_sgd_configs_save_as_before() {
        // An SGD run's saved config has no new keys, so runs saved before Adam existed
        // still resume (resuming compares the saved text).
        let sgd = RunConfig::from_toml_str(BASE, None).unwrap();
        let text = sgd.to_toml().unwrap();
        let new_keys = ["kind = \"sgd\"", "betas", "eps "];
        assert!(!text.lines().any(|l| new_keys.iter().any(|k| l.starts_with(k))), "{text}");
        let adam =
            RunConfig::from_toml_str(&format!("{BASE}[optimizer]\nkind = \"adam\"\nlr = 3.5e-4\n"), None).unwrap();
        assert_eq!(
            (adam.optimizer.kind, adam.optimizer.betas, adam.optimizer.eps),
            (OptimizerKind::Adam, [0.9, 0.999], 1e-8)
        );
        let again = RunConfig::from_toml_str(&adam.to_toml().unwrap(), None).unwrap();
        assert_eq!(again, adam);
        let e = format!(
            "{:#}",
            RunConfig::from_toml_str(&format!("{BASE}[optimizer]\nkind = \"adamw\"\n"), None).unwrap_err()
        );
        assert!(e.contains("adamw"), "{e}");
        let e = format!("{:#}", adam.with_overrides(&["optimizer.betas=[0.9, 1.5]".into()]).unwrap_err());
        assert!(e.contains("optimizer.betas"), "{e}");
    }
}
