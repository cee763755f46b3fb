//! Direct stride-1 convolution with an AVX2 + FMA register-tiled kernel: the forward
//! pass, and the input gradient as the forward pass of the output gradient with the
//! flipped, transposed weight.
//!
//! The method ("flat padding"): each input channel is copied into a zero-padded plane
//! of width `Wp = W + 2p`, stored flat. Output pixel `(oy, ox)` of tap `(ky, kx)` then
//! reads flat position `q + ky·Wp + kx` with `q = oy·Wp + ox`, so for a fixed tap
//! every output row is one contiguous run of the padded input, and runs of outputs
//! can be computed as if the image were one long row: `Y'[co, q] = Σ_{ci,ky,kx}
//! W[co, ci, ky, kx] · Xp[ci, q + ky·Wp + kx]` over `q < Ho·Wp`. The `2p` columns
//! of `Y'` past each output row are not outputs and are dropped when `Y'` is copied
//! out. No lowered matrix is built: the kernel keeps a tile of 3 output channels ×
//! 32 flat positions in 12 vector registers and streams input vectors and weight
//! scalars through it (12 FMAs per 4 loads and 3 broadcasts).
//!
//! Only used where AVX2 and FMA are available (checked at run time); elsewhere the
//! `im2col` + `gemm` path of [`super::conv`] runs.

use super::conv::ConvGeom;

/// Output channels per register tile.
const CO: usize = 3;
/// Vectors of 8 flat positions per register tile.
const NV: usize = 4;
const Q_TILE: usize = 8 * NV;

/// Whether this machine runs the direct kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether [`forward_image`] handles this convolution: stride 1, square kernel, and
/// padding that keeps the output no larger than the input.
pub fn applies(g: &ConvGeom) -> bool {
    g.stride == [1, 1] && g.kh == g.kw && g.kh > 1 && g.pad[0] == g.pad[1] && g.pad[0] < g.kh
}

/// The padded layout of one image for a stride-1 `k×k` convolution with padding `p`.
#[derive(Clone, Copy, Debug)]
pub struct Flat {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub p: usize,
}

impl Flat {
    fn wp(&self) -> usize {
        self.w + 2 * self.p
    }
    fn ho(&self) -> usize {
        self.h + 2 * self.p + 1 - self.k
    }
    fn wo(&self) -> usize {
        self.w + 2 * self.p + 1 - self.k
    }
    /// Flat output positions computed, rounded up to whole tiles.
    fn q(&self) -> usize {
        (self.ho() * self.wp()).div_ceil(Q_TILE) * Q_TILE
    }
    /// Length of one padded input plane, with a zero tail covering every read.
    fn plane(&self) -> usize {
        let reach = self.q() + (self.k - 1) * self.wp() + self.k - 1;
        reach.max((self.h + 2 * self.p) * self.wp()).div_ceil(8) * 8
    }
}

/// Scratch buffers of one worker.
#[derive(Default)]
pub struct Scratch {
    xp: Vec<f32>,
    yp: Vec<f32>,
}

/// Copies `x` (`C × H × W`) into zero-padded flat planes of `plane` values each.
fn pad_planes(f: &Flat, x: &[f32], xp: &mut Vec<f32>) {
    let (wp, plane) = (f.wp(), f.plane());
    xp.clear();
    xp.resize(f.c_in * plane, 0.0);
    for ci in 0..f.c_in {
        let dst = &mut xp[ci * plane..(ci + 1) * plane];
        for iy in 0..f.h {
            let row = (iy + f.p) * wp + f.p;
            dst[row..row + f.w].copy_from_slice(&x[(ci * f.h + iy) * f.w..(ci * f.h + iy + 1) * f.w]);
        }
    }
}

