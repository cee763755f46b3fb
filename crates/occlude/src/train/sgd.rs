//! Stochastic gradient descent with momentum, exactly as PyTorch's `torch.optim.SGD`
//! (dampening 0), which the seeds' recipes use:
//!
//! ```text
//! g ← ∇θ + λ·θ                       (weight decay λ)
//! v ← μ·v + g        (v ← g on the first step)
//! g ← g + μ·v  if Nesterov, else g ← v
//! θ ← θ − η·g
//! ```
//!
//! The momentum buffers are keyed by parameter path, so they can be saved in a
//! checkpoint and restored into a freshly built model.

use super::optimizer::{add_weight_decay, apply_update, flat_from_data, Flat};
use anyhow::Result;
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use std::collections::HashMap;

/// SGD hyper-parameters (the learning rate comes from the schedule at each step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

/// The optimiser and its momentum buffers (flattened, on the training device).
pub struct Sgd<B: AutodiffBackend> {
    pub config: SgdConfig,
    velocity: HashMap<String, Flat<B>>,
}

impl<B: AutodiffBackend> Sgd<B> {
    pub fn new(config: SgdConfig) -> Self {
        Self { config, velocity: HashMap::new() }
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step<M: AutodiffModule<B>>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        apply_update(module, grads, |path, theta, grad| self.update(lr, path, theta, grad))
    }

    /// The update of one parameter (the recurrence in the module docs).
    fn update(&mut self, lr: f64, path: String, theta: Flat<B>, grad: Flat<B>) -> Flat<B> {
        let c = self.config;
        let mut g = add_weight_decay::<B>(grad, &theta, c.weight_decay);
        if c.momentum > 0.0 {
            let v = match self.velocity.remove(&path) {
                Some(v) => v.mul_scalar(c.momentum) + g.clone(),
                None => g.clone(),
            };
            g = if c.nesterov { g + v.clone().mul_scalar(c.momentum) } else { v.clone() };
            self.velocity.insert(path, v);
        }
        theta - g.mul_scalar(lr)
    }

    /// Momentum buffers by parameter path, for checkpoints.
    pub fn state(&self) -> Vec<(String, TensorData)> {
        let mut v: Vec<_> = self.velocity.iter().map(|(k, t)| (k.clone(), t.to_data())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Restores momentum buffers saved by [`state`](Self::state).
    pub fn load_state(&mut self, state: Vec<(String, TensorData)>, device: &B::Device) -> Result<()> {
        self.velocity = state
            .into_iter()
            .map(|(k, d)| Ok((k.clone(), flat_from_data::<B>(&k, d, device)?)))
            .collect::<Result<_>>()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::*;

    type AD = CpuAutodiff;

    #[derive(Module, Debug)]
    struct Net<B: Backend> {
        lin: Linear<B>,
    }

    fn weights(m: &Net<AD>) -> Vec<f32> {
        m.lin.weight.val().into_data().to_vec().unwrap()
    }

    /// Reference: PyTorch's SGD recurrence on scalars, written out by hand.
    fn reference(w0: &[f32], grads: &[Vec<f32>], lr: f32, mu: f32, wd: f32, nesterov: bool) -> Vec<f32> {
        let mut w = w0.to_vec();
        let mut v: Option<Vec<f32>> = None;
        for g in grads {
            let d: Vec<f32> = g.iter().zip(&w).map(|(g, w)| g + wd * w).collect();
            let nv: Vec<f32> = match &v {
                Some(v) => v.iter().zip(&d).map(|(v, d)| mu * v + d).collect(),
                None => d.clone(),
            };
            let step: Vec<f32> =
                if nesterov { d.iter().zip(&nv).map(|(d, v)| d + mu * v).collect() } else { nv.clone() };
            w = w.iter().zip(&step).map(|(w, s)| w - lr * s).collect();
            v = Some(nv);
        }
        w
    }

    #[test]
    fn matches_pytorch_recurrence_with_and_without_nesterov() {
        for nesterov in [false, true] {
            let device = Default::default();
            let mut net = Net { lin: LinearConfig::new(3, 2).with_bias(false).init(&device) };
            let w0 = weights(&net);
            let mut sgd = Sgd::<AD>::new(SgdConfig { momentum: 0.9, nesterov, weight_decay: 0.01 });
            let mut grads_seen = Vec::new();
            for step in 0..3 {
                let x = Tensor::<AD, 2>::from_floats([[1.0, -2.0, 0.5 + step as f32]], &device);
                let loss = net.lin.forward(x).powi_scalar(2).sum();
                let g = loss.backward();
                grads_seen.push(net.lin.weight.val().grad(&g).unwrap().into_data().to_vec::<f32>().unwrap());
                let gp = GradientsParams::from_grads::<AD, _>(g, &net);
                net = sgd.step(0.05, net, gp);
            }
            let want = reference(&w0, &grads_seen, 0.05, 0.9, 0.01, nesterov);
            for (a, b) in weights(&net).iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "nesterov={nesterov}: {a} vs {b}");
            }
            assert_eq!(sgd.state().len(), 1);
            assert_eq!(sgd.state()[0].0, "lin.weight");
        }
    }
}
