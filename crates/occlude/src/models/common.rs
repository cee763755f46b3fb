//! Small pieces the architectures share: global pooling, fully connected layers
//! initialised as the reference code does, pooling that tolerates small maps, and
//! per-image scaling with different forward and backward factors (Shake-Shake,
//! ShakeDrop).

use super::layers::Ctx;
use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::TensorData;

/// A classifier split where KeepAugment's early-loss head sits (seed 003 §3.3 and §4:
/// an average pool and a linear head "after the first block of each network"): the
/// first part's output feeds the rest of the network and, when asked, the early head.
/// Each architecture says what its two parts compute; the forward passes through them
/// are written once here.
pub trait EarlyExit<B: Backend> {
    /// The stem and the first stage (block): the early head's input.
    fn head_input(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 4>;

    /// The rest of the network: from [`head_input`](Self::head_input)'s output to the logits.
    fn rest(&self, h: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Tensor<B, 2>;

    /// The early-exit head, if the network was built with one.
    fn early_head(&self) -> Option<&Linear<B>>;

    fn has_early_head(&self) -> bool {
        self.early_head().is_some()
    }

    /// Logits, and the early head's logits when `ctx.early_head` is set and the
    /// network has one.
    fn forward(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        let h = self.head_input(x, ctx);
        let early = self.early_head().filter(|_| ctx.early_head).map(|head| head.forward(global_pool(h.clone())));
        (self.rest(h, ctx), early)
    }

    /// Only the early head's logits: the first part and the head, all that the
    /// early-loss saliency approximation back-propagates through.
    fn forward_early(&self, x: Tensor<B, 4>, ctx: &mut Ctx<B>) -> Option<Tensor<B, 2>> {
        let head = self.early_head()?;
        Some(head.forward(global_pool(self.head_input(x, ctx))))
    }
}

/// Global average pooling to a `N×C` matrix.
pub fn global_pool<B: Backend>(h: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, _, _] = h.dims();
    adaptive_avg_pool2d(h, [1, 1]).reshape([n, c])
}

/// A fully connected layer with PyTorch's default initialisation (weight and bias
/// uniform in `±1/√fan_in`), as torchvision's AlexNet uses.
pub fn linear<B: Backend>(d_in: usize, d_out: usize, device: &B::Device) -> Linear<B> {
    LinearConfig::new(d_in, d_out).init(device)
}

/// A fully connected layer with PyTorch's default weight and a zero bias: the
/// classifier of the CIFAR reference code (WRN, Shake-Shake, PyramidNet), which
/// zero the bias after construction.
pub fn linear_zero_bias<B: Backend>(d_in: usize, d_out: usize, device: &B::Device) -> Linear<B> {
    let mut l = linear(d_in, d_out, device);
    l.bias = Some(Initializer::Zeros.init([d_out], device));
    l
}

/// A fully connected layer with weight `N(0, 0.01²)` and a zero bias, as torchvision
/// initialises VGG's classifier.
pub fn linear_vgg<B: Backend>(d_in: usize, d_out: usize, device: &B::Device) -> Linear<B> {
    let mut l = linear(d_in, d_out, device);
    l.weight = Initializer::Normal { mean: 0.0, std: 0.01 }.init_with([d_in, d_out], Some(d_in), Some(d_out), device);
    l.bias = Some(Initializer::Zeros.init([d_out], device));
    l
}

/// Input width of a linear layer, read without initialising it.
pub fn linear_in<B: Backend>(l: &Linear<B>) -> usize {
    l.weight.lazy_shape().dims::<2>()[0]
}

/// Output width of a linear layer, read without initialising it.
pub fn linear_out<B: Backend>(l: &Linear<B>) -> usize {
    l.weight.lazy_shape().dims::<2>()[1]
}

/// A max-pool of window `k` and stride `s` (no padding, floor mode, as torchvision's
/// AlexNet and VGG), skipped when the map is smaller than the window.
///
/// The papers' AlexNet and VGG are ImageNet networks: at 224 px no pool ever meets a
/// map smaller than its window and this is exactly torchvision's layer. On 28–32 px
/// inputs (Fashion-MNIST, CIFAR) the last pools would have no output at all and the
/// reference implementation fails; skipping them keeps every convolution and every
/// weight of the architecture and only stops downsampling a map that is already
/// smaller than one pooling window (VGG16 at 28 px: 28→14→7→3→1, the fifth pool
/// skipped).
pub fn max_pool_if_fits<B: Backend>(x: Tensor<B, 4>, k: usize, s: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    if h < k || w < k {
        return x;
    }
    max_pool2d(x, [k, k], [s, s], [0, 0], [1, 1], false)
}

/// A per-image factor as an `N×C×1×1` tensor of `like`'s dtype and device (the
/// contiguous shape the CPU backend broadcasts on its fast path).
pub fn per_image<B: Backend>(values: &[f64], like: &Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, _, _] = like.dims();
    assert_eq!(values.len(), n, "one factor per image");
    let data = TensorData::new(values.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n, 1, 1, 1]);
    Tensor::<B, 4>::from_data(data.convert_dtype(like.dtype()), &like.device()).repeat_dim(1, c)
}

