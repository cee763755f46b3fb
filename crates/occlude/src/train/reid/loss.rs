//! The two losses of the Bag-of-Tricks baseline (Luo et al. 2019, §3–4; seed 003
//! §4.4 trains it): the identity (ID) loss, cross-entropy with label smoothing on the
//! logits after the BNNeck, and the batch-hard triplet loss (Hermans et al. 2017) on
//! the features before it.

use crate::augment::Targets;
use crate::train::loss::cross_entropy;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::TensorData;

/// ID loss: `−Σ_k q_k log softmax(z)_k` with `q = (1 − ε)·onehot(y) + ε/N` over the N
/// training identities (Bag-of-Tricks §4.3 "label smoothing", ε = 0.1).
pub fn id_loss<B: Backend>(logits: Tensor<B, 2>, ids: Tensor<B, 1, Int>, epsilon: f64) -> Tensor<B, 1> {
    cross_entropy(logits, &Targets::Hard(ids), epsilon)
}

/// Euclidean distances `‖f_i − f_j‖` between the rows of `features` (`N × D`), as the
/// reference `euclidean_dist`: `√max(‖a‖² + ‖b‖² − 2a·b, 10⁻¹²)`.
pub fn pairwise_distances<B: Backend>(features: Tensor<B, 2>) -> Tensor<B, 2> {
    let [n, _] = features.dims();
    let sq = features.clone().powi_scalar(2).sum_dim(1); // N × 1
    let gram = features.clone().matmul(features.transpose());
    let d2 = sq.clone().expand([n, n]) + sq.transpose().expand([n, n]) - gram.mul_scalar(2.0);
    d2.clamp_min(1e-12).sqrt()
}

/// Batch-hard mining (Hermans et al. 2017, Eq. 5; Bag-of-Tricks `hard_example_mining`):
/// for every anchor `a` the distance to its hardest positive, `max_{p: y_p = y_a} d(a, p)`,
/// and to its hardest negative, `min_{n: y_n ≠ y_a} d(a, n)`, from the distance matrix
/// `dist` of a batch with identities `ids`.
pub fn batch_hard<B: Backend>(dist: Tensor<B, 2>, ids: &[usize]) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let n = ids.len();
    let same: Vec<f32> = (0..n * n).map(|i| (ids[i / n] == ids[i % n]) as u8 as f32).collect();
    let same = Tensor::<B, 2>::from_data(TensorData::new(same, [n, n]), &dist.device());
    // Distances are >= 0: zeroing the negatives leaves the positives' maximum, and
    // pushing the positives up by more than any distance leaves the negatives' minimum.
    // (Each row's own maximum + 1, kept on the device: no read-back per step.)
    let big = dist.clone().detach().max_dim(1).add_scalar(1.0).expand([n, n]);
    let ap = (dist.clone() * same.clone()).max_dim(1).reshape([n]);
    let an = (dist + same * big).min_dim(1).reshape([n]);
    (ap, an)
}

/// Batch-hard triplet loss (Hermans et al. 2017, Eq. 5 with the hinge; Bag-of-Tricks
/// `TripletLoss`, margin 0.3): the mean over anchors of
/// `max(0, m + max_p d(a, p) − min_n d(a, n))` on the features before the BNNeck.
pub fn batch_hard_triplet<B: Backend>(features: Tensor<B, 2>, ids: &[usize], margin: f64) -> Tensor<B, 1> {
    let (ap, an) = batch_hard(pairwise_distances(features), ids);
    relu(ap - an + margin).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    fn floats(t: Tensor<CpuBackend, 1>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// Five points on a line, identities [0, 0, 1, 1, 0]:
    /// x = 0, 1, 5, 2, 10.
    fn line() -> Tensor<CpuBackend, 2> {
        Tensor::from_floats([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [2.0, 0.0], [10.0, 0.0]], &Default::default())
    }

    #[test]
    fn batch_hard_picks_the_farthest_positive_and_the_nearest_negative() {
        let ids = [0, 0, 1, 1, 0];
        let (ap, an) = batch_hard(pairwise_distances(line()), &ids);
        // Anchor 0 (x=0): positives at 1 and 10 → 10; negatives at 5 and 2 → 2.
        // Anchor 1 (x=1): positives 0, 10 → 9; negatives 5, 2 → 1.
        // Anchor 2 (x=5): positive 2 → 3; negatives 0, 1, 10 → 4.
        // Anchor 3 (x=2): positive 5 → 3; negatives 0, 1, 10 → 1.
        // Anchor 4 (x=10): positives 0, 1 → 10; negatives 5, 2 → 5.
        let close = |a: Vec<f32>, b: [f32; 5]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
        let (ap, an) = (floats(ap), floats(an));
        assert!(close(ap.clone(), [10.0, 9.0, 3.0, 3.0, 10.0]), "{ap:?}");
        assert!(close(an.clone(), [2.0, 1.0, 4.0, 1.0, 5.0]), "{an:?}");
        // Hinge with margin 0.3: [8.3, 8.3, 0, 2.3, 5.3] → mean 24.2 / 5.
        let loss: f32 = batch_hard_triplet(line(), &ids, 0.3).into_scalar();
        assert!((loss - 24.2 / 5.0).abs() < 1e-4, "{loss}");
    }

    #[test]
    fn id_loss_is_label_smoothed_cross_entropy() {
        let z = Tensor::<CpuBackend, 2>::from_floats([[2.0, 0.0, 0.0]], &Default::default());
        let y = Tensor::<CpuBackend, 1, Int>::from_ints([0], &Default::default());
        let lse = (2f64.exp() + 2.0).ln();
        // q = [0.9 + 0.1/3, 0.1/3, 0.1/3].
        let want = (0.9 + 0.1 / 3.0) * (lse - 2.0) + 2.0 * (0.1 / 3.0) * lse;
        let got: f32 = id_loss(z, y, 0.1).into_scalar();
        assert!((got as f64 - want).abs() < 1e-5, "{got} {want}");
    }
}
