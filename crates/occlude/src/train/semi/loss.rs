//! UDA's objective (Xie et al. 2020, "Unsupervised Data Augmentation for Consistency
//! Training"), as seed 003 §4.3 trains it: supervised cross-entropy (optionally with
//! training-signal annealing) plus λ times a consistency loss between the prediction
//! on a weakly augmented unlabelled image, held fixed, and the prediction on its
//! strongly augmented view. One function per equation.

use super::config::Tsa;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// The consistency target of UDA (seed 003 §4.3; UDA §3.3 "sharpening predictions"):
/// `q = softmax(z_weak / T)` for the weak view's logits `z_weak`, *detached*, so that
/// no gradient reaches the weak branch (`p_θ̃`, "a fixed copy of the current
/// parameters"). Returned as `log q` (`N × K`).
pub fn sharpened_log_target<B: Backend>(weak_logits: Tensor<B, 2>, temperature: f64) -> Tensor<B, 2> {
    log_softmax(weak_logits.detach().div_scalar(temperature), 1)
}

/// UDA's confidence-based masking (seed 003 §4.3; UDA §3.3): 1 for the unlabelled
/// images whose weak-view prediction (unsharpened) has its largest class probability
/// above `threshold` β, 0 otherwise (`N`).
pub fn confidence_mask<B: Backend>(weak_logits: Tensor<B, 2>, threshold: f64) -> Tensor<B, 1> {
    let n = weak_logits.dims()[0];
    let confidence = softmax(weak_logits.detach(), 1).max_dim(1).reshape([n]);
    confidence.greater_elem(threshold).float()
}

/// The consistency loss of UDA (seed 003 §4.3, the second term of its objective):
/// `(1/N) Σ_n m_n · KL(q_n ‖ p_θ(·|x′_n))` with `q_n` the sharpened weak-view
/// target ([`sharpened_log_target`]), `m_n` the confidence mask ([`confidence_mask`])
/// and `p_θ(·|x′_n) = softmax(z_strong)` the prediction on the strong view. The mean
/// is over all `N` unlabelled images, masked ones counting as 0 (as UDA's code).
/// Returns the loss and the mask rate (the share of images kept), both `[1]`.
pub fn consistency_loss<B: Backend>(
    weak_logits: Tensor<B, 2>,
    strong_logits: Tensor<B, 2>,
    temperature: f64,
    threshold: f64,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let n = weak_logits.dims()[0];
    let log_q = sharpened_log_target(weak_logits.clone(), temperature);
    let mask = confidence_mask(weak_logits, threshold);
    let log_p = log_softmax(strong_logits, 1);
    let kl = (log_q.clone().exp() * (log_q - log_p)).sum_dim(1).reshape([n]);
    let loss = (kl * mask.clone()).sum().div_scalar(n as f64);
    (loss, mask.mean())
}

/// Training-signal annealing's threshold η_t (UDA §3.3, the schedules of its Fig. 2;
/// seed 003 §4.3 lists it as UDA's option): `η_t = α_t (1 − 1/K) + 1/K` for `K`
/// classes at training progress `t/T`, with `α_t = t/T` (linear), `1 − exp(−5 t/T)`
/// (log) or `exp(5 (t/T − 1))` (exp). `None` without annealing (η = 1: nothing is
/// masked).
pub fn tsa_threshold(tsa: Tsa, step: usize, total_steps: usize, classes: usize) -> Option<f64> {
    let progress = step as f64 / total_steps.max(1) as f64;
    let alpha = match tsa {
        Tsa::None => return None,
        Tsa::Linear => progress,
        Tsa::Log => 1.0 - (-5.0 * progress).exp(),
        Tsa::Exp => (5.0 * (progress - 1.0)).exp(),
    };
    let k = classes as f64;
    Some(alpha * (1.0 - 1.0 / k) + 1.0 / k)
}

/// The supervised term of UDA (seed 003 §4.3, the first term; UDA §3.3 with TSA):
/// cross-entropy of the labelled batch, where, under annealing, the examples whose
/// correct-class probability exceeds η_t ([`tsa_threshold`]) are left out; the sum is
/// divided by the number kept (at least 1), as UDA's code does. Without `eta` it is the
/// plain mean cross-entropy. Returns the loss and the share of examples kept.
pub fn supervised_loss<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    eta: Option<f64>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [n, k] = logits.dims();
    let per_example =
        (labels.clone().one_hot::<2>(k).float() * log_softmax(logits.clone(), 1)).sum_dim(1).reshape([n]).neg();
    let Some(eta) = eta else {
        let kept = Tensor::<B, 1>::ones([1], &per_example.device());
        return (per_example.mean(), kept);
    };
    let p_correct = softmax(logits.detach(), 1).gather(1, labels.reshape([n, 1])).reshape([n]);
    let keep = p_correct.lower_equal_elem(eta).float();
    let count = keep.clone().sum();
    let loss = (per_example * keep).sum() / count.clone().clamp_min(1.0);
    (loss, count.div_scalar(n as f64))
}