/// `x` scaled by `forward[i]` in the forward pass and by `backward[i]` in the
/// backward pass, per image `i`:
///
/// `y = b·x + stopgrad((f − b)·x)`, so `y = f·x` and `∂y/∂x = b`.
///
/// This is the construction of the AutoAugment authors' ShakeDrop
/// (`x * rand_backward + stop_gradient(x * rand_forward - x * rand_backward)`) and is
/// equivalent to Gastaldi's and Yamada et al.'s custom backward functions.
pub fn scale_forward_backward<B: Backend>(x: Tensor<B, 4>, forward: &[f64], backward: &[f64]) -> Tensor<B, 4> {
    let f = per_image(forward, &x);
    let b = per_image(backward, &x);
    let diff = (x.clone() * (f - b.clone())).detach();
    x * b + diff
}

/// A trainable tensor's dims without initialising it (lazy parameters stay lazy,
/// so a model can be built just to count its parameters).
pub fn lazy_dims<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> [usize; D] {
    p.lazy_shape().dims::<D>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{CpuAutodiff, CpuBackend};

    #[test]
    fn forward_factor_in_the_forward_pass_backward_factor_in_the_gradient() {
        let device = Default::default();
        let x = Tensor::<CpuAutodiff, 4>::from_floats([[[[1.0, -2.0]]], [[[3.0, 0.5]]]], &device).require_grad();
        let w = Tensor::<CpuAutodiff, 4>::from_floats([[[[0.7, 1.1]]], [[[-0.3, 2.0]]]], &device);
        let y = scale_forward_backward(x.clone(), &[0.25, -0.8], &[0.6, 0.1]);
        let yv: Vec<f32> = y.clone().into_data().to_vec().unwrap();
        assert_eq!(yv, vec![0.25, -0.5, -2.4, -0.4]);
        let g: Vec<f32> = x.grad(&(y * w).sum().backward()).unwrap().into_data().to_vec().unwrap();
        let want = [0.6 * 0.7, 0.6 * 1.1, 0.1 * -0.3, 0.1 * 2.0];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn pools_that_do_not_fit_are_skipped() {
        let x = Tensor::<CpuBackend, 4>::ones([1, 2, 1, 1], &Default::default());
        assert_eq!(max_pool_if_fits(x, 2, 2).dims(), [1, 2, 1, 1]);
        let x = Tensor::<CpuBackend, 4>::ones([1, 2, 7, 7], &Default::default());
        assert_eq!(max_pool_if_fits(x, 2, 2).dims(), [1, 2, 3, 3]);
    }
}
