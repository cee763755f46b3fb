//! `saliency_bn=batch`: the saliency pass with the batch's own statistics.

use super::tests::{host, images_f64, labels, rel_err, snapshot, tiny_model, to_f64, A, I};
use super::*;
use burn::tensor::{DType, TensorData};

/// `|∂(Σ_n logit_n[y_n])/∂x|`, channel maximum, by central differences of the whole
/// batch in training-mode batch norm (the images interact, so every perturbation is
/// its own forward pass of the whole batch).
fn fd_batch_saliency(model: &Network<I>, x: &Tensor<I, 4>, y: &[i64], eps: f64) -> Vec<f64> {
    let [n, c, h, w] = x.dims();
    let base = x.clone().into_data().convert::<f64>().into_vec::<f64>().unwrap();
    let objective = |v: Vec<f64>| -> f64 {
        let xs = Tensor::<I, 4>::from_data(TensorData::new(v, [n, c, h, w]), (&Default::default(), DType::F64));
        let logits = model.forward_with(xs, &mut Ctx::train()).0;
        let k = logits.dims()[1];
        let l = logits.into_data().convert::<f64>().into_vec::<f64>().unwrap();
        (0..n).map(|i| l[i * k + y[i] as usize]).sum()
    };
    let mut sal = vec![0.0f64; n * h * w];
    for (at, _) in base.iter().enumerate() {
        let (mut up, mut down) = (base.clone(), base.clone());
        up[at] += eps;
        down[at] -= eps;
        let g = (objective(up) - objective(down)) / (2.0 * eps);
        let (img, p) = (at / (c * h * w), at % (h * w));
        sal[img * h * w + p] = sal[img * h * w + p].max(g.abs());
    }
    sal
}

#[test]
fn batch_statistics_give_the_gradient_through_the_batch_norm_of_the_batch() {
    let model = to_f64(tiny_model(1, 4, 21));
    let ad = Network::<A>::from_inner(model.clone());
    let x = images_f64(3, 1, 8, 8, 6);
    let y = [2i64, 0, 3];
    let before = snapshot(&ad);
    let batch = host(
        compute_with(
            &ad,
            Tensor::from_inner(x.clone()),
            Target::Label(labels(&y)),
            &SaliencyMethod::Vanilla,
            BnStats::Batch,
        )
        .unwrap(),
    );
    assert_eq!(snapshot(&ad), before, "the training model's statistics are untouched");
    let running =
        host(compute(&ad, Tensor::from_inner(x.clone()), Target::Label(labels(&y)), &SaliencyMethod::Vanilla).unwrap());
    assert!(rel_err(&running, &batch) > 1e-2, "the two modes should differ on a model with moved statistics");
    // With batch statistics an image's map depends on the other images of the pass.
    let other = images_f64(3, 1, 8, 8, 7);
    let mixed = Tensor::cat(vec![x.clone().narrow(0, 0, 1), other.narrow(0, 1, 2)], 0);
    let again = host(
        compute_with(
            &ad,
            Tensor::from_inner(mixed),
            Target::Label(labels(&y)),
            &SaliencyMethod::Vanilla,
            BnStats::Batch,
        )
        .unwrap(),
    );
    assert!(rel_err(&again[..64], &batch[..64]) > 1e-3, "image 0's map ignores its neighbours");

    // Last, as its training-mode passes move the running statistics of `model` (which
    // do not enter a training-mode output). One model for both: the backend's seed is
    // global, so a second `tiny_model` in a parallel test run need not be the same.
    let fd = fd_batch_saliency(&model, &x, &y, 1e-6);
    let err = rel_err(&batch, &fd);
    eprintln!("saliency_bn=batch: relative error vs finite differences {err:.2e}");
    assert!(err < 1e-3, "{err}");
}

#[test]
fn bn_stats_parse_and_print() {
    assert_eq!(BnStats::parse("running").unwrap(), BnStats::Running);
    assert_eq!(BnStats::parse("batch").unwrap(), BnStats::Batch);
    assert_eq!(BnStats::default(), BnStats::Running);
    assert_eq!(BnStats::Batch.to_string(), "batch");
    assert!(BnStats::parse("frozen").unwrap_err().to_string().contains("running (the default) or batch"));
}
