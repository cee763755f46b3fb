//! Building blocks shared by the architectures: batch normalisation with an explicit
//! mode, convolution helpers, and the forward context that exposes named taps.

use crate::kernels;
use burn::module::{Module, Param, RunningState};
use burn::nn::Initializer;
use burn::prelude::*;

/// What a forward pass should do besides computing logits.
pub struct Ctx<'a, B: Backend> {
    /// Batch-norm mode: `true` uses batch statistics and updates the running
    /// statistics (training); `false` uses the running statistics and changes nothing.
    pub train: bool,
    /// Whether stochastic layers (Shake-Shake, ShakeDrop, the dropout family) draw
    /// random factors (training) or use their expectation (evaluation). Separate from
    /// `train` so that a saliency pass can use batch statistics
    /// (`saliency_bn=batch`) while the network stays deterministic.
    pub stochastic: bool,
    /// Also compute the early-exit head's logits (seed 003 §3.1), when the model has one.
    pub early_head: bool,
    /// Called at every named tap; see [`TapHook`].
    pub hook: Option<&'a mut dyn TapHook<B>>,
    /// Run seed and optimiser step of this forward pass: every stochastic layer
    /// (Shake-Shake, ShakeDrop, Dropout, SpatialDropout, DropBlock) draws from
    /// `(seed, step, site)`, `site` counting the draws of the pass in forward order
    /// (see [`Ctx::draw_site`]).
    pub seed: u64,
    pub step: u64,
    /// Fraction of training done, in `[0, 1]`, for schedules (DropBlock's linear
    /// keep-probability ramp). `1` when unknown: the configured value applies.
    pub progress: f64,
    draws: u64,
}

impl<'a, B: Backend> Ctx<'a, B> {
    /// Training mode with the draws of seed 0, step 0 (tests, benchmarks); the
    /// training loop uses [`Ctx::train_at`].
    pub fn train() -> Self {
        Self::train_at(0, 0, 0)
    }

    /// Training mode for optimiser step `step` (0-based) of `total_steps` of the run
    /// seeded `seed`: stochastic layers draw from `(seed, step)`, schedules see
    /// `progress = step / total_steps` (1 when `total_steps` is 0).
    pub fn train_at(seed: u64, step: usize, total_steps: usize) -> Self {
        let progress = if total_steps == 0 { 1.0 } else { (step as f64 / total_steps as f64).min(1.0) };
        Self {
            train: true,
            stochastic: true,
            early_head: false,
            hook: None,
            seed,
            step: step as u64,
            progress,
            draws: 0,
        }
    }

    pub fn eval() -> Self {
        Self {
            train: false,
            stochastic: false,
            early_head: false,
            hook: None,
            seed: 0,
            step: 0,
            progress: 1.0,
            draws: 0,
        }
    }

    /// Evaluation with batch statistics in batch norm when `batch_stats` (which also
    /// updates the running statistics: use it on a copy of the model); stochastic
    /// layers stay at their expectation.
    pub fn eval_with_batch_stats(batch_stats: bool) -> Self {
        Self { train: batch_stats, ..Self::eval() }
    }

    /// The next draw site of this pass (0, 1, 2, … in forward order). The forward
    /// order of a network is fixed, so a site names the same layer at every step.
    pub fn draw_site(&mut self) -> u64 {
        self.draws += 1;
        self.draws - 1
    }

    /// Draw sites used so far in this pass.
    pub fn draws(&self) -> u64 {
        self.draws
    }

    /// A host generator for the next draw site, seeded by
    /// `(seed, Stream::Model, step, site)` like every other draw in occlude: for
    /// per-image scalars (Shake-Shake's α and β, ShakeDrop's gate), which are then
    /// identical on every backend.
    pub fn rng(&mut self) -> crate::rng::Rng {
        let site = self.draw_site();
        crate::rng::rng_for(self.seed, crate::rng::Stream::Model, self.step, site, 0)
    }

    /// Seeds the backend's generator for the next draw site with
    /// `derive_seed(seed, Stream::Model, step, site)`, for element-wise masks drawn on
    /// the device (a host draw would upload every mask, gigabytes per step for
    /// ResNet-50's DropBlock at 224 px). The masks are then a function of
    /// `(seed, step, site)` for a given backend.
    pub fn seed_backend(&mut self, device: &B::Device) {
        let site = self.draw_site();
        B::seed(device, crate::rng::derive_seed(self.seed, crate::rng::Stream::Model, self.step, site, 0));
    }