/// One image's weight gradient, added to `dw` (`C_out × C_in × k × k`):
/// `dW[co, ci, ky, kx] += Σ_{oy,ox} dY[co, oy, ox] · Xp[ci, oy + ky, ox + kx]`, as
/// `Σ_q dY'[co, q] · Xp[ci, q + ky·Wp + kx]` over the flat layout, where `dY'` is the
/// output gradient spread to rows of width `Wp` with zeros in the padding columns.
pub fn weight_grad_image(f: &Flat, c_out: usize, x: &[f32], dy: &[f32], dw: &mut [f32], s: &mut Scratch) {
    let (wp, q) = (f.wp(), f.q());
    let (ho, wo) = (f.ho(), f.wo());
    debug_assert_eq!(dy.len(), c_out * ho * wo);
    debug_assert_eq!(dw.len(), c_out * f.c_in * f.k * f.k);
    pad_planes(f, x, &mut s.xp);
    s.yp.clear();
    s.yp.resize(c_out * q, 0.0);
    for co in 0..c_out {
        for oy in 0..ho {
            s.yp[co * q + oy * wp..co * q + oy * wp + wo]
                .copy_from_slice(&dy[(co * ho + oy) * wo..(co * ho + oy + 1) * wo]);
        }
    }
    let taps: Vec<usize> = (0..f.k).flat_map(|ky| (0..f.k).map(move |kx| ky * wp + kx)).collect();
    let kk = taps.len();
    let plane = f.plane();
    // Two output channels at a time share every input load.
    let mut co = 0;
    while co < c_out {
        let pair = co + 1 < c_out;
        let g0 = &s.yp[co * q..(co + 1) * q];
        let g1 = if pair { &s.yp[(co + 1) * q..(co + 2) * q] } else { g0 };
        for ci in 0..f.c_in {
            let xc = &s.xp[ci * plane..(ci + 1) * plane];
            for (t0, group) in taps.chunks(TAPS).enumerate() {
                let mut sums = [[0.0f32; TAPS]; 2];
                // SAFETY: `available()` was checked by the caller; every read stays
                // inside `g0`/`g1` (q values) and `xc` (plane() covers q + the largest
                // tap).
                unsafe { correlate2(g0, g1, xc, group, &mut sums) };
                let at = |c: usize, t: usize| ((co + c) * f.c_in + ci) * kk + t0 * TAPS + t;
                for t in 0..group.len() {
                    dw[at(0, t)] += sums[0][t];
                    if pair {
                        dw[at(1, t)] += sums[1][t];
                    }
                }
            }
        }
        co += 2;
    }
}

/// Taps per pass of [`correlate2`]: 2 × 6 accumulators + 2 gradient vectors + 1 input
/// vector fit the 16 AVX2 registers.
const TAPS: usize = 6;

