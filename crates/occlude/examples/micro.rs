use burn::prelude::*;
use occlude::backend::CpuAutodiff as B;
use occlude::models::layers::{conv, BatchNorm};
use std::time::Instant;

fn time<F: FnMut()>(name: &str, mut f: F) {
    f();
    let t = Instant::now();
    for _ in 0..5 {
        f();
    }
    println!("{name}: {:.1} ms", t.elapsed().as_secs_f64() * 200.0);
}

fn main() {
    let d = Default::default();
    let x = Tensor::<B, 4>::random([128, 16, 28, 28], burn::tensor::Distribution::Default, &d).require_grad();
    let c = conv::<B>(16, 16, 3, 1, &d);
    let bn = BatchNorm::<B>::new(16, &d);
    time("conv fwd", || {
        let _ = c.forward(x.clone()).into_data();
    });
    time("conv fwd+bwd", || {
        let y = c.forward(x.clone()).sum();
        let _ = y.backward();
    });
    time("bn fwd", || {
        let _ = bn.forward(x.clone(), true).into_data();
    });
    time("bn fwd+bwd", || {
        let y = bn.forward(x.clone(), true).sum();
        let _ = y.backward();
    });
    time("relu fwd+bwd", || {
        let y = burn::tensor::activation::relu(x.clone()).sum();
        let _ = y.backward();
    });
    time("mean_dims", || {
        let _ = x.clone().mean_dims(&[0, 2, 3]).into_data();
    });
    time("sum_dim(3)", || {
        let _ = x.clone().sum_dim(3).into_data();
    });
    time("reshape sum last", || {
        let _ = x.clone().reshape([128, 16, 784]).sum_dim(2).sum_dim(0).into_data();
    });
    let m = Tensor::<B, 4>::ones([1, 16, 1, 1], &d);
    time("broadcast sub", || {
        let _ = (x.clone() - m.clone()).into_data();
    });
    time("broadcast mul", || {
        let _ = (x.clone() * m.clone()).into_data();
    });
    let y = x.clone();
    time("same-shape add", || {
        let _ = (x.clone() + y.clone()).into_data();
    });
}
