//! Batch normalisation (+ ReLU) on the host, `f32`, NCHW, forward and backward in two
//! passes over the data each.
//!
//! Training mode normalises with the batch statistics over `N × H × W` (biased
//! variance, PyTorch's `F.batch_norm(training=True)`); evaluation mode with given
//! running statistics. With `relu`, the ReLU is applied in the same pass, and the
//! backward pass recomputes its mask from the saved input, so no activation is stored
//! beyond the input.
//!
//! Channels are processed in parallel (rayon); every channel's sums are taken by one
//! thread in a fixed order, so results do not depend on the thread count.

use rayon::prelude::*;

/// `N × C × HW`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormGeom {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl NormGeom {
    fn count(&self) -> usize {
        self.n * self.hw
    }

    /// Rows (`HW` values each) per parallel task: about 16k values, so that small
    /// planes (8×8) are not split into thousands of tasks.
    fn rows_per_task(&self) -> usize {
        (16384 / self.hw.max(1)).max(1)
    }
}

/// The per-channel affine map `y = x·scale + shift` a forward pass used, and the
/// statistics behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct NormStats {
    /// Mean used for normalising (batch mean in training, running mean in evaluation).
    pub mean: Vec<f32>,
    /// `1/√(var + ε)` of the variance used for normalising.
    pub inv_std: Vec<f32>,
    /// The biased batch variance (training only; empty in evaluation).
    pub batch_var: Vec<f32>,
    /// `y = x·scale + shift` (before the ReLU): `scale = γ·inv_std`,
    /// `shift = β − mean·scale`. The backward pass reuses them for the ReLU mask, so
    /// the mask is exactly the forward pass's.
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

/// Lane-parallel sums over one row pair `(x, d)`: `(Σ f(x, d).0, Σ f(x, d).1)`, in
/// eight f32 lanes (vectorised), folded into f64.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn row_sums(x: &[f32], d: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f32; 8], [0.0f32; 8]);
    let (xc, dc) = (x.chunks_exact(8), d.chunks_exact(8));
    let (xr, dr) = (xc.remainder(), dc.remainder());
    for (xs, ds) in xc.zip(dc) {
        for l in 0..8 {
            let (u, v) = f(xs[l], ds[l]);
            a[l] += u;
            b[l] += v;
        }
    }
    let (mut sa, mut sb) = (0.0f64, 0.0f64);
    for l in 0..8 {
        sa += a[l] as f64;
        sb += b[l] as f64;
    }
    for (&u, &v) in xr.iter().zip(dr) {
        let (u, v) = f(u, v);
        sa += u as f64;
        sb += v as f64;
    }
    (sa, sb)
}

/// Forward pass. `running` = `None`: training mode (batch statistics, returned);
/// `Some((mean, var))`: evaluation mode with those statistics. With `residual`
/// (same shape as `x`), `y = relu(BN(x) + residual)` (a residual block's tail; `relu`
/// must be set).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    g: &NormGeom,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running: Option<(&[f32], &[f32])>,
    epsilon: f64,
    relu: bool,
    residual: Option<&[f32]>,
    y: &mut [f32],
) -> NormStats {
    assert!(residual.is_none() || relu, "a residual sum is followed by a ReLU");
    assert!(residual.is_none_or(|r| r.len() == x.len()));
    assert_eq!(x.len(), g.n * g.c * g.hw);
    assert_eq!(y.len(), x.len());
    assert!(gamma.len() == g.c && beta.len() == g.c);
    let count = g.count() as f64;
    let per_channel: Vec<(f32, f32, f32)> = (0..g.c)
        .into_par_iter()
        .map(|c| match running {
            None => {
                // One pass, shifted by the channel's first value against cancellation:
                // s1 = Σ(v − k), s2 = Σ(v − k)², var = s2/M − (s1/M)².
                let k = x[c * g.hw];
                let (mut s1, mut s2) = (0.0f64, 0.0f64);
                for i in 0..g.n {
                    let r = &x[(i * g.c + c) * g.hw..(i * g.c + c + 1) * g.hw];
                    let (a, b) = row_sums(r, r, |v, _| {
                        let d = v - k;
                        (d, d * d)
                    });
                    s1 += a;
                    s2 += b;
                }
                let m1 = s1 / count;
                let var = (s2 / count - m1 * m1).max(0.0);
                ((k as f64 + m1) as f32, (1.0 / (var + epsilon).sqrt()) as f32, var as f32)
            }
            Some((m, v)) => (m[c], (1.0 / (v[c] as f64 + epsilon).sqrt()) as f32, 0.0),
        })
        .collect();
    let (mean, inv_std): (Vec<f32>, Vec<f32>) = per_channel.iter().map(|&(m, s, _)| (m, s)).unzip();
    let scale: Vec<f32> = inv_std.iter().zip(gamma).map(|(s, g)| s * g).collect();
    let shift: Vec<f32> = (0..g.c).map(|c| beta[c] - mean[c] * scale[c]).collect();
    y.par_chunks_mut(g.hw).zip(x.par_chunks(g.hw)).enumerate().with_min_len(g.rows_per_task()).for_each(
        |(row, (yr, xr))| {
            let c = row % g.c;
            let (a, b) = (scale[c], shift[c]);
            if let Some(res) = residual {
                let rr = &res[row * g.hw..(row + 1) * g.hw];
                yr.iter_mut().zip(xr).zip(rr).for_each(|((o, &v), &r)| *o = (v * a + b + r).max(0.0));
            } else if relu {
                yr.iter_mut().zip(xr).for_each(|(o, &v)| *o = (v * a + b).max(0.0));
            } else {
                yr.iter_mut().zip(xr).for_each(|(o, &v)| *o = v * a + b);
            }
        },
    );
    let batch_var = if running.is_none() { per_channel.iter().map(|p| p.2).collect() } else { Vec::new() };
    NormStats { mean, inv_std, batch_var, scale, shift }
}

