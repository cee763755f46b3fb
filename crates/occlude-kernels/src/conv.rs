//! 2-D convolution on the host, `f32`, NCHW: forward, and the backward pass for the
//! input and the weight in one sweep over the batch.
//!
//! Two methods, chosen per convolution by [`Plan`]:
//!
//! * the direct kernel of [`crate::direct`] (stride-1 convolutions on planes large
//!   enough): forward pass, input gradient (the forward pass of the output gradient
//!   with the flipped, transposed weight) and, on large planes, weight gradient;
//! * `im2col` + `gemm` over the images of a chunk side by side (`K = C_in·k_h·k_w`
//!   rows of `images·P` values, `P = H_out·W_out`): forward `Y = W · col`, input
//!   gradient `dcol = Wᵀ · dY` scattered back (`col2im`), weight gradient
//!   `dW = dY · colᵀ`.
//!
//! Threads: the batch is cut into fixed chunks of images ([`CHUNK`]); chunks run in
//! parallel (rayon), each with its own buffers and its own partial weight gradient,
//! and the partial gradients are summed in chunk order. The chunking does not depend
//! on the number of threads, so results are bit-identical with any thread count.

use crate::direct;
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// Images per parallel work item.
pub const CHUNK: usize = 4;

/// The shape of a convolution (no groups, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
}

impl ConvGeom {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad[0] - self.kh) / self.stride[0] + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad[1] - self.kw) / self.stride[1] + 1
    }
    /// Rows of the column matrix: `C_in·k_h·k_w`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Output pixels per channel.
    pub fn p(&self) -> usize {
        self.out_h() * self.out_w()
    }
    fn in_plane(&self) -> usize {
        self.c_in * self.h * self.w
    }
    fn out_plane(&self) -> usize {
        self.c_out * self.p()
    }
}

/// For kernel offset `k` (stride `s`, padding `p`): the output positions `o` whose
/// input position `o·s + k − p` lies in `[0, n)`, as a half-open range.
fn valid_range(k: usize, s: usize, p: usize, n: usize, out: usize) -> (usize, usize) {
    // o·s + k ≥ p  ⇔  o ≥ ⌈(p − k)/s⌉ ; o·s + k − p < n  ⇔  o < ⌈(n + p − k)/s⌉.
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    let hi = if n + p > k { (n + p - k).div_ceil(s) } else { 0 };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}

/// Lowers one `C_in × H × W` image into `col` (`K × P`, rows `ld` apart, `ld ≥ P`,
/// so that several images can sit side by side).
/// The `k_h·k_w` rows of the column matrix for one input channel `plane` (`H × W`),
/// rows `ld` apart starting at `col[0]` (`ld ≥ P`, so that several images can sit
/// side by side).
fn im2col_channel(g: &ConvGeom, plane: &[f32], col: &mut [f32], ld: usize) {
    let (ho, wo) = (g.out_h(), g.out_w());
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    let mut row = 0;
    for ky in 0..g.kh {
        let (oy0, oy1) = valid_range(ky, sh, ph, g.h, ho);
        for kx in 0..g.kw {
            let (ox0, ox1) = valid_range(kx, sw, pw, g.w, wo);
            let dst = &mut col[row * ld..row * ld + ho * wo];
            dst[..oy0 * wo].fill(0.0);
            dst[oy1 * wo..].fill(0.0);
            for oy in oy0..oy1 {
                let iy = oy * sh + ky - ph;
                let d = &mut dst[oy * wo..(oy + 1) * wo];
                d[..ox0].fill(0.0);
                d[ox1..].fill(0.0);
                let src = &plane[iy * g.w..(iy + 1) * g.w];
                if sw == 1 {
                    let ix0 = ox0 + kx - pw;
                    d[ox0..ox1].copy_from_slice(&src[ix0..ix0 + (ox1 - ox0)]);
                } else {
                    for ox in ox0..ox1 {
                        d[ox] = src[ox * sw + kx - pw];
                    }
                }
            }
            row += 1;
        }
    }
}

