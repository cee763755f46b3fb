//! CPU kernels for the operations that dominate a training step — convolution and
//! batch normalisation (+ ReLU) — on burn's `flex` backend, with and without autodiff.
//!
//! Why: burn 0.21's `flex` computes a convolution's weight gradient as a convolution
//! whose kernel is the whole output gradient, and its input gradient as a transposed
//! convolution, with layout copies around both; a ResNet-20 step spent most of its
//! time there on about one core (BENCHMARKS.md, "Where the time goes"). Here both
//! gradients come from one sweep over the batch with `im2col` + `gemm` ([`conv`]), and
//! batch norm + ReLU is two passes over the data forward and two backward ([`norm`]).
//!
//! How: the models call [`conv2d`] and [`batch_norm`] with any `B: Backend`. When `B`
//! is `Flex` or `Autodiff<Flex>` and the data is `f32`, the call goes to these
//! kernels (a custom autodiff node on `Autodiff<Flex>`, whose backward pass calls the
//! kernels too); otherwise — CUDA, other dtypes (the f64 finite-difference tests) —
//! it is burn's own ops, unchanged. Setting the environment variable
//! `OCCLUDE_KERNELS=burn` forces burn's ops everywhere (for comparisons).
//!
//! Papers: none directly; they make the CPU-sized runs of the seeds' models
//! ([seed 000] §4.1, [seed 003] §4.1) fast enough to train in the demo and the tests.
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

mod flex;
pub use occlude_kernels::{conv, direct, norm};
pub mod profile;

use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::TensorData;
use std::any::Any;
use std::sync::OnceLock;

/// Whether occlude's CPU kernels are used where they apply (default), or burn's ops
/// everywhere (`OCCLUDE_KERNELS=burn`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("OCCLUDE_KERNELS").map(|v| v != "burn").unwrap_or(true))
}

/// `s` as a `T` when `S` and `T` are the same type (run-time specialisation of
/// generic code to a concrete backend).
fn cast<S: 'static, T: 'static>(s: S) -> Result<T, S> {
    let boxed: Box<dyn Any> = Box::new(s);
    match boxed.downcast::<T>() {
        Ok(t) => Ok(*t),
        Err(b) => Err(*b.downcast::<S>().expect("the value was an S")),
    }
}

/// A 2-D convolution without groups or dilation: `x` `N × C_in × H × W`, `weight`
/// `C_out × C_in × k_h × k_w`, `bias` `C_out`.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<B, 4> {
    if enabled() && x.dtype() == burn::tensor::DType::F32 {
        match flex::conv2d::<B>(x, weight, bias, stride, padding) {
            Ok(y) => return y,
            Err((x, weight, bias)) => {
                return burn_conv2d(x, weight, bias, ConvOptions::new(stride, padding, [1, 1], 1))
            }
        }
    }
    burn_conv2d(x, weight, bias, ConvOptions::new(stride, padding, [1, 1], 1))
}

/// The per-channel parameters and statistics of a batch-norm layer.
pub struct NormParams<B: Backend> {
    pub gamma: Tensor<B, 1>,
    pub beta: Tensor<B, 1>,
    pub running_mean: Tensor<B, 1>,
    pub running_var: Tensor<B, 1>,
    pub epsilon: f64,
}

/// What a training-mode batch norm measured, for the running-statistics update:
/// the batch mean and the unbiased batch variance per channel.
pub struct BatchStats<B: Backend> {
    pub mean: Tensor<B, 1>,
    pub unbiased_var: Tensor<B, 1>,
}

/// Batch normalisation of `x` (`N × C × H × W`) over `N × H × W`, followed by a ReLU
/// when `relu`: with the batch statistics when `train` (returned, detached), with the
/// running statistics otherwise. PyTorch's semantics (biased variance for normalising,
/// unbiased for the running estimate). With `residual`, the output is
/// `relu(BN(x) + residual)` (the tail of a residual block; the ReLU is implied).
pub fn batch_norm<B: Backend>(
    x: Tensor<B, 4>,
    p: &NormParams<B>,
    train: bool,
    relu_after: bool,
    residual: Option<Tensor<B, 4>>,
) -> (Tensor<B, 4>, Option<BatchStats<B>>) {
    if enabled() && x.dtype() == burn::tensor::DType::F32 {
        match flex::batch_norm::<B>(x, p, train, relu_after, residual) {
            Ok(out) => return out,
            Err((x, r)) => return batch_norm_reference(x, p, train, relu_after, r),
        }
    }
    batch_norm_reference(x, p, train, relu_after, residual)
}

/// [`batch_norm`] with burn's tensor ops (any backend, any dtype).
pub fn batch_norm_reference<B: Backend>(
    x: Tensor<B, 4>,
    p: &NormParams<B>,
    train: bool,
    relu_after: bool,
    residual: Option<Tensor<B, 4>>,
) -> (Tensor<B, 4>, Option<BatchStats<B>>) {
    let [n, c, h, w] = x.dims();
    // Per-channel values are expanded to an `N×C×1×1` contiguous tensor before
    // broadcasting: that shape takes the CPU backend's vectorised per-row path,
    // where a `1×C×1×1` operand falls back to a strided loop ~100× slower.
    let per_row = |v: Tensor<B, 1>| v.reshape([1, c, 1, 1]).repeat_dim(0, n);
    let (xc, var, stats) = if train {
        let count = (n * h * w) as f64;
        let channel_sum = |t: Tensor<B, 4>| t.reshape([n, c, h * w]).sum_dim(2).sum_dim(0).reshape([c]);
        let mean = channel_sum(x.clone()).div_scalar(count);
        let xc = x - per_row(mean.clone());
        let var = channel_sum(xc.clone().square()).div_scalar(count);
        let unbiased = var.clone().detach().mul_scalar(count / (count - 1.0).max(1.0));
        (xc, var, Some(BatchStats { mean: mean.detach(), unbiased_var: unbiased }))
    } else {
        (x - per_row(p.running_mean.clone()), p.running_var.clone(), None)
    };
    let scale = var.add_scalar(p.epsilon).sqrt().recip() * p.gamma.clone();
    let y = xc * per_row(scale) + per_row(p.beta.clone());
    match residual {
        Some(r) => (relu(y + r), stats),
        None => (if relu_after { relu(y) } else { y }, stats),
    }
}

/// Host values of a small tensor.
fn host<B: Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().expect("f32 data")
}

/// A `[len]` tensor on `device` from host values.
fn device_vec<B: Backend>(v: Vec<f32>, device: &B::Device) -> Tensor<B, 1> {
    let len = v.len();
    Tensor::from_data(TensorData::new(v, [len]), device)
}

#[cfg(test)]
mod tests;

/// Makes the C allocator keep freed memory for reuse instead of returning it to the
/// system. A training step allocates and frees tensors of megabytes every step;
/// glibc serves those with fresh `mmap`s by default, so every step pays page faults
/// and page zeroing for its activations (measured: about a tenth of a CPU ResNet-20
/// step, BENCHMARKS.md). Call once at program start; the peak memory is then kept
/// for the life of the process. No effect outside glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}