    pub fn with_hook(mut self, hook: &'a mut dyn TapHook<B>) -> Self {
        self.hook = Some(hook);
        self
    }

    pub fn with_early_head(mut self, on: bool) -> Self {
        self.early_head = on;
        self
    }

    /// Passes `x` through the hook registered for the tap `name` (built lazily).
    #[inline]
    pub fn tap(&mut self, name: impl FnOnce() -> String, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self.hook.as_mut() {
            Some(h) => h.tap(&name(), x),
            None => x,
        }
    }
}

/// Observes or modifies activations at named layers (`stem`, `layer1.0.conv1`, …).
///
/// Saliency at a layer uses this to capture the activation and to add a zero leaf
/// whose gradient is the gradient at that layer.
pub trait TapHook<B: Backend> {
    fn tap(&mut self, name: &str, x: Tensor<B, 4>) -> Tensor<B, 4>;
}

/// No hook: every activation passes unchanged (`model.forward_tapped(x, &mut ())`).
impl<B: Backend> TapHook<B> for () {
    fn tap(&mut self, _: &str, x: Tensor<B, 4>) -> Tensor<B, 4> {
        x
    }
}

/// Batch normalisation over `N×H×W` with PyTorch's semantics: the batch variance is
/// biased for normalising and unbiased for the running estimate, and the running
/// statistics move by `momentum` (0.1) per training step.
///
/// Unlike `burn::nn::BatchNorm`, the mode is an argument rather than a property of
/// the backend, so a saliency pass can run on the autodiff backend with frozen
/// statistics.
#[derive(Module, Debug)]
pub struct BatchNorm<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    momentum: f64,
    epsilon: f64,
}

impl<B: Backend> BatchNorm<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Initializer::Ones.init([channels], device),
            beta: Initializer::Zeros.init([channels], device),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// `relu(forward(x, train))`: the batch norm + ReLU pair every network uses, in
    /// one pass ([`crate::kernels::batch_norm`]).
    pub fn forward_relu(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 4> {
        self.run(x, train, true, None)
    }

    pub fn forward(&self, x: Tensor<B, 4>, train: bool) -> Tensor<B, 4> {
        self.run(x, train, false, None)
    }

    /// `relu(forward(x, train) + shortcut)`: the tail of a residual block, in one pass.
    pub fn forward_add_relu(&self, x: Tensor<B, 4>, shortcut: Tensor<B, 4>, train: bool) -> Tensor<B, 4> {
        self.run(x, train, true, Some(shortcut))
    }

    fn run(&self, x: Tensor<B, 4>, train: bool, relu: bool, residual: Option<Tensor<B, 4>>) -> Tensor<B, 4> {
        let params = kernels::NormParams {
            gamma: self.gamma.val(),
            beta: self.beta.val(),
            running_mean: self.running_mean.value_sync(),
            running_var: self.running_var.value_sync(),
            epsilon: self.epsilon,
        };
        let (y, stats) = kernels::batch_norm(x, &params, train, relu, residual);
        if let Some(s) = stats {
            let m = self.momentum;
            self.running_mean.update(params.running_mean.mul_scalar(1.0 - m) + s.mean.mul_scalar(m));
            self.running_var.update(params.running_var.mul_scalar(1.0 - m) + s.unbiased_var.mul_scalar(m));
        }
        y
    }
}

