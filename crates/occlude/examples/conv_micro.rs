//! Microbenchmark of the convolution kernels on the shapes of a CIFAR ResNet-20 step
//! (batch 64): forward, input gradient and weight gradient, best of 10, GFLOP/s.
//!
//! ```sh
//! cargo run --release -p occlude --example conv_micro
//! OCCLUDE_DW_MIN=100000 cargo run --release -p occlude --example conv_micro  # weight gradient by gemm everywhere
//! ```
use occlude::kernels::conv::{backward, forward, ConvGeom};
use std::time::Instant;

fn main() {
    occlude::kernels::keep_freed_memory();
    let g = |c_in, h, c_out, stride| ConvGeom {
        n: 64,
        c_in,
        h,
        w: h,
        c_out,
        kh: 3,
        kw: 3,
        stride: [stride; 2],
        pad: [1, 1],
    };
    let shapes = [
        ("16x32x32 3x3", g(16, 32, 16, 1)),
        ("32x16x16 3x3", g(32, 16, 32, 1)),
        ("64x8x8 3x3", g(64, 8, 64, 1)),
        ("16->32 3x3 s2", g(16, 32, 32, 2)),
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
