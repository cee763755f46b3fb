//! The optimiser a run configures (`optimizer.kind`): SGD with momentum ([`super::sgd`],
//! the seeds' classification recipes) or Adam ([`super::adam`], the Bag-of-Tricks
//! re-ID recipe of seed 003 §4.4). The loop steps and checkpoints either the same way.

use super::adam::{Adam, AdamConfig};
use super::config::{OptimizerConfig, OptimizerKind};
use super::sgd::{Sgd, SgdConfig};
use crate::models::params::PathStack;
use anyhow::Result;
use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;

/// A flattened tensor on the inner (non-autodiff) backend: parameters, gradients and
/// optimiser buffers as the element-wise update rules see them.
pub(super) type Flat<B> = Tensor<<B as AutodiffBackend>::InnerBackend, 1>;

/// Applies an element-wise update rule to every parameter of `module` that has a
/// gradient in `grads`; buffers (batch-norm statistics) and frozen parameters have none
/// and are left as they are. `rule(path, θ, ∇θ)` gets the parameter's path (the key of
/// its optimiser buffers) and θ and its gradient flattened, and returns the new θ.
pub(super) fn apply_update<B, M, F>(module: M, mut grads: GradientsParams, rule: F) -> M
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    F: FnMut(String, Flat<B>, Flat<B>) -> Flat<B>,
{
    module.map(&mut Update { grads: &mut grads, rule, stack: PathStack::default() })
}

struct Update<'a, F> {
    grads: &'a mut GradientsParams,
    rule: F,
    stack: PathStack,
}

impl<B: AutodiffBackend, F: FnMut(String, Flat<B>, Flat<B>) -> Flat<B>> ModuleMapper<B> for Update<'_, F> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.stack.enter(name);
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.stack.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<B::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let theta = tensor.inner();
        let shape = theta.shape();
        let n = shape.num_elements();
        let updated = (self.rule)(self.stack.path(), theta.reshape([n]), grad.reshape([n]));
        Param::from_mapped_value(id, Tensor::from_inner(updated.reshape(shape)).require_grad(), mapper)
    }
}

/// L2 weight decay as PyTorch's SGD and Adam apply it, added to the gradient:
/// `g ← ∇θ + λ·θ` (nothing when `λ = 0`).
pub(super) fn add_weight_decay<B: AutodiffBackend>(grad: Flat<B>, theta: &Flat<B>, lambda: f64) -> Flat<B> {
    if lambda > 0.0 {
        grad + theta.clone().mul_scalar(lambda)
    } else {
        grad
    }
}

/// One saved optimiser buffer as a flat tensor on `device`; `name` is its key in the
/// checkpoint, for the error.
pub(super) fn flat_from_data<B: AutodiffBackend>(name: &str, data: TensorData, device: &B::Device) -> Result<Flat<B>> {
    let values: Vec<f32> = data.convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{name}: {e:?}"))?;
    let n = values.len();
    Ok(Tensor::from_data(TensorData::new(values, [n]), device))
}

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
            Self::Sgd(o) => o.load_state(state, device),
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