/// Adds the `k_h·k_w` rows of one input channel at `col[0]` (`ld` apart) back into its
/// gradient `plane` (`H × W`): the adjoint of [`im2col_channel`].
fn col2im_channel(g: &ConvGeom, col: &[f32], ld: usize, plane: &mut [f32]) {
    let (ho, wo) = (g.out_h(), g.out_w());
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    let mut row = 0;
    for ky in 0..g.kh {
        let (oy0, oy1) = valid_range(ky, sh, ph, g.h, ho);
        for kx in 0..g.kw {
            let (ox0, ox1) = valid_range(kx, sw, pw, g.w, wo);
            let src = &col[row * ld..row * ld + ho * wo];
            for oy in oy0..oy1 {
                let iy = oy * sh + ky - ph;
                let s = &src[oy * wo..(oy + 1) * wo];
                let d = &mut plane[iy * g.w..(iy + 1) * g.w];
                if sw == 1 {
                    let ix0 = ox0 + kx - pw;
                    for (a, b) in d[ix0..ix0 + (ox1 - ox0)].iter_mut().zip(&s[ox0..ox1]) {
                        *a += *b;
                    }
                } else {
                    for ox in ox0..ox1 {
                        d[ox * sw + kx - pw] += s[ox];
                    }
                }
            }
            row += 1;
        }
    }
}

/// `dst[m × n] (row stride n) = [dst +] lhs[m × k] · rhs[k × n]`, with explicit (row,
/// column) strides for `lhs` and `rhs`, on all threads when `parallel`. `gemm` splits
/// the output into blocks, each summed over the whole `k` by one thread in a fixed
/// order (its blocking depends on the shape only), so the result is the same either
/// way and does not depend on the number of threads.
#[allow(clippy::too_many_arguments)]
fn matmul_par(
    parallel: bool,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: &[f32],
    rhs_rs: isize,
    rhs_cs: isize,
) {
    let par = if parallel { Parallelism::Rayon(rayon::current_num_threads()) } else { Parallelism::None };
    // SAFETY: see `matmul_with`.
    matmul_with(par, m, n, k, dst, accumulate, lhs, lhs_rs, lhs_cs, rhs, rhs_rs, rhs_cs)
}

#[allow(clippy::too_many_arguments)]
fn matmul_with(
    parallelism: Parallelism,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: &[f32],
    rhs_rs: isize,
    rhs_cs: isize,
) {
    debug_assert!(dst.len() >= m * n);
    // SAFETY: the strides address `m × k`, `k × n` and `m × n` elements inside the
    // slices (checked by the callers' shapes); `dst` does not alias the inputs.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Output pixels from which the direct kernel runs the forward pass and the input
/// gradient. Below, `im2col` + `gemm` over several images at once is as fast or
/// faster: the direct kernel computes `2p` padding columns per row and rounds each
/// plane up to 32 positions, which costs most on small planes (measured with
/// `examples/conv_micro.rs`, BENCHMARKS.md: direct 1.7–2.8× faster at 16 channels
/// × 32×32, even at 64 × 8×8, 0.7× at 256 × 8×8, 0.5× at 512 × 4×4).
/// `OCCLUDE_DIRECT_MIN` overrides it, for measurements.
pub const DIRECT_MIN_PIXELS: usize = 256;

/// Output pixels from which the direct kernel computes the weight gradient, when
/// `C_in · C_out` is at most [`DIRECT_DW_MAX_PAIRS`]: it correlates every (output,
/// input) channel pair over the plane and reduces per pair, which pays off on large
/// planes with few channels (measured: 2.7× faster than `gemm` at 16 channels ×
/// 32×32, 1.5× at 32 × 16×16, 1.3× at 64 × 32×32, 0.9× at 128 × 16×16, 0.5× at
/// 64 × 8×8). `OCCLUDE_DW_MIN` overrides the pixel threshold.
pub const DIRECT_DW_MIN_PIXELS: usize = 256;

/// See [`DIRECT_DW_MIN_PIXELS`].
pub const DIRECT_DW_MAX_PAIRS: usize = 64 * 64;

fn threshold(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// How each pass of a convolution runs (measured choices; BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Direct kernel for the forward pass and the input gradient.
    pub direct: bool,
    /// Direct kernel for the weight gradient.
    pub direct_dw: bool,
}

impl Plan {
    pub fn for_geom(g: &ConvGeom) -> Self {
        let ok = direct::available() && direct::applies(g);
        let pixels = g.p();
        Self {
            direct: ok && pixels >= threshold("OCCLUDE_DIRECT_MIN", DIRECT_MIN_PIXELS),
            direct_dw: ok
                && pixels >= threshold("OCCLUDE_DW_MIN", DIRECT_DW_MIN_PIXELS)
                && g.c_in * g.c_out <= DIRECT_DW_MAX_PAIRS,
        }
    }

    /// `self` without the direct kernel where it cannot run.
    fn restricted(self, g: &ConvGeom) -> Self {
        let ok = direct::available() && direct::applies(g);
        Self { direct: self.direct && ok, direct_dw: self.direct_dw && ok }
    }

    /// Every combination, for tests.
    pub fn all() -> [Self; 4] {
        [(false, false), (true, false), (false, true), (true, true)]
            .map(|(direct, direct_dw)| Self { direct, direct_dw })
    }
}

fn add_bias(y: &mut [f32], bias: Option<&[f32]>, p: usize) {
    if let Some(b) = bias {
        for (row, &bc) in y.chunks_mut(p).zip(b.iter().cycle()) {
            row.iter_mut().for_each(|v| *v += bc);
        }
    }
}

/// `y = conv(x, w) + bias`; `x` is `N × C_in × H × W`, `w` is `C_out × C_in × k_h × k_w`,
/// `y` is `N × C_out × H_out × W_out`.
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    forward_with(Plan::for_geom(g), g, x, w, bias, y)
}

