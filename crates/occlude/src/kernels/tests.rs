//! The kernels against burn's own ops, through the public dispatch, on `Flex` and
//! `Autodiff<Flex>`: values, gradients of every input, statistics.

use super::*;
use crate::backend::{CpuAutodiff, CpuBackend};
use rand::{Rng, SeedableRng};

type A = CpuAutodiff;

/// A tensor of N(mean, std)-ish values from a local generator: burn's own random
/// stream is shared by the tests running in parallel, so it cannot make two runs of
/// a test see the same values.
fn random<const D: usize>(shape: [usize; D], mean: f32, std: f32, seed: u64) -> Tensor<A, D> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    // Sum of three uniforms: a bell shape with the given mean and standard deviation.
    let v: Vec<f32> = (0..n)
        .map(|_| mean + std * (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5) * 2.0)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), &Default::default())
}

fn close<const D: usize, B: Backend>(a: Tensor<B, D>, b: Tensor<B, D>, tol: f32, what: &str) {
    let (a, b): (Vec<f32>, Vec<f32>) = (a.into_data().to_vec().unwrap(), b.into_data().to_vec().unwrap());
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y}");
    }
}

fn reference_conv<B: Backend>(
    x: Tensor<B, 4>,
    w: Tensor<B, 4>,
    b: Option<Tensor<B, 1>>,
    s: [usize; 2],
    p: [usize; 2],
) -> Tensor<B, 4> {
    burn_conv2d(x, w, b, ConvOptions::new(s, p, [1, 1], 1))
}

#[test]
fn convolution_and_its_gradients_match_burn() {
    for (shape, wshape, s, p, bias) in [
        ([4, 3, 9, 9], [5, 3, 3, 3], [1, 1], [1, 1], false),
        ([3, 4, 8, 8], [6, 4, 3, 3], [2, 2], [1, 1], true),
        ([2, 6, 7, 7], [4, 6, 1, 1], [1, 1], [0, 0], false),
        ([2, 6, 7, 7], [4, 6, 1, 1], [2, 2], [0, 0], true),
        ([2, 3, 15, 13], [4, 3, 7, 7], [2, 2], [3, 3], false),
    ] {
        let x = random(shape, 0.0, 1.0, 1);
        let w = random(wshape, 0.0, 0.3, 2);
        let b = bias.then(|| random([wshape[0]], 0.0, 1.0, 3));
        let run = |fast: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let b = b.clone().map(|b| b.require_grad());
            let y = if fast {
                conv2d(x.clone(), w.clone(), b.clone(), s, p)
            } else {
                reference_conv(x.clone(), w.clone(), b.clone(), s, p)
            };
            // A non-uniform output gradient.
            let weights = random(y.dims(), 0.0, 1.0, 4);
            let loss = (y.clone() * weights).sum();
            let g = loss.backward();
            (y.inner(), x.grad(&g).unwrap(), w.grad(&g).unwrap(), b.map(|b| b.grad(&g).unwrap()))
        };
        let fast = run(true);
        let slow = run(false);
        let what = format!("{shape:?} * {wshape:?} s{s:?} p{p:?}");
        close(fast.0, slow.0, 1e-5, &format!("{what} y"));
        close(fast.1, slow.1, 1e-5, &format!("{what} dx"));
        close(fast.2, slow.2, 1e-5, &format!("{what} dw"));
        if let (Some(a), Some(b)) = (fast.3, slow.3) {
            close(a, b, 1e-5, &format!("{what} db"));
        }
        // The inference backend takes the same path.
        let yi = conv2d(x.clone().inner(), w.clone().inner(), b.clone().map(|b| b.inner()), s, p);
        let yr = reference_conv(x.inner(), w.inner(), b.map(|b| b.inner()), s, p);
        close(yi, yr, 1e-5, &format!("{what} inference"));
    }
}

#[test]
fn batch_norm_relu_and_its_gradients_match_burn_in_both_modes() {
    let [n, c, h, w] = [3, 4, 5, 6];
    let x = random([n, c, h, w], 0.5, 2.0, 5);
    let gamma = random([c], 1.0, 0.5, 6);
    let beta = random([c], 0.0, 0.5, 7);
    let rm = random([c], 0.0, 0.5, 8);
    let rv = random([c], 1.2, 0.2, 9);
    let shortcut = random([n, c, h, w], 0.0, 1.0, 10);
    for train in [true, false] {
        for (relu, residual) in [(false, false), (true, false), (true, true)] {
            let run = |fast: bool| {
                let xg = x.clone().require_grad();
                let sg = shortcut.clone().require_grad();
                let r = residual.then(|| sg.clone());
                let p = NormParams {
                    gamma: gamma.clone().require_grad(),
                    beta: beta.clone().require_grad(),
                    running_mean: rm.clone(),
                    running_var: rv.clone(),
                    epsilon: 1e-5,
                };
                let (y, stats) = if fast {
                    batch_norm(xg.clone(), &p, train, relu, r)
                } else {
                    batch_norm_reference(xg.clone(), &p, train, relu, r)
                };
                let weights = random(y.dims(), 0.0, 1.0, 11);
                let g = (y.clone() * weights).sum().backward();
                let grads = (xg.grad(&g).unwrap(), p.gamma.grad(&g).unwrap(), p.beta.grad(&g).unwrap());
                let ds = sg.grad(&g);
                (y.inner(), grads, stats.map(|s| (s.mean.inner(), s.unbiased_var.inner())), ds)
            };
            let fast = run(true);
            let slow = run(false);
            let what = format!("train={train} relu={relu} residual={residual}");
            close(fast.0, slow.0, 1e-5, &format!("{what} y"));
            close(fast.1 .0, slow.1 .0, 1e-4, &format!("{what} dx"));
            close(fast.1 .1, slow.1 .1, 1e-4, &format!("{what} dgamma"));
            close(fast.1 .2, slow.1 .2, 1e-4, &format!("{what} dbeta"));
            match (fast.2, slow.2) {
                (Some(a), Some(b)) => {
                    close(a.0, b.0, 1e-5, &format!("{what} mean"));
                    close(a.1, b.1, 1e-5, &format!("{what} var"));
                }
                (None, None) => assert!(!train),
                _ => panic!("{what}: statistics returned by one path only"),
            }
            match (fast.3, slow.3) {
                (Some(a), Some(b)) => close(a, b, 1e-5, &format!("{what} dshortcut")),
                (None, None) => assert!(!residual),
                _ => panic!("{what}: shortcut gradient from one path only"),
            }
        }
    }
    // Inference backend, evaluation mode.
    let p = NormParams {
        gamma: gamma.inner(),
        beta: beta.inner(),
        running_mean: rm.inner(),
        running_var: rv.inner(),
        epsilon: 1e-5,
    };
    let xi: Tensor<CpuBackend, 4> = x.inner();
    close(
        batch_norm(xi.clone(), &p, false, true, None).0,
        batch_norm_reference(xi, &p, false, true, None).0,
        1e-5,
        "inference",
    );
}
