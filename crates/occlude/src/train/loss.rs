//! Cross-entropy against hard, smoothed or soft (mixed) targets.

use crate::augment::Targets;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Mean cross-entropy `−Σ_k q_k log softmax(z)_k` over the batch.
///
/// Hard labels are turned into `q = (1 − ε)·onehot + ε/K` (label smoothing, Szegedy
/// et al.; seed 000 §4.5 uses ε = 0.1); soft targets (CutMix's `λ y + (1 − λ) y'`) are
/// smoothed the same way.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: &Targets<B>, smoothing: f64) -> Tensor<B, 1> {
    let [n, k] = logits.dims();
    let logp = log_softmax(logits, 1);
    let q = match targets {
        Targets::Hard(labels) => labels.clone().one_hot::<2>(k).float(),
        Targets::Soft(q) => q.clone(),
    };
    let q = if smoothing > 0.0 { q.mul_scalar(1.0 - smoothing).add_scalar(smoothing / k as f64) } else { q };
    (q * logp).sum().neg().div_scalar(n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    #[test]
    fn matches_hand_computed_values() {
        let device = Default::default();
        let z = Tensor::<CpuBackend, 2>::from_floats([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], &device);
        let y = Tensor::<CpuBackend, 1, Int>::from_ints([2, 0], &device);
        let lse1 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let want = ((lse1 - 3.0) + 3f64.ln()) / 2.0;
        let got: f32 = cross_entropy(z.clone(), &Targets::Hard(y.clone()), 0.0).into_scalar();
        assert!((got as f64 - want).abs() < 1e-5, "{got} {want}");
        // Smoothing: q = 0.9 onehot + 0.1/3.
        let row1: f64 =
            [1.0, 2.0, 3.0].iter().map(|v: &f64| (0.1 / 3.0 + if *v == 3.0 { 0.9 } else { 0.0 }) * (lse1 - v)).sum();
        let want = (row1 + 3f64.ln()) / 2.0;
        let got: f32 = cross_entropy(z.clone(), &Targets::Hard(y), 0.1).into_scalar();
        assert!((got as f64 - want).abs() < 1e-5, "{got} {want}");
        // Soft targets equal to one-hot give the hard loss.
        let q = Tensor::<CpuBackend, 2>::from_floats([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], &device);
        let soft: f32 = cross_entropy(z, &Targets::Soft(q), 0.0).into_scalar();
        assert!((soft as f64 - ((lse1 - 3.0) + 3f64.ln()) / 2.0).abs() < 1e-5);
    }

    /// Label smoothing composes with CutMix's soft targets and with joint training:
    /// smoothing is affine with weights summing to one, so the loss of a mixed
    /// target is the mixture of the smoothed hard losses, and a joint batch
    /// (clean copy + CutMix copy) averages its two halves.
    #[test]
    fn smoothing_composes_with_soft_targets_and_joint_batches() {
        let device = Default::default();
        let (eps, lam) = (0.1, 0.3);
        let z = Tensor::<CpuBackend, 2>::from_floats([[0.5, -1.0, 2.0, 0.0], [1.5, 0.2, -0.3, 0.9]], &device);
        let hard = |row: usize, label: i64| -> f64 {
            let y = Tensor::<CpuBackend, 1, Int>::from_ints([label], &device);
            cross_entropy(z.clone().narrow(0, row, 1), &Targets::Hard(y), eps).into_scalar() as f64
        };
        // Row 0: the clean copy of an image of class 2; row 1: its CutMix copy,
        // λ·class 2 + (1 − λ)·class 0.
        let q = Tensor::<CpuBackend, 2>::from_floats([[0.0, 0.0, 1.0, 0.0], [1.0 - lam, 0.0, lam, 0.0]], &device);
        let got = cross_entropy(z.clone(), &Targets::Soft(q), eps).into_scalar() as f64;
        let want = (hard(0, 2) + lam * hard(1, 2) + (1.0 - lam) * hard(1, 0)) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} {want}");
        // Smoothing is applied once: ε = 0 on pre-smoothed targets gives the same loss.
        let k = 4.0;
        let pre = Tensor::<CpuBackend, 2>::from_floats(
            [[0.0, 0.0, 1.0, 0.0], [1.0 - lam, 0.0, lam, 0.0]].map(|r| r.map(|v| v * (1.0 - eps) + eps / k)),
            &device,
        );
        let again = cross_entropy(z, &Targets::Soft(pre), 0.0).into_scalar() as f64;
        assert!((again - got).abs() < 1e-5, "{again} {got}");
    }
}