/// [`forward`] with a given plan (a direct plan where the direct kernel does not
/// apply falls back to `gemm`).
pub fn forward_with(plan: Plan, g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let plan = plan.restricted(g);
    assert_eq!(x.len(), g.n * g.in_plane());
    assert_eq!(w.len(), g.c_out * g.k());
    assert_eq!(y.len(), g.n * g.out_plane());
    assert!(bias.is_none_or(|b| b.len() == g.c_out));
    if !plan.direct {
        return forward_gemm(g, x, w, bias, y);
    }
    let p = g.p();
    let flat = direct::forward_flat(g);
    y.par_chunks_mut(CHUNK * g.out_plane()).zip(x.par_chunks(CHUNK * g.in_plane())).for_each(|(ys, xs)| {
        let mut scratch = direct::Scratch::default();
        for (yn, xn) in ys.chunks_mut(g.out_plane()).zip(xs.chunks(g.in_plane())) {
            direct::forward_image(&flat, g.c_out, xn, w, yn, &mut scratch);
        }
        add_bias(ys, bias, p);
    });
}

/// The gradients of [`forward`] for the output gradient `dy`: `dx` (same shape as `x`)
/// and `dw` (same shape as `w`) when asked for. `dx` and `dw` are overwritten.
pub fn backward(g: &ConvGeom, x: &[f32], w: &[f32], dy: &[f32], dx: Option<&mut [f32]>, dw: Option<&mut [f32]>) {
    backward_with(Plan::for_geom(g), g, x, w, dy, dx, dw)
}

/// [`backward`] with a given plan (see [`forward_with`]).
pub fn backward_with(
    plan: Plan,
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
) {
    let plan = plan.restricted(g);
    assert_eq!(x.len(), g.n * g.in_plane());
    assert_eq!(w.len(), g.c_out * g.k());
    assert_eq!(dy.len(), g.n * g.out_plane());
    if let Some(d) = dx.as_deref() {
        assert_eq!(d.len(), x.len());
    }
    if let Some(d) = dw.as_deref() {
        assert_eq!(d.len(), w.len());
    }
    // Each gradient is computed by one method whatever else is asked for, so it is
    // the same with or without the other.
    let (direct_dx, direct_dw) = (plan.direct, plan.direct_dw);
    let (mut dx, mut dw) = (dx, dw);
    let gemm_dx = if direct_dx { None } else { dx.take() };
    let gemm_dw = if direct_dw { None } else { dw.take() };
    if gemm_dx.is_some() || gemm_dw.is_some() {
        backward_gemm(g, x, w, dy, gemm_dx, gemm_dw);
    }
    if dx.is_some() || dw.is_some() {
        backward_direct(g, x, w, dy, dx, dw);
    }
}

