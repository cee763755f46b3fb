//! Microbenchmark of the convolution kernels on the 3×3 shapes of a CIFAR ResNet-20 step
//! (batch 64) and a CIFAR ResNet-18 step (batch 32): forward, input gradient and weight gradient, best of 10, GFLOP/s.
//!
//! ```sh
//! cargo run --release -p occlude --example conv_micro
//! OCCLUDE_DW_MIN=100000 cargo run --release -p occlude --example conv_micro  # weight gradient by gemm everywhere
//! ```
use occlude::kernels::conv::{backward, forward, ConvGeom};
use std::time::Instant;

fn main() {
    occlude::kernels::keep_freed_memory();
    let g = |n, c_in, h, c_out, stride| ConvGeom {
        n,
        c_in,
        h,
        w: h,
        c_out,
        kh: 3,
        kw: 3,
        stride: [stride; 2],
        pad: [1, 1],
    };
    // ResNet-20 at batch 64, then resnet18-cifar at batch 32.
    let shapes = [
        ("b64 16x32x32", g(64, 16, 32, 16, 1)),
        ("b64 32x16x16", g(64, 32, 16, 32, 1)),
        ("b64 64x8x8", g(64, 64, 8, 64, 1)),
        ("b64 16->32 s2", g(64, 16, 32, 32, 2)),
        ("b32 64x32x32", g(32, 64, 32, 64, 1)),
        ("b32 128x16x16", g(32, 128, 16, 128, 1)),
        ("b32 256x8x8", g(32, 256, 8, 256, 1)),
        ("b32 512x4x4", g(32, 512, 4, 512, 1)),
    ];
    for (name, g) in shapes {
        let x: Vec<f32> = (0..g.n * g.c_in * g.h * g.w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
        let w: Vec<f32> = (0..g.c_out * g.k()).map(|i| ((i * 104729) % 1000) as f32 / 1000.0).collect();
        let mut y = vec![0.0; g.n * g.c_out * g.p()];
        let dy = y.clone();
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        let flop = 2.0 * (g.n * g.c_out * g.p() * g.k()) as f64;
        let best = |f: &mut dyn FnMut()| {
            (0..10)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        };
        let f = best(&mut || forward(&g, &x, &w, None, &mut y));
        let bx = best(&mut || backward(&g, &x, &w, &dy, Some(&mut dx), None));
        let bw = best(&mut || backward(&g, &x, &w, &dy, None, Some(&mut dw)));
        let gf = |s: f64| flop / s / 1e9;
        println!(
            "{name:14} forward {:6.2} ms {:5.1} GF/s | input grad {:6.2} ms {:5.1} GF/s | weight grad {:6.2} ms {:5.1} GF/s",
            f * 1e3,
            gf(f),
            bx * 1e3,
            gf(bx),
            bw * 1e3,
            gf(bw)
        );
    }
}