/// `g = dy·[y > 0]`: the gradient through the ReLU at the end of a residual block,
/// from its output `y`; it is both the gradient of the residual input and the `dy`
/// of the batch norm before the sum ([`backward`] with `relu = false`).
pub fn relu_grad(y: &[f32], dy: &[f32], out: &mut [f32]) {
    assert!(y.len() == dy.len() && out.len() == y.len());
    out.par_chunks_mut(16384).zip(y.par_chunks(16384)).zip(dy.par_chunks(16384)).for_each(|((o, yr), dr)| {
        for ((o, &v), &d) in o.iter_mut().zip(yr).zip(dr) {
            *o = if v > 0.0 { d } else { 0.0 };
        }
    });
}

/// The gradients of [`forward`] (without `residual`) for the output gradient `dy`, given the input `x`,
/// `gamma` and the statistics the forward pass used. Returns `(dgamma, dbeta)`;
/// `dx` is written only when given.
///
/// Training mode (`train`): with `x̂ = (x − μ)·s`, `g = dy·[y > 0]` (or `dy`),
/// `dγ = Σ g·x̂`, `dβ = Σ g`, `dx = γ·s/M · (M·g − dβ − x̂·dγ)` (`M = N·H·W`): the
/// statistics depend on `x`. Evaluation mode: `dx = g·γ·s`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &NormGeom,
    x: &[f32],
    gamma: &[f32],
    stats: &NormStats,
    train: bool,
    relu: bool,
    dy: &[f32],
    dx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(dy.len(), x.len());
    let (mean, inv_std) = (&stats.mean, &stats.inv_std);
    let (scale, shift) = (&stats.scale, &stats.shift);
    // dβ = Σ g and Σ g·x; dγ = Σ g·x̂ = s·(Σ g·x − μ·Σ g).
    let sums: Vec<(f32, f32)> = (0..g.c)
        .into_par_iter()
        .map(|c| {
            let (a, b) = (scale[c], shift[c]);
            let (mut s_g, mut s_gx) = (0.0f64, 0.0f64);
            for i in 0..g.n {
                let off = (i * g.c + c) * g.hw;
                let (xr, dr) = (&x[off..off + g.hw], &dy[off..off + g.hw]);
                let (u, v) = if relu {
                    row_sums(xr, dr, |v, d| {
                        let gd = if v * a + b > 0.0 { d } else { 0.0 };
                        (gd, gd * v)
                    })
                } else {
                    row_sums(xr, dr, |v, d| (d, d * v))
                };
                s_g += u;
                s_gx += v;
            }
            let dgamma = inv_std[c] as f64 * (s_gx - mean[c] as f64 * s_g);
            (dgamma as f32, s_g as f32)
        })
        .collect();
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    if let Some(dx) = dx {
        assert_eq!(dx.len(), x.len());
        let m = g.count() as f32;
        // dx = g·k + x·α + β₀ with k = γ·s, α = −k·s·dγ/M, β₀ = −k·dβ/M − μ·α (train);
        // dx = g·k (evaluation).
        let coef: Vec<(f32, f32, f32)> = (0..g.c)
            .map(|c| {
                let k = gamma[c] * inv_std[c];
                if train {
                    let alpha = -k * inv_std[c] * dgamma[c] / m;
                    (k, alpha, -k * dbeta[c] / m - mean[c] * alpha)
                } else {
                    (k, 0.0, 0.0)
                }
            })
            .collect();
        dx.par_chunks_mut(g.hw)
            .zip(x.par_chunks(g.hw))
            .zip(dy.par_chunks(g.hw))
            .enumerate()
            .with_min_len(g.rows_per_task())
            .for_each(|(row, ((o, xr), dr))| {
                let c = row % g.c;
                let (k, alpha, b0) = coef[c];
                let (a, b) = (scale[c], shift[c]);
                if relu {
                    for ((o, &v), &d) in o.iter_mut().zip(xr).zip(dr) {
                        let gd = if v * a + b > 0.0 { d } else { 0.0 };
                        *o = gd * k + v * alpha + b0;
                    }
                } else {
                    for ((o, &v), &d) in o.iter_mut().zip(xr).zip(dr) {
                        *o = d * k + v * alpha + b0;
                    }
                }
            });
    }
    (dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn loss(g: &NormGeom, x: &[f64], gamma: &[f64], beta: &[f64], dy: &[f64], train: bool, relu: bool) -> f64 {
        // f64 reference of Σ dy·BN(x) with the same statistics rule.
        let m = (g.n * g.hw) as f64;
        let mut total = 0.0;
        for c in 0..g.c {
            let vals: Vec<usize> = (0..g.n).flat_map(|i| (0..g.hw).map(move |p| (i * g.c + c) * g.hw + p)).collect();
            let (mean, var) = if train {
                let mean = vals.iter().map(|&j| x[j]).sum::<f64>() / m;
                (mean, vals.iter().map(|&j| (x[j] - mean).powi(2)).sum::<f64>() / m)
            } else {
                (0.3, 1.7)
            };
            for &j in &vals {
                let mut y = (x[j] - mean) / (var + 1e-5).sqrt() * gamma[c] + beta[c];
                if relu {
                    y = y.max(0.0);
                }
                total += dy[j] * y;
            }
        }
        total
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let g = NormGeom { n: 3, c: 2, hw: 5 };
        let len = g.n * g.c * g.hw;
        let x: Vec<f32> = (0..len).map(|_| rng.random::<f32>() * 4.0 - 1.0).collect();
        let dy: Vec<f32> = (0..len).map(|_| rng.random::<f32>() - 0.5).collect();
        let gamma = vec![1.3f32, -0.7];
        let beta = vec![0.2f32, 0.1];
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        for (train, relu) in [(true, false), (true, true), (false, false), (false, true)] {
            let running = (vec![0.3f32; 2], vec![1.7f32; 2]);
            let run = if train { None } else { Some((&running.0[..], &running.1[..])) };
            let mut y = vec![0.0; len];
            let stats = forward(&g, &x, &gamma, &beta, run, 1e-5, relu, None, &mut y);
            let want_y = loss(&g, &f64s(&x), &f64s(&gamma), &f64s(&beta), &f64s(&dy), train, relu);
            let got_y: f64 = y.iter().zip(&dy).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!((want_y - got_y).abs() < 1e-4, "{train} {relu}: forward {got_y} vs {want_y}");
            let mut dx = vec![0.0; len];
            let (dgamma, dbeta) = backward(&g, &x, &gamma, &stats, train, relu, &dy, Some(&mut dx));
            let h = 1e-6;
            type Perturb<'a> = &'a dyn Fn(&mut Vec<f64>, &mut Vec<f64>, &mut Vec<f64>, f64);
            let fd = |perturb: Perturb| {
                let (mut a, mut b, mut c) = (f64s(&x), f64s(&gamma), f64s(&beta));
                perturb(&mut a, &mut b, &mut c, h);
                let up = loss(&g, &a, &b, &c, &f64s(&dy), train, relu);
                let (mut a, mut b, mut c) = (f64s(&x), f64s(&gamma), f64s(&beta));
                perturb(&mut a, &mut b, &mut c, -h);
                let down = loss(&g, &a, &b, &c, &f64s(&dy), train, relu);
                (up - down) / (2.0 * h)
            };
            for j in 0..len {
                let want = fd(&|a, _, _, e| a[j] += e);
                assert!((dx[j] as f64 - want).abs() < 1e-3, "{train} {relu}: dx[{j}] {} vs {want}", dx[j]);
            }
            for c in 0..2 {
                let want_g = fd(&|_, b, _, e| b[c] += e);
                let want_b = fd(&|_, _, bb, e| bb[c] += e);
                assert!((dgamma[c] as f64 - want_g).abs() < 1e-3, "{train} {relu}: dgamma {} vs {want_g}", dgamma[c]);
                assert!((dbeta[c] as f64 - want_b).abs() < 1e-3, "{train} {relu}: dbeta {} vs {want_b}", dbeta[c]);
            }
        }
    }
}