/// The gradients the direct kernel computes (the plan allows it for both), chunk by
/// chunk of [`CHUNK`] images in parallel.
fn backward_direct(g: &ConvGeom, x: &[f32], w: &[f32], dy: &[f32], dx: Option<&mut [f32]>, dw: Option<&mut [f32]>) {
    let k = g.k();
    let want_dw = dw.is_some();
    let chunks = g.n.div_ceil(CHUNK);
    // Empty `dx` chunks when the input gradient is not wanted.
    let mut no_dx = Vec::new();
    let (dx, want_dx) = match dx {
        Some(d) => (d, true),
        None => (&mut no_dx[..], false),
    };
    let flipped = if want_dx { direct::flip_transpose(w, g.c_out, g.c_in, g.kh) } else { Vec::new() };
    let (back_flat, fwd_flat) = (direct::backward_flat(g), direct::forward_flat(g));
    let dx_chunk = if want_dx { CHUNK * g.in_plane() } else { 1 };
    let mut dx_chunks: Vec<&mut [f32]> = dx.chunks_mut(dx_chunk).collect();
    dx_chunks.resize_with(chunks, Default::default);
    let partials: Vec<Vec<f32>> = dx_chunks
        .into_par_iter()
        .zip(x.par_chunks(CHUNK * g.in_plane()))
        .zip(dy.par_chunks(CHUNK * g.out_plane()))
        .map(|((dxs, xs), dys)| {
            let mut dw_part = if want_dw { vec![0.0f32; g.c_out * k] } else { Vec::new() };
            let mut scratch = direct::Scratch::default();
            if want_dw {
                for (xn, dyn_) in xs.chunks(g.in_plane()).zip(dys.chunks(g.out_plane())) {
                    direct::weight_grad_image(&fwd_flat, g.c_out, xn, dyn_, &mut dw_part, &mut scratch);
                }
            }
            if want_dx {
                for (dxn, dyn_) in dxs.chunks_mut(g.in_plane()).zip(dys.chunks(g.out_plane())) {
                    direct::forward_image(&back_flat, g.c_in, dyn_, &flipped, dxn, &mut scratch);
                }
            }
            dw_part
        })
        .collect();
    if let Some(dw) = dw {
        dw.copy_from_slice(&partials[0]);
        for part in &partials[1..] {
            dw.iter_mut().zip(part).for_each(|(a, b)| *a += *b);
        }
    }
}

/// Output columns (`images·P`) per chunk of the `gemm` path (`OCCLUDE_GEMM_COLS`
/// overrides it, for measurements).
const GEMM_COLS: usize = 1024;

/// Images per chunk of the `gemm` path: about [`GEMM_COLS`] columns (at least
/// [`CHUNK`] images), so that small planes still give `gemm` wide matrices and large
/// weights are packed once per chunk. It depends on the shape only, never on the
/// thread count.
fn gemm_chunk(g: &ConvGeom) -> usize {
    let cols = threshold("OCCLUDE_GEMM_COLS", GEMM_COLS);
    (cols / g.p().max(1)).max(CHUNK).min(g.n.max(1))
}

/// The column matrix of a chunk of images (`xs`, whole images) side by side
/// (`K × images·P`), lowered in parallel over input channels when `parallel`.
fn chunk_col(g: &ConvGeom, xs: &[f32], parallel: bool) -> Vec<f32> {
    let images = xs.len() / g.in_plane();
    let (kk, plane, cols) = (g.kh * g.kw, g.h * g.w, images * g.p());
    let mut col = vec![0.0f32; g.k() * cols];
    let lower = |(ci, block): (usize, &mut [f32])| {
        for i in 0..images {
            let src = &xs[(i * g.c_in + ci) * plane..(i * g.c_in + ci + 1) * plane];
            im2col_channel(g, src, &mut block[i * g.p()..], cols);
        }
    };
    if parallel {
        col.par_chunks_mut(kk * cols).enumerate().for_each(lower);
    } else {
        col.chunks_mut(kk * cols).enumerate().for_each(lower);
    }
    col
}

/// The forward pass by `gemm`: per chunk of images, `Y[C_out × images·P] = W · col`.
/// Chunks run in parallel, each `gemm` on one thread; a batch that is one chunk runs
/// its `gemm` on all threads instead.
fn forward_gemm(g: &ConvGeom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (k, p) = (g.k(), g.p());
    let per = gemm_chunk(g);
    let inner = g.n <= per;
    y.par_chunks_mut(per * g.out_plane()).zip(x.par_chunks(per * g.in_plane())).for_each(|(ys, xs)| {
        let cols = xs.len() / g.in_plane() * p;
        let col = chunk_col(g, xs, inner);
        let mut yb = vec![0.0f32; g.c_out * cols];
        matmul_par(inner, g.c_out, cols, k, &mut yb, false, w, k as isize, 1, &col, cols as isize, 1);
        for (j, plane) in ys.chunks_mut(p).enumerate() {
            let (i, co) = (j / g.c_out, j % g.c_out);
            plane.copy_from_slice(&yb[co * cols + i * p..co * cols + (i + 1) * p]);
            if let Some(b) = bias {
                plane.iter_mut().for_each(|v| *v += b[co]);
            }
        }
    });
}