/// `out[c][t] = Σ_q g_c[q] · x[q + taps[t]]` for `c` = 0, 1 and up to [`TAPS`] taps;
/// `g0.len()` is a multiple of 8 and equals `g1.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)]
unsafe fn correlate2(g0: &[f32], g1: &[f32], x: &[f32], taps: &[usize], out: &mut [[f32; TAPS]; 2]) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); TAPS]; 2];
    let (p0, p1, xp) = (g0.as_ptr(), g1.as_ptr(), x.as_ptr());
    let n = taps.len();
    let mut tap = [0usize; TAPS];
    tap[..n].copy_from_slice(taps);
    let mut q = 0;
    while q < g0.len() {
        let a = _mm256_loadu_ps(p0.add(q));
        let b = _mm256_loadu_ps(p1.add(q));
        for t in 0..TAPS {
            if t < n {
                let xv = _mm256_loadu_ps(xp.add(q + tap[t]));
                acc[0][t] = _mm256_fmadd_ps(a, xv, acc[0][t]);
                acc[1][t] = _mm256_fmadd_ps(b, xv, acc[1][t]);
            }
        }
        q += 8;
    }
    for c in 0..2 {
        for t in 0..n {
            // Horizontal sum of the eight lanes.
            let v = acc[c][t];
            let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
            let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
            out[c][t] = _mm_cvtss_f32(s1);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn correlate2(_: &[f32], _: &[f32], _: &[f32], _: &[usize], _: &mut [[f32; TAPS]; 2]) {
    unreachable!("the direct kernel runs on x86_64 only")
}

/// One image: `y[C_out × Ho × Wo] = conv(x[C_in × H × W], w[C_out × C_in × k × k])`,
/// stride 1, padding `p` (overwrites `y`).
pub fn forward_image(f: &Flat, c_out: usize, x: &[f32], w: &[f32], y: &mut [f32], s: &mut Scratch) {
    let (wp, plane, q) = (f.wp(), f.plane(), f.q());
    debug_assert_eq!(x.len(), f.c_in * f.h * f.w);
    debug_assert_eq!(w.len(), c_out * f.c_in * f.k * f.k);
    debug_assert_eq!(y.len(), c_out * f.ho() * f.wo());
    pad_planes(f, x, &mut s.xp);
    s.yp.clear();
    s.yp.resize(CO * q, 0.0);
    let taps: Vec<usize> = (0..f.k).flat_map(|ky| (0..f.k).map(move |kx| ky * wp + kx)).collect();
    let kk = f.k * f.k;
    let (ho, wo) = (f.ho(), f.wo());
    let mut co = 0;
    while co < c_out {
        let n = CO.min(c_out - co);
        let wrows = &w[co * f.c_in * kk..(co + n) * f.c_in * kk];
        for q0 in (0..q).step_by(Q_TILE) {
            // SAFETY: `available()` was checked by the caller; the reads stay inside
            // `xp` (plane() covers q + the largest tap) and the writes inside `yp`.
            unsafe {
                match n {
                    3 => tile::<3>(&s.xp, plane, f.c_in, &taps, wrows, q0, q, &mut s.yp),
                    2 => tile::<2>(&s.xp, plane, f.c_in, &taps, wrows, q0, q, &mut s.yp),
                    _ => tile::<1>(&s.xp, plane, f.c_in, &taps, wrows, q0, q, &mut s.yp),
                }
            }
        }
        for c in 0..n {
            let src = &s.yp[c * q..(c + 1) * q];
            let dst = &mut y[(co + c) * ho * wo..(co + c + 1) * ho * wo];
            for oy in 0..ho {
                dst[oy * wo..(oy + 1) * wo].copy_from_slice(&src[oy * wp..oy * wp + wo]);
            }
        }
        co += n;
    }
}

/// Accumulates the `C × Q_TILE` tile of `Y'` at flat position `q0` for the `C`
/// output channels whose weights are `w` (`C × C_in × k × k`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const C: usize>(
    xp: &[f32],
    plane: usize,
    c_in: usize,
    taps: &[usize],
    w: &[f32],
    q0: usize,
    q: usize,
    yp: &mut [f32],
) {
    use std::arch::x86_64::*;
    let kk = taps.len();
    let mut acc = [[_mm256_setzero_ps(); NV]; C];
    let xbase = xp.as_ptr();
    let wbase = w.as_ptr();
    for ci in 0..c_in {
        let xc = xbase.add(ci * plane + q0);
        for (t, &shift) in taps.iter().enumerate() {
            let src = xc.add(shift);
            // 12 accumulators + C weights + 1 input vector ≤ 16 registers.
            let mut wv = [_mm256_setzero_ps(); C];
            for (c, v) in wv.iter_mut().enumerate() {
                *v = _mm256_broadcast_ss(&*wbase.add((c * c_in + ci) * kk + t));
            }
            for j in 0..NV {
                let xv = _mm256_loadu_ps(src.add(8 * j));
                for c in 0..C {
                    acc[c][j] = _mm256_fmadd_ps(wv[c], xv, acc[c][j]);
                }
            }
        }
    }
    let out = yp.as_mut_ptr();
    for (c, a) in acc.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            _mm256_storeu_ps(out.add(c * q + q0 + 8 * j), *v);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const C: usize>(
    _: &[f32],
    _: usize,
    _: usize,
    _: &[usize],
    _: &[f32],
    _: usize,
    _: usize,
    _: &mut [f32],
) {
    unreachable!("the direct kernel runs on x86_64 only")
}

/// The weight of the input-gradient convolution: `W'[ci, co, ky, kx] =
/// W[co, ci, k−1−ky, k−1−kx]` (`C_in × C_out × k × k`).
pub fn flip_transpose(w: &[f32], c_out: usize, c_in: usize, k: usize) -> Vec<f32> {
    let kk = k * k;
    let mut out = vec![0.0f32; w.len()];
    for co in 0..c_out {
        for ci in 0..c_in {
            for t in 0..kk {
                out[(ci * c_out + co) * kk + (kk - 1 - t)] = w[(co * c_in + ci) * kk + t];
            }
        }
    }
    out
}

/// The layout of the input-gradient convolution of `g` (stride 1): the output
/// gradient padded by `k − 1 − p`.
pub fn backward_flat(g: &ConvGeom) -> Flat {
    Flat { c_in: g.c_out, h: g.out_h(), w: g.out_w(), k: g.kh, p: g.kh - 1 - g.pad[0] }
}

/// The layout of the forward convolution of `g`.
pub fn forward_flat(g: &ConvGeom) -> Flat {
    Flat { c_in: g.c_in, h: g.h, w: g.w, k: g.kh, p: g.pad[0] }
}
