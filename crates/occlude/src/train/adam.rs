//! Adam (Kingma & Ba 2015, Algorithm 1) exactly as PyTorch's `torch.optim.Adam`
//! (L2 weight decay added to the gradient, no AMSGrad), the optimiser of the
//! Bag-of-Tricks re-ID baseline (seed 003 §4.4):
//!
//! ```text
//! g ← ∇θ + λ·θ                       (weight decay λ)
//! m ← β₁·m + (1 − β₁)·g
//! v ← β₂·v + (1 − β₂)·g²
//! θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//! ```
//!
//! The moments are keyed by parameter path (saved in checkpoints as `adam.m/<path>`,
//! `adam.v/<path>`, and the step count as `adam.t`), so a resumed run continues
//! exactly. `t` counts the optimiser's steps: every trained parameter gets a gradient
//! at every step in occlude's tasks, as PyTorch's per-parameter count then is.

use super::optimizer::{add_weight_decay, apply_update, flat_from_data, Flat};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use std::collections::HashMap;

/// Adam hyper-parameters (the learning rate comes from the schedule at each step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
}

/// First and second moment estimates of one parameter, flattened.
type Moments<B> = (Flat<B>, Flat<B>);

/// The optimiser and its moment estimates (flattened, on the training device).
pub struct Adam<B: AutodiffBackend> {
    pub config: AdamConfig,
    moments: HashMap<String, Moments<B>>,
    /// Steps taken.
    t: u64,
}

const M: &str = "adam.m/";
const V: &str = "adam.v/";
const T: &str = "adam.t";

impl<B: AutodiffBackend> Adam<B> {
    pub fn new(config: AdamConfig) -> Self {
        Self { config, moments: HashMap::new(), t: 0 }
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step<M2: AutodiffModule<B>>(&mut self, lr: f64, module: M2, grads: GradientsParams) -> M2 {
        self.t += 1;
        apply_update(module, grads, |path, theta, grad| self.update(lr, path, theta, grad))
    }

    /// The update of one parameter at step `t` (the recurrence in the module docs).
    fn update(&mut self, lr: f64, path: String, theta: Flat<B>, grad: Flat<B>) -> Flat<B> {
        let c = self.config;
        let g = add_weight_decay::<B>(grad, &theta, c.weight_decay);
        let (m, v) = self.moments.remove(&path).unwrap_or_else(|| (g.zeros_like(), g.zeros_like()));
        let m = m.mul_scalar(c.beta1) + g.clone().mul_scalar(1.0 - c.beta1);
        let v = v.mul_scalar(c.beta2) + g.powi_scalar(2).mul_scalar(1.0 - c.beta2);
        let t = self.t as i32;
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        let denom = v.clone().div_scalar(bc2).sqrt().add_scalar(c.epsilon);
        let update = m.clone().div_scalar(bc1).div(denom).mul_scalar(lr);
        self.moments.insert(path, (m, v));
        theta - update
    }

    /// Moments and step count by name, for checkpoints.
    pub fn state(&self) -> Vec<(String, TensorData)> {
        let mut out: Vec<_> = self
            .moments
            .iter()
            .flat_map(|(k, (m, v))| [(format!("{M}{k}"), m.to_data()), (format!("{V}{k}"), v.to_data())])
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if self.t > 0 {
            out.push((T.to_string(), TensorData::new(vec![self.t as f32], [1])));
        }
        out
    }

    /// Restores what [`state`](Self::state) returned; names it does not write are errors.
    pub fn load_state(&mut self, state: Vec<(String, TensorData)>, device: &B::Device) -> anyhow::Result<()> {
        let mut m = HashMap::new();
        let mut v = HashMap::new();
        for (k, d) in state {
            if k == T {
                let values: Vec<f32> = d.convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{k}: {e:?}"))?;
                self.t = values.first().copied().unwrap_or(0.0) as u64;
            } else if let Some(p) = k.strip_prefix(M) {
                m.insert(p.to_string(), flat_from_data::<B>(&k, d, device)?);
            } else if let Some(p) = k.strip_prefix(V) {
                v.insert(p.to_string(), flat_from_data::<B>(&k, d, device)?);
            } else {
                anyhow::bail!(
                    "optimizer state {k:?}: not Adam's (was the checkpoint written with optimizer.kind = \"sgd\"?)"
                );
            }
        }
        self.moments.clear();
        for (k, mk) in m {
            let vk = v.remove(&k).ok_or_else(|| anyhow::anyhow!("optimizer state: {V}{k} missing"))?;
            self.moments.insert(k, (mk, vk));
        }
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

    /// PyTorch's Adam recurrence on scalars, written out by hand.
    fn reference(w0: &[f32], grads: &[Vec<f32>], lr: f64, c: AdamConfig) -> Vec<f32> {
        let mut w: Vec<f64> = w0.iter().map(|&x| x as f64).collect();
        let (mut m, mut v) = (vec![0.0; w.len()], vec![0.0; w.len()]);
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..w.len() {
                let g = g[i] as f64 + c.weight_decay * w[i];
                m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * g;
                v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * g * g;
                let mh = m[i] / (1.0 - c.beta1.powi(t));
                let vh = v[i] / (1.0 - c.beta2.powi(t));
                w[i] -= lr * mh / (vh.sqrt() + c.epsilon);
            }
        }
        w.into_iter().map(|x| x as f32).collect()
    }

    #[test]
    fn matches_pytorch_recurrence_and_resumes_from_its_state() {
        let device = Default::default();
        let c = AdamConfig { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 5e-4 };
        let mut net = Net { lin: LinearConfig::new(3, 2).with_bias(false).init(&device) };
        let w0 = weights(&net);
        let mut adam = Adam::<AD>::new(c);
        let mut grads_seen = Vec::new();
        for step in 0..4 {
            if step == 2 {
                // A resumed optimiser: state written and read back.
                let mut fresh = Adam::<AD>::new(c);
                fresh.load_state(adam.state(), &device).unwrap();
                adam = fresh;
            }
            let x = Tensor::<AD, 2>::from_floats([[1.0, -2.0, 0.5 + step as f32]], &device);
            let loss = net.lin.forward(x).powi_scalar(2).sum();
            let g = loss.backward();
            grads_seen.push(net.lin.weight.val().grad(&g).unwrap().into_data().to_vec::<f32>().unwrap());
            let gp = GradientsParams::from_grads::<AD, _>(g, &net);
            net = adam.step(0.01, net, gp);
        }
        let want = reference(&w0, &grads_seen, 0.01, c);
        for (a, b) in weights(&net).iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let names: Vec<String> = adam.state().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["adam.m/lin.weight", "adam.v/lin.weight", "adam.t"]);
        assert!(Adam::<AD>::new(c)
            .load_state(vec![("lin.weight".into(), TensorData::new(vec![0f32], [1]))], &device)
            .is_err());
    }
}