/// The backward pass by `gemm`, chunk by chunk as [`forward_gemm`]: `dW += dY ·
/// colᵀ`, `dcol = Wᵀ · dY` scattered back. The chunks' weight gradients are summed
/// in chunk order.
fn backward_gemm(g: &ConvGeom, x: &[f32], w: &[f32], dy: &[f32], dx: Option<&mut [f32]>, dw: Option<&mut [f32]>) {
    let (k, p, kk) = (g.k(), g.p(), g.kh * g.kw);
    let per = gemm_chunk(g);
    let inner = g.n <= per;
    let chunks = g.n.div_ceil(per);
    let want_dw = dw.is_some();
    let mut no_dx = Vec::new();
    let (dx, want_dx) = match dx {
        Some(d) => (d, true),
        None => (&mut no_dx[..], false),
    };
    let mut dx_chunks: Vec<&mut [f32]> = dx.chunks_mut(if want_dx { per * g.in_plane() } else { 1 }).collect();
    dx_chunks.resize_with(chunks, Default::default);
    let partials: Vec<Vec<f32>> = dx_chunks
        .into_par_iter()
        .zip(x.par_chunks(per * g.in_plane()))
        .zip(dy.par_chunks(per * g.out_plane()))
        .map(|((dxs, xs), dys)| {
            let images = xs.len() / g.in_plane();
            let cols = images * p;
            let mut dyb = vec![0.0f32; g.c_out * cols];
            for (j, src) in dys.chunks(p).enumerate() {
                let (i, co) = (j / g.c_out, j % g.c_out);
                dyb[co * cols + i * p..co * cols + (i + 1) * p].copy_from_slice(src);
            }
            let mut dw_part = Vec::new();
            if want_dw {
                dw_part = vec![0.0f32; g.c_out * k];
                let col = chunk_col(g, xs, inner);
                matmul_par(
                    inner,
                    g.c_out,
                    k,
                    cols,
                    &mut dw_part,
                    false,
                    &dyb,
                    cols as isize,
                    1,
                    &col,
                    1,
                    cols as isize,
                );
            }
            if want_dx {
                let mut dcol = vec![0.0f32; k * cols];
                matmul_par(inner, k, cols, g.c_out, &mut dcol, false, w, 1, k as isize, &dyb, cols as isize, 1);
                let scatter = |(j, plane): (usize, &mut [f32])| {
                    let (i, ci) = (j / g.c_in, j % g.c_in);
                    plane.fill(0.0);
                    col2im_channel(g, &dcol[ci * kk * cols + i * p..], cols, plane);
                };
                if inner {
                    dxs.par_chunks_mut(g.h * g.w).enumerate().for_each(scatter);
                } else {
                    dxs.chunks_mut(g.h * g.w).enumerate().for_each(scatter);
                }
            }
            dw_part
        })
        .collect();
    if let Some(dw) = dw {
        dw.copy_from_slice(&partials[0]);
        for part in &partials[1..] {
            dw.iter_mut().zip(part).for_each(|(a, b)| *a += *b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Direct 7-loop convolution in f64.
    fn naive(g: &ConvGeom, x: &[f32], w: &[f32]) -> Vec<f64> {
        let (ho, wo) = (g.out_h(), g.out_w());
        let mut y = vec![0.0f64; g.n * g.c_out * ho * wo];
        for n in 0..g.n {
            for co in 0..g.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0f64;
                        for ci in 0..g.c_in {
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let iy = (oy * g.stride[0] + ky) as isize - g.pad[0] as isize;
                                    let ix = (ox * g.stride[1] + kx) as isize - g.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * g.c_in + ci) * g.h + iy as usize) * g.w + ix as usize] as f64;
                                    let wv = w[((co * g.c_in + ci) * g.kh + ky) * g.kw + kx] as f64;
                                    acc += xv * wv;
                                }
                            }
                        }
                        y[((n * g.c_out + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn random(len: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    fn geoms() -> Vec<ConvGeom> {
        let g = |n, c_in, h, w, c_out, k: usize, s, p| ConvGeom {
            n,
            c_in,
            h,
            w,
            c_out,
            kh: k,
            kw: k,
            stride: [s, s],
            pad: [p, p],
        };
        vec![
            g(5, 3, 9, 7, 4, 3, 1, 1),
            g(6, 4, 8, 8, 5, 3, 2, 1),
            g(3, 2, 11, 10, 3, 7, 2, 3),
            g(9, 6, 5, 5, 7, 1, 1, 0),
            g(2, 6, 6, 7, 3, 1, 2, 0),
            g(1, 1, 6, 6, 2, 5, 1, 0),
            g(4, 2, 3, 3, 2, 3, 1, 2),
            ConvGeom { n: 2, c_in: 3, h: 7, w: 9, c_out: 2, kh: 3, kw: 2, stride: [1, 2], pad: [1, 0] },
        ]
    }

    #[test]
    fn forward_matches_the_direct_sum() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for g in geoms() {
            let x = random(g.n * g.c_in * g.h * g.w, &mut rng);
            let w = random(g.c_out * g.k(), &mut rng);
            let bias = random(g.c_out, &mut rng);
            let want = naive(&g, &x, &w);
            for plan in Plan::all() {
                let mut y = vec![0.0; g.n * g.c_out * g.p()];
                forward_with(plan, &g, &x, &w, Some(&bias), &mut y);
                for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                    let b = b + bias[(i / g.p()) % g.c_out] as f64;
                    assert!((*a as f64 - b).abs() < 1e-4, "{g:?} {plan:?} at {i}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn backward_is_the_adjoint_of_forward() {
        // <dy, conv(x, w)> is bilinear: its gradient in x is dx and in w is dw, so
        // dx·x = dw·w = <dy, y> for the bias-free convolution, and both match the
        // direct gradient sums computed from the naive forward by linearity.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for g in geoms() {
            let x = random(g.n * g.c_in * g.h * g.w, &mut rng);
            let w = random(g.c_out * g.k(), &mut rng);
            let dy = random(g.n * g.c_out * g.p(), &mut rng);
            for plan in Plan::all() {
                let (mut dx, mut dw) = (vec![f32::NAN; x.len()], vec![f32::NAN; w.len()]);
                backward_with(plan, &g, &x, &w, &dy, Some(&mut dx), Some(&mut dw));
                let g = &g;
                // dx[j] = Σ dy · ∂y/∂x_j: check against the naive forward of unit inputs
                // on a few coordinates, and all coordinates through the inner product.
                let inner = |a: &[f32], b: &[f64]| a.iter().zip(b).map(|(&a, &b)| a as f64 * b).sum::<f64>();
                let y = naive(g, &x, &w);
                let lhs = inner(&dy, &y);
                let via_dx: f64 = dx.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                let via_dw: f64 = dw.iter().zip(&w).map(|(&a, &b)| a as f64 * b as f64).sum();
                assert!((lhs - via_dx).abs() < 1e-3 * lhs.abs().max(1.0), "{g:?}: {lhs} vs dx {via_dx}");
                assert!((lhs - via_dw).abs() < 1e-3 * lhs.abs().max(1.0), "{g:?}: {lhs} vs dw {via_dw}");
                for j in [0, x.len() / 3, x.len() - 1] {
                    let mut e = vec![0.0f32; x.len()];
                    e[j] = 1.0;
                    let want = inner(&dy, &naive(g, &e, &w));
                    assert!((dx[j] as f64 - want).abs() < 1e-4, "{g:?} dx[{j}]: {} vs {want}", dx[j]);
                }
                for j in [0, w.len() / 2, w.len() - 1] {
                    let mut e = vec![0.0f32; w.len()];
                    e[j] = 1.0;
                    let want = inner(&dy, &naive(g, &x, &e));
                    assert!((dw[j] as f64 - want).abs() < 1e-3, "{g:?} dw[{j}]: {} vs {want}", dw[j]);
                }
                // Either gradient alone gives the same values.
                let mut dx2 = vec![0.0; x.len()];
                backward_with(plan, g, &x, &w, &dy, Some(&mut dx2), None);
                assert_eq!(dx, dx2);
                let mut dw2 = vec![0.0; w.len()];
                backward_with(plan, g, &x, &w, &dy, None, Some(&mut dw2));
                assert_eq!(dw, dw2);
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // The wide path (8×8) and the direct path (16×16).
        for hw in [8, 16] {
            let g = ConvGeom { n: 11, c_in: 3, h: hw, w: hw, c_out: 4, kh: 3, kw: 3, stride: [1, 1], pad: [1, 1] };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let x = random(g.n * g.c_in * hw * hw, &mut rng);
            let w = random(g.c_out * g.k(), &mut rng);
            let dy = random(g.n * g.c_out * hw * hw, &mut rng);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
                    backward(&g, &x, &w, &dy, Some(&mut dx), Some(&mut dw));
                    (dx, dw)
                })
            };
            assert_eq!(run(1), run(3));
        }
    }
}