/// A 2-D convolution (no groups, no dilation): the one convolution layer every model
/// uses, so that its forward pass has one implementation to optimise. The tensors
/// are named as `burn::nn::conv::Conv2d`'s and PyTorch's (`weight`
/// `[out, in, kh, kw]`, `bias` `[out]`).
#[derive(Module, Debug)]
pub struct Conv<B: Backend> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl<B: Backend> Conv<B> {
    /// A `kh × kw` convolution from `in_ch` to `out_ch` channels; the weight is drawn
    /// from `init` (fan-in `in_ch·kh·kw`, fan-out `out_ch·kh·kw`), the bias, if any,
    /// uniformly in `±1/√fan_in` (PyTorch's default).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        bias: bool,
        init: &Initializer,
        device: &B::Device,
    ) -> Self {
        let fan_in = in_ch * kernel[0] * kernel[1];
        let fan_out = out_ch * kernel[0] * kernel[1];
        let weight = init.init_with([out_ch, in_ch, kernel[0], kernel[1]], Some(fan_in), Some(fan_out), device);
        let bias = bias.then(|| {
            let bound = 1.0 / (fan_in as f64).sqrt();
            Initializer::Uniform { min: -bound, max: bound }.init([out_ch], device)
        });
        Self { weight, bias, stride, padding }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        kernels::conv2d(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()), self.stride, self.padding)
    }

    /// `[out, in, kh, kw]`.
    pub fn shape(&self) -> [usize; 4] {
        self.weight.val().dims()
    }
}

/// A bias-free `k×k` convolution with padding `k/2`, initialised as torchvision's
/// ResNets are: Kaiming normal, fan-out, ReLU gain.
pub fn conv<B: Backend>(in_ch: usize, out_ch: usize, k: usize, stride: usize, device: &B::Device) -> Conv<B> {
    let p = k / 2;
    let init = Initializer::KaimingNormal { gain: 2f64.sqrt(), fan_out_only: true };
    Conv::new(in_ch, out_ch, [k, k], [stride, stride], [p, p], false, &init, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{CpuAutodiff, CpuBackend};

    #[test]
    fn batch_norm_train_normalises_and_updates_running_stats_like_pytorch() {
        let device = Default::default();
        let bn = BatchNorm::<CpuBackend>::new(2, &device);
        // Channel 0 holds 0..8, channel 1 holds 10 everywhere.
        let mut v = Vec::new();
        for n in 0..2 {
            for c in 0..2 {
                for i in 0..4 {
                    v.push(if c == 0 { (n * 4 + i) as f32 } else { 10.0 });
                }
            }
        }
        let x = Tensor::<CpuBackend, 1>::from_floats(v.as_slice(), &device).reshape([2, 2, 2, 2]);
        let y = bn.forward(x.clone(), true);
        let y0: Vec<f32> = y.clone().slice([0..2, 0..1]).into_data().to_vec().unwrap();
        let mean: f32 = y0.iter().sum::<f32>() / 8.0;
        let var: f32 = y0.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / 8.0;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3, "{mean} {var}");
        // Running mean 0.1·3.5; running var 0.9 + 0.1·(unbiased var of 0..8 = 6).
        let rm: Vec<f32> = bn.running_mean.value_sync().into_data().to_vec().unwrap();
        let rv: Vec<f32> = bn.running_var.value_sync().into_data().to_vec().unwrap();
        assert!((rm[0] - 0.35).abs() < 1e-6 && (rm[1] - 1.0).abs() < 1e-6, "{rm:?}");
        assert!((rv[0] - 1.5).abs() < 1e-5 && (rv[1] - 0.9).abs() < 1e-6, "{rv:?}");
        // Eval mode uses the running statistics and leaves them alone.
        let before = bn.running_mean.value_sync().into_data();
        let e = bn.forward(x, false);
        assert_eq!(bn.running_mean.value_sync().into_data(), before);
        let e0: f32 = e.slice([0..1, 0..1, 0..1, 0..1]).into_scalar();
        assert!((e0 - (0.0 - 0.35) / (1.5f32 + 1e-5).sqrt()).abs() < 1e-5);
    }

    #[test]
    fn eval_mode_on_autodiff_backend_does_not_touch_running_stats() {
        let device = Default::default();
        let bn = BatchNorm::<CpuAutodiff>::new(3, &device);
        let x = Tensor::<CpuAutodiff, 4>::ones([2, 3, 2, 2], &device).require_grad();
        let before = bn.running_var.value_sync().into_data();
        let y = bn.forward(x.clone(), false).sum();
        let g = x.grad(&y.backward()).unwrap();
        assert_eq!(bn.running_var.value_sync().into_data(), before);
        let g0: f32 = g.slice([0..1, 0..1, 0..1, 0..1]).into_scalar();
        assert!((g0 - 1.0 / (1.0f32 + 1e-5).sqrt()).abs() < 1e-5);
    }
}
