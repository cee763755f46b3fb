//! Semantics of the random samplers, the batched apply and the paradigms, checked
//! against the papers' definitions.
//!
//! Statistical checks compare an empirical mean over many draws with an expectation
//! computed here from the papers' definitions (not from the code under test), within
//! 4σ (4.5σ where many pixels are checked at once); every draw is seeded, so the
//! tests are deterministic. Pixel-level checks compare the device apply with a
//! per-pixel reference written here from the definitions in [`super::params`].

use super::apply::{apply_batch, apply_host, render, soft_targets};
use super::params::{Fill, GridMaskParams, HideGrid, Rect, RegionParams};
use super::sample::{
    cutmix_box, cutout_square, gridmask_params, keep_image, random_erasing_box, sample_batch, sampler_for,
    BatchContext, CutMix, Cutout, GridMask, HideAndSeek, RandomErasing, Sampler,
};
use super::spec::{AugmentSpec, FillSpec, MethodSpec};
use super::{AugmentInput, AugmentPlan, Augmenter, Paradigm, Targets};
use crate::backend::{CpuAutodiff, CpuBackend};
use crate::data::preprocess::{Crop, CropParams};
use crate::data::{Dataset, HostBatch, InMemoryDataset, Loader, LoaderConfig, Normalization, Preprocess};
use crate::models::ModelConfig;
use crate::rng::Rng;
use crate::train::config::AugmentConfig;
use burn::prelude::*;
use burn::tensor::TensorData;
use proptest::prelude::*;
use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type F = CpuBackend;
type A = CpuAutodiff;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// `|got − expected| ≤ k·σ` (σ of the mean), with a tiny slack for float error.
fn assert_within(what: &str, got: f64, expected: f64, sigma: f64, k: f64) {
    assert_within_slack(what, got, expected, sigma, k, 1e-9)
}

/// `|got − expected| ≤ k·σ + slack`.
fn assert_within_slack(what: &str, got: f64, expected: f64, sigma: f64, k: f64, slack: f64) {
    assert!(
        (got - expected).abs() <= k * sigma + slack,
        "{what}: empirical {got:.6} vs expected {expected:.6} (σ = {sigma:.6}, |Δ| = {:.2}σ)",
        (got - expected).abs() / sigma.max(1e-300)
    );
}

/// A context of `n` images (dataset indices `0..n`, copy 0).
fn ctx(h: usize, w: usize, n: usize, seed: u64) -> BatchContext {
    BatchContext::new(seed, 0, 0, (0..n).collect(), vec![0; n], h, w)
}

/// Length of `[c − ⌊s/2⌋, c − ⌊s/2⌋ + s) ∩ [0, n)`: the rows (or columns) a square
/// of side `s` centred on `c` covers (Cutout, CutMix).
fn covered_len(c: usize, s: usize, n: usize) -> usize {
    let a = c as i64 - (s / 2) as i64;
    let b = a + s as i64;
    (b.min(n as i64) - a.max(0)).max(0) as usize
}

/// `E[L]` and `E[L²]` of [`covered_len`] for a centre uniform on `0..n`.
fn covered_moments(s: usize, n: usize) -> (f64, f64) {
    let (mut m1, mut m2) = (0.0, 0.0);
    for c in 0..n {
        let l = covered_len(c, s, n) as f64;
        m1 += l;
        m2 += l * l;
    }
    (m1 / n as f64, m2 / n as f64)
}

/// `P(row y is covered)` by a side-`s` box whose centre is uniform on `0..n`.
fn line_cover_prob(y: usize, s: usize, n: usize) -> f64 {
    let hits = (0..n)
        .filter(|&c| {
            let a = c as i64 - (s / 2) as i64;
            (a..a + s as i64).contains(&(y as i64))
        })
        .count();
    hits as f64 / n as f64
}

/// The band of pixel `y` on a side of `n` split into `g` bands, by the definition
/// of [`HideGrid`]: band `i` is `[⌊i·n/g⌋, ⌊(i+1)·n/g⌋)`.
fn band_of(y: usize, g: usize, n: usize) -> usize {
    let found: Vec<usize> = (0..g).filter(|&i| i * n / g <= y && y < (i + 1) * n / g).collect();
    assert_eq!(found.len(), 1, "pixel {y} of {n} lies in {} of {g} bands", found.len());
    found[0]
}

/// Whether the GridMask of `g` occludes `(y, x)`: GridMask (Chen et al. 2020) keeps
/// a band of `l` rows and one of `l` columns at the start of every `d × d` unit (units
/// start at the offsets) and occludes the remaining `(d − l) × (d − l)` square.
fn gridmask_occludes(g: &GridMaskParams, y: usize, x: usize) -> bool {
    let d = g.unit as i64;
    let ry = (y as i64 - g.offset_y as i64).rem_euclid(d);
    let rx = (x as i64 - g.offset_x as i64).rem_euclid(d);
    ry >= g.keep as i64 && rx >= g.keep as i64
}

/// Which pixels `p` changes, from the definitions (independent of `covers`).
fn covered(p: &RegionParams, y: usize, x: usize, h: usize, w: usize) -> bool {
    match p {
        RegionParams::Keep => false,
        RegionParams::Erase { rects, .. } | RegionParams::Paste { rects } => {
            rects.iter().any(|r| r.top <= y && y < r.top + r.height && r.left <= x && x < r.left + r.width)
        }
        RegionParams::Mix { rect: r, .. } => r.top <= y && y < r.top + r.height && r.left <= x && x < r.left + r.width,
        RegionParams::HideAndSeek { grid, .. } => {
            let g = grid.grid;
            grid.hidden[band_of(y, g, h) * g + band_of(x, g, w)]
        }
        RegionParams::GridMask { grid, .. } => gridmask_occludes(grid, y, x),
    }
}

/// The batched apply written pixel by pixel from the definitions: a covered pixel
/// becomes 0 (zero fill), `c` (constant fill), an N(0, 1) draw from the fill seed
/// (random fill, drawn in channel, row, column order over the covered pixels), the
/// partner's pixel (Mix); Paste takes the clean pixel inside the rectangles and the
/// augmented one outside; a kept image is the clean image.
fn reference_apply(x: &[f32], aug: Option<&[f32]>, dims: [usize; 4], params: &[RegionParams]) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let per = c * h * w;
    let mut out = vec![f32::NAN; x.len()];
    for (i, p) in params.iter().enumerate().take(n) {
        let mut noise = match p {
            RegionParams::Erase { fill: Fill::Random { seed }, .. }
            | RegionParams::HideAndSeek { fill: Fill::Random { seed }, .. }
            | RegionParams::GridMask { fill: Fill::Random { seed }, .. } => Some(Rng::seed_from_u64(*seed)),
            _ => None,
        };
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    let at = i * per + (ch * h + y) * w + xx;
                    let cov = covered(p, y, xx, h, w);
                    out[at] = match p {
                        RegionParams::Keep => x[at],
                        RegionParams::Paste { .. } => {
                            if cov {
                                x[at]
                            } else {
                                aug.expect("paste needs the augmented view")[at]
                            }
                        }
                        RegionParams::Mix { partner, .. } => {
                            if cov {
                                x[partner * per + (ch * h + y) * w + xx]
                            } else {
                                x[at]
                            }
                        }
                        RegionParams::Erase { fill, .. }
                        | RegionParams::HideAndSeek { fill, .. }
                        | RegionParams::GridMask { fill, .. } => {
                            if !cov {
                                x[at]
                            } else {
                                match fill {
                                    Fill::Zero => 0.0,
                                    Fill::Constant { value } => *value,
                                    Fill::Random { .. } => StandardNormal.sample(noise.as_mut().unwrap()),
                                }
                            }
                        }
                    };
                }
            }
        }
    }
    out
}

/// `apply_batch` on backend `B`, read back.
fn device_apply<B: Backend>(x: &[f32], aug: Option<&[f32]>, dims: [usize; 4], params: &[RegionParams]) -> Vec<f32> {
    let device = B::Device::default();
    let t = Tensor::<B, 4>::from_data(TensorData::new(x.to_vec(), dims), &device);
    let a = aug.map(|a| Tensor::<B, 4>::from_data(TensorData::new(a.to_vec(), dims), &device));
    apply_batch(t, a, params).unwrap().into_data().to_vec::<f32>().unwrap()
}

/// Values with no exact zeros (so a zero fill is visible).
fn test_pixels(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(0.5f32..3.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 }).collect()
}

// ---------------------------------------------------------------------------------
// 1. Cutout
// ---------------------------------------------------------------------------------

#[test]
fn cutout_mean_area_matches_a_uniform_centre_with_overflow() {
    // Seed 000 §3: centres uniform over the whole image, squares may overflow. The
    // covered rows and columns are independent, so E[area] = E[rows]·E[cols].
    const N: usize = 20_000;
    for (k, &(h, w, s)) in
        [(32, 32, 16), (32, 32, 15), (20, 28, 7), (9, 13, 9), (10, 10, 1), (11, 6, 6)].iter().enumerate()
    {
        let mut rng = Rng::seed_from_u64(100 + k as u64);
        let (r1, r2) = covered_moments(s, h);
        let (c1, c2) = covered_moments(s, w);
        let mean = r1 * c1;
        let var = r2 * c2 - mean * mean;
        let area: f64 = (0..N).map(|_| cutout_square(&mut rng, s, h, w).area() as f64).sum::<f64>() / N as f64;
        let hw = (h * w) as f64;
        assert_within(
            &format!("cutout {h}×{w} s={s}: mean visible area"),
            hw - area,
            hw - mean,
            (var / N as f64).sqrt(),
            4.0,
        );
    }
}

#[test]
fn cutout_covers_every_row_and_column_like_a_uniform_centre() {
    // Per-line coverage: catches centres restricted away from the border (e.g. the
    // last positions never drawn) and off-by-one offsets.
    const N: usize = 20_000;
    for (k, &(h, w, s)) in [(10, 7, 5), (10, 7, 4), (6, 9, 1)].iter().enumerate() {
        let mut rng = Rng::seed_from_u64(200 + k as u64);
        let (mut rows, mut cols) = (vec![0usize; h], vec![0usize; w]);
        for _ in 0..N {
            let r = cutout_square(&mut rng, s, h, w);
            (r.top..r.bottom()).for_each(|y| rows[y] += 1);
            (r.left..r.right()).for_each(|x| cols[x] += 1);
        }
        for (counts, n, axis) in [(&rows, h, "row"), (&cols, w, "column")] {
            for (y, &count) in counts.iter().enumerate() {
                let p = line_cover_prob(y, s, n);
                let sigma = (p * (1.0 - p) / N as f64).sqrt();
                assert_within(&format!("cutout {h}×{w} s={s}: {axis} {y}"), count as f64 / N as f64, p, sigma, 4.5);
            }
        }
    }
}

#[test]
fn cutout_squares_have_side_s_unless_clipped_for_odd_and_even_s() {
    // REFERENCE.md: odd hole sizes lose a pixel in albumentations (`c ± s//2`).
    let (h, w) = (32, 24);
    for s in [1, 2, 3, 4, 7, 8, 15, 16, 24] {
        let mut rng = Rng::seed_from_u64(s as u64);
        let mut full = 0;
        for _ in 0..400 {
            let r = cutout_square(&mut rng, s, h, w);
            assert!(r.fits(h, w), "s={s}: {r:?} outside {h}×{w}");
            assert!(r.height <= s && r.width <= s, "s={s}: {r:?} larger than s");
            // The centre pixel is always inside, so at least ⌈s/2⌉ rows and columns stay.
            assert!(r.height >= s.div_ceil(2) && r.width >= s.div_ceil(2), "s={s}: {r:?} lost its centre");
            if r.top > 0 && r.bottom() < h {
                assert_eq!(r.height, s, "s={s}: {r:?} is not clipped vertically but is not s rows high");
            }
            if r.left > 0 && r.right() < w {
                assert_eq!(r.width, s, "s={s}: {r:?} is not clipped horizontally but is not s columns wide");
            }
            full += (r.height == s && r.width == s) as usize;
        }
        assert!(full > 0, "s={s}: no full s×s square in 400 draws");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn cutout_sampler_emits_n_clipped_squares_inside_the_image(
        h in 1usize..40, w in 1usize..40, s_frac in 0.0f64..1.0, n in 1usize..5, seed: u64, index in 0usize..10_000,
    ) {
        let s = 1 + ((s_frac * h.min(w) as f64) as usize).min(h.min(w) - 1);
        let c = BatchContext::new(seed, 1, 0, vec![index], vec![0], h, w);
        let p = Cutout { n, s: Some(s), fill: FillSpec::Zero }.sample(&c, 0, None);
        let RegionParams::Erase { rects, fill } = p else { panic!("cutout gave {p:?}") };
        prop_assert_eq!(fill, Fill::Zero);
        prop_assert_eq!(rects.len(), n);
        for r in rects {
            prop_assert!(r.fits(h, w), "{:?} outside {}×{}", r, h, w);
            prop_assert!(r.height >= s.div_ceil(2) && r.height <= s && r.width >= s.div_ceil(2) && r.width <= s);
        }
    }
}

// ---------------------------------------------------------------------------------
// 2. Hide-and-Seek
// ---------------------------------------------------------------------------------

#[test]
fn hide_and_seek_hides_every_pixel_with_probability_one_minus_p_keep_patch() {
    // Seed 000 §3: each cell of the G × G grid is dropped independently with
    // probability 1 − p_keep_patch; every pixel lies in exactly one cell, so every
    // pixel (also in the larger cells when G does not divide the side) is hidden
    // with probability exactly 1 − p_keep_patch.
    const N: usize = 3_000;
    for &(h, w, g, p_keep) in &[
        (32, 32, 4, 0.5),
        (30, 30, 4, 0.3),
        (30, 30, 4, 0.75),
        (12, 20, 4, 0.6),
        (7, 11, 3, 0.5),
        (30, 30, 4, 0.0),
        (30, 30, 4, 1.0),
    ] {
        let what = format!("hide-and-seek {h}×{w} G={g} p_keep_patch={p_keep}");
        let sampler = HideAndSeek { g, p_keep_patch: p_keep, fill: FillSpec::Zero };
        let c = BatchContext::new(9, 2, 0, (0..N).collect(), vec![0; N], h, w);
        let rb: Vec<usize> = (0..h).map(|y| band_of(y, g, h)).collect();
        let cb: Vec<usize> = (0..w).map(|x| band_of(x, g, w)).collect();
        let mut per_pixel = vec![0usize; h * w];
        let mut fraction_sum = 0.0;
        for i in 0..N {
            let params = sampler.sample(&c, i, None);
            let RegionParams::HideAndSeek { grid, fill } = &params else { panic!("{what}: got {params:?}") };
            assert_eq!((grid.grid, grid.hidden.len(), *fill), (g, g * g, Fill::Zero), "{what}");
            let mut hidden = 0usize;
            for y in 0..h {
                for x in 0..w {
                    if grid.hidden[rb[y] * g + cb[x]] {
                        per_pixel[y * w + x] += 1;
                        hidden += 1;
                    }
                }
            }
            fraction_sum += hidden as f64 / (h * w) as f64;
            if i < 100 {
                // The renderer and `covers` draw the same cells as the definition.
                let mask = render(std::slice::from_ref(&params), [1, 1, h, w]).unwrap().mask;
                for y in 0..h {
                    for x in 0..w {
                        let want = grid.hidden[rb[y] * g + cb[x]];
                        assert_eq!(mask[y * w + x], want, "{what}: rendered pixel ({y}, {x})");
                        assert_eq!(params.covers(y, x, h, w), want, "{what}: covers({y}, {x})");
                    }
                }
            }
        }
        let q = 1.0 - p_keep;
        // Var of the hidden fraction of one draw: Σ_k q(1−q)·(area_k / HW)².
        let cell_share_sq: f64 = (0..g * g)
            .map(|k| {
                let (y0, y1) = ((k / g) * h / g, (k / g + 1) * h / g);
                let (x0, x1) = ((k % g) * w / g, (k % g + 1) * w / g);
                (((y1 - y0) * (x1 - x0)) as f64 / (h * w) as f64).powi(2)
            })
            .sum();
        let sigma = (q * (1.0 - q) * cell_share_sq / N as f64).sqrt();
        assert_within(&format!("{what}: hidden fraction"), fraction_sum / N as f64, q, sigma, 4.0);
        let sigma_px = (q * (1.0 - q) / N as f64).sqrt();
        for (k, &count) in per_pixel.iter().enumerate() {
            let what = format!("{what}: pixel ({}, {})", k / w, k % w);
            assert_within(&what, count as f64 / N as f64, q, sigma_px, 5.0);
        }
    }
}

#[test]
fn hide_and_seek_cells_partition_the_image_when_g_does_not_divide_the_side() {
    // 30 = 7 + 8 + 7 + 8 with boundaries ⌊i·30/4⌋ = 0, 7, 15, 22, 30.
    let all = HideGrid { grid: 4, hidden: vec![true; 16] };
    let rects = all.hidden_rects(30, 30);
    assert_eq!(rects.len(), 16);
    let mut count = vec![0u8; 900];
    for r in &rects {
        assert!([7, 8].contains(&r.height) && [7, 8].contains(&r.width), "{r:?}");
        for y in r.top..r.bottom() {
            for x in r.left..r.right() {
                count[y * 30 + x] += 1;
            }
        }
    }
    assert!(count.iter().all(|&c| c == 1), "every pixel lies in exactly one cell");
    let starts: Vec<usize> = (0..4).map(|i| all.cell(i, 0, 30, 30).top).collect();
    assert_eq!(starts, vec![0, 7, 15, 22]);
}

#[test]
fn hide_and_seek_indexes_rows_by_y_and_columns_by_x_on_non_square_images() {
    // REFERENCE.md: PaddleClas swaps x and y. On 12 × 20 with G = 4, row bands are 3
    // pixels high and column bands 5 pixels wide; flag `row * G + col` must hide rows
    // [3·row, 3·row + 3) and columns [5·col, 5·col + 5) — also on 20 × 12.
    for (h, w, bh, bw) in [(12usize, 20usize, 3usize, 5usize), (20, 12, 5, 3)] {
        for k in 0..16 {
            let (row, col) = (k / 4, k % 4);
            let mut hidden = vec![false; 16];
            hidden[k] = true;
            let p = RegionParams::HideAndSeek { grid: HideGrid { grid: 4, hidden }, fill: Fill::Zero };
            let want =
                |y: usize, x: usize| (bh * row..bh * (row + 1)).contains(&y) && (bw * col..bw * (col + 1)).contains(&x);
            let mask = render(std::slice::from_ref(&p), [1, 2, h, w]).unwrap().mask;
            let x = vec![1.5f32; 2 * h * w];
            let out = device_apply::<F>(&x, None, [1, 2, h, w], std::slice::from_ref(&p));
            for ch in 0..2 {
                for y in 0..h {
                    for xx in 0..w {
                        let at = (ch * h + y) * w + xx;
                        assert_eq!(p.covers(y, xx, h, w), want(y, xx), "{h}×{w} cell {k}: covers({y}, {xx})");
                        assert_eq!(mask[at], want(y, xx), "{h}×{w} cell {k}: mask ({ch}, {y}, {xx})");
                        assert_eq!(out[at], if want(y, xx) { 0.0 } else { 1.5 }, "{h}×{w} cell {k}: pixel");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// 3. Random Erasing
// ---------------------------------------------------------------------------------

/// Random Erasing (Zhong et al., Alg. 1): `H_e = √(S_e·r_e)`, `W_e = √(S_e/r_e)` with
/// `S_e/S ∈ [s_l, s_h]`, `r_e ∈ [r_1, r_2]`, rounded to pixels; the box lies inside.
fn check_erasing_box(r: &Rect, h: usize, w: usize, area: [f64; 2], ratio: [f64; 2]) {
    let (eh, ew) = (r.height as f64, r.width as f64);
    let s = (h * w) as f64;
    assert!(r.fits(h, w) && r.height < h && r.width < w, "{r:?} not inside {h}×{w}");
    assert!((eh + 0.5) * (ew + 0.5) >= area[0] * s - 1e-9, "{r:?}: area below s_l = {}", area[0]);
    assert!((eh - 0.5).max(0.0) * (ew - 0.5).max(0.0) <= area[1] * s + 1e-9, "{r:?}: area above s_h = {}", area[1]);
    assert!((eh + 0.5) >= ratio[0] * (ew - 0.5), "{r:?}: aspect H_e/W_e below r_1 = {}", ratio[0]);
    assert!((eh - 0.5) <= ratio[1] * (ew + 0.5), "{r:?}: aspect H_e/W_e above r_2 = {}", ratio[1]);
}

#[test]
fn random_erasing_boxes_respect_the_area_and_aspect_ranges_and_reach_every_border() {
    // Asymmetric aspect ranges (only tall, only wide) catch swapped height/width.
    for (k, &(h, w, area, ratio)) in [
        (32, 32, [0.02, 0.4], [0.3, 3.3]),
        (24, 48, [0.05, 0.2], [2.0, 4.0]),
        (40, 20, [0.1, 0.3], [0.25, 0.5]),
        (17, 23, [0.02, 0.1], [1.0, 1.0]),
    ]
    .iter()
    .enumerate()
    {
        let mut rng = Rng::seed_from_u64(300 + k as u64);
        let (mut top0, mut left0, mut bottom, mut right, mut some) = (false, false, false, false, 0);
        for _ in 0..3000 {
            let Some(r) = random_erasing_box(&mut rng, area, ratio, 10, h, w) else { continue };
            check_erasing_box(&r, h, w, area, ratio);
            some += 1;
            top0 |= r.top == 0;
            left0 |= r.left == 0;
            bottom |= r.bottom() == h;
            right |= r.right() == w;
        }
        assert!(some > 1000, "{h}×{w}: only {some} boxes in 3000 draws");
        assert!(top0 && left0 && bottom && right, "{h}×{w}: some border is never reached");
    }
}

#[test]
fn random_erasing_area_and_log_aspect_are_uniform_when_every_attempt_fits() {
    // With boxes that always fit, S_e/S ~ U(s_l, s_h) and ln r_e ~ U(ln r_1, ln r_2),
    // r_e = H_e / W_e (up to rounding to pixels).
    const N: usize = 8_000;
    let (h, w, area, ratio) = (64, 64, [0.02, 0.1], [1.0, 3.0]);
    let mut rng = Rng::seed_from_u64(31);
    let (mut fr, mut fr2, mut la, mut la2) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..N {
        let r = random_erasing_box(&mut rng, area, ratio, 1, h, w).expect("every box fits");
        let f = r.area() as f64 / (h * w) as f64;
        let l = (r.height as f64 / r.width as f64).ln();
        (fr, fr2, la, la2) = (fr + f, fr2 + f * f, la + l, la2 + l * l);
    }
    let n = N as f64;
    let (mf, ml) = (fr / n, la / n);
    let (sf, sl) = (((fr2 / n - mf * mf) / n).sqrt(), ((la2 / n - ml * ml) / n).sqrt());
    // Small slack for rounding to whole pixels.
    assert_within_slack("random erasing: mean area fraction", mf, (area[0] + area[1]) / 2.0, sf, 4.0, 0.001);
    let mid = (ratio[0].ln() + ratio[1].ln()) / 2.0;
    assert_within_slack("random erasing: mean ln(H_e/W_e)", ml, mid, sl, 4.0, 0.005);
}

#[test]
fn random_erasing_erases_with_probability_p() {
    const N: usize = 4_000;
    for p in [0.0, 0.3, 0.5, 1.0] {
        let sampler = RandomErasing { p, area: [0.02, 0.1], ratio: [0.5, 2.0], attempts: 10, fill: FillSpec::Random };
        let c = BatchContext::new(5, 0, 0, (0..N).collect(), vec![0; N], 32, 32);
        let mut erased = 0;
        for i in 0..N {
            match sampler.sample(&c, i, None) {
                RegionParams::Keep => {}
                RegionParams::Erase { rects, fill } => {
                    assert_eq!(rects.len(), 1);
                    assert!(matches!(fill, Fill::Random { .. }));
                    check_erasing_box(&rects[0], 32, 32, [0.02, 0.1], [0.5, 2.0]);
                    erased += 1;
                }
                other => panic!("random erasing gave {other:?}"),
            }
        }
        assert_within(
            &format!("random erasing p={p}"),
            erased as f64 / N as f64,
            p,
            (p * (1.0 - p) / N as f64).sqrt(),
            4.0,
        );
    }
}

#[test]
fn random_erasing_leaves_the_image_when_no_attempt_fits() {
    let mut rng = Rng::seed_from_u64(1);
    for _ in 0..200 {
        assert_eq!(random_erasing_box(&mut rng, [0.9, 1.0], [3.0, 4.0], 10, 10, 10), None);
    }
    let sampler = RandomErasing { p: 1.0, area: [0.9, 1.0], ratio: [3.0, 4.0], attempts: 10, fill: FillSpec::Zero };
    let c = ctx(10, 10, 20, 3);
    assert!((0..20).all(|i| sampler.sample(&c, i, None) == RegionParams::Keep));
}

// ---------------------------------------------------------------------------------
// 4. CutMix
// ---------------------------------------------------------------------------------

#[test]
fn cutmix_lambda_is_the_kept_pixel_share_of_the_clipped_box() {
    // REFERENCE.md (clovaai/CutMix-PyTorch #1): λ must be recomputed from the box
    // after clipping at the border.
    for (k, &(h, w, alpha)) in [(16, 48, 1.0), (20, 20, 1.0), (32, 32, 0.2), (7, 5, 2.0)].iter().enumerate() {
        let mut rng = Rng::seed_from_u64(400 + k as u64);
        let mut clipped = 0;
        for _ in 0..2000 {
            let (r, lambda) = cutmix_box(&mut rng, alpha, h, w);
            assert!(r.fits(h, w), "{r:?} outside {h}×{w}");
            let want = 1.0 - r.area() as f64 / (h * w) as f64;
            assert!((lambda - want).abs() < 1e-12, "{h}×{w}: λ = {lambda} for {r:?}, expected {want}");
            clipped += (r.top == 0 || r.left == 0 || r.bottom() == h || r.right() == w) as usize;
        }
        assert!(clipped > 100, "{h}×{w}: too few border boxes ({clipped}) to test the correction");
    }
}

#[test]
fn cutmix_box_height_follows_h_and_width_follows_w() {
    // REFERENCE.md (timm #8, composer #3932): width and height swapped. An unclipped
    // box is round(H·√(1−λ)) × round(W·√(1−λ)): some c = √(1−λ) must explain both.
    for (h, w) in [(16usize, 48usize), (48, 16)] {
        let mut rng = Rng::seed_from_u64(h as u64);
        let mut interior = 0;
        for _ in 0..3000 {
            let (r, _) = cutmix_box(&mut rng, 1.0, h, w);
            if r.top == 0 || r.left == 0 || r.bottom() == h || r.right() == w || r.height < 2 {
                continue;
            }
            interior += 1;
            let (lo_h, hi_h) = ((r.height as f64 - 0.5) / h as f64, (r.height as f64 + 0.5) / h as f64);
            let (lo_w, hi_w) = ((r.width as f64 - 0.5) / w as f64, (r.width as f64 + 0.5) / w as f64);
            assert!(lo_h.max(lo_w) <= hi_h.min(hi_w) + 1e-12, "{h}×{w}: unclipped box {r:?} is not H:W shaped");
        }
        assert!(interior > 100, "{h}×{w}: only {interior} unclipped boxes");
    }
}

/// `P(pixel (y, x) is covered)` by CutMix with α = 1 (`1 − λ ~ U(0, 1)`), box
/// `round(H√(1−λ)) × round(W√(1−λ))` centred on a pixel uniform over the image
/// (CutMix `rand_bbox`: `cx = randint(W)`), computed exactly over the pieces of
/// `u = 1 − λ` where both rounded sides are constant.
fn cutmix_cover_probs(h: usize, w: usize) -> Vec<f64> {
    let mut cuts = vec![0.0, 1.0];
    for (n, k) in (0..=h).map(|k| (h, k)).chain((0..=w).map(|k| (w, k))) {
        let u = ((k as f64 + 0.5) / n as f64).powi(2);
        if u < 1.0 {
            cuts.push(u);
        }
    }
    cuts.sort_by(f64::total_cmp);
    let mut p = vec![0.0; h * w];
    for win in cuts.windows(2) {
        let (a, b) = (win[0], win[1]);
        if b <= a {
            continue;
        }
        let c = ((a + b) / 2.0).sqrt();
        let (bh, bw) = ((h as f64 * c).round() as usize, (w as f64 * c).round() as usize);
        let rows: Vec<f64> = (0..h).map(|y| line_cover_prob(y, bh, h)).collect();
        let cols: Vec<f64> = (0..w).map(|x| line_cover_prob(x, bw, w)).collect();
        for y in 0..h {
            for x in 0..w {
                p[y * w + x] += (b - a) * rows[y] * cols[x];
            }
        }
    }
    p
}

#[test]
fn cutmix_covers_every_pixel_like_a_uniform_centre_including_the_last_rows_and_columns() {
    // Kornia #4730: the last two positions of each axis were never drawn; composer
    // #634: pixels covered non-uniformly. Every pixel's coverage frequency must match
    // the exact probability, the bottom-right corner included.
    const N: usize = 20_000;
    for (k, &(h, w)) in [(8usize, 12usize), (12, 8)].iter().enumerate() {
        let want = cutmix_cover_probs(h, w);
        let mut count = vec![0usize; h * w];
        let mut rng = Rng::seed_from_u64(500 + k as u64);
        for _ in 0..N {
            let (r, _) = cutmix_box(&mut rng, 1.0, h, w);
            for y in r.top..r.bottom() {
                for x in r.left..r.right() {
                    count[y * w + x] += 1;
                }
            }
        }
        for y in 0..h {
            for x in 0..w {
                let p = want[y * w + x];
                let sigma = (p * (1.0 - p) / N as f64).sqrt();
                let got = count[y * w + x] as f64 / N as f64;
                assert_within(&format!("cutmix {h}×{w}: coverage of pixel ({y}, {x})"), got, p, sigma, 4.5);
            }
        }
    }
}

#[test]
fn cutmix_partners_are_a_permutation_of_the_batch_drawn_per_batch() {
    let sampler = CutMix { alpha: 1.0 };
    let mut perms = HashSet::new();
    for n in [1usize, 2, 7, 32] {
        for batch in 0..5 {
            let c = BatchContext::new(3, 1, batch, (100..100 + n).collect(), vec![0; n], 16, 16);
            let mut partners: Vec<usize> = (0..n)
                .map(|i| match sampler.sample(&c, i, None) {
                    RegionParams::Mix { partner, .. } => partner,
                    other => panic!("cutmix gave {other:?}"),
                })
                .collect();
            if n == 32 {
                perms.insert(partners.clone());
            }
            partners.sort();
            assert_eq!(partners, (0..n).collect::<Vec<_>>(), "partners of a batch of {n} are not a permutation");
        }
    }
    assert_eq!(perms.len(), 5, "every batch draws its own permutation");
    assert!(!perms.contains(&(0..32).collect::<Vec<_>>()), "the permutation is the identity");
}

#[test]
fn cutmix_soft_targets_mix_one_hot_labels_by_lambda() {
    // Yun et al. Eq. 1: ỹ = λ·y_A + (1 − λ)·y_B.
    let (n, classes) = (12, 5);
    let c = ctx(16, 16, n, 8);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7 + i / 3) % classes).collect();
    let mut params: Vec<RegionParams> = (0..n).map(|i| CutMix { alpha: 1.0 }.sample(&c, i, None)).collect();
    params[4] = RegionParams::Keep;
    let q = soft_targets(&params, &labels, classes).expect("mixed labels");
    assert_eq!(q.len(), n * classes);
    for (i, p) in params.iter().enumerate() {
        let mut want = vec![0.0f64; classes];
        match p {
            RegionParams::Mix { partner, lambda, .. } => {
                want[labels[i]] += lambda;
                want[labels[*partner]] += 1.0 - lambda;
            }
            _ => want[labels[i]] = 1.0,
        }
        let row = &q[i * classes..(i + 1) * classes];
        for k in 0..classes {
            assert!((row[k] as f64 - want[k]).abs() < 1e-6, "row {i}: {row:?} vs {want:?}");
        }
        assert!((row.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-6, "row {i} sums to {row:?}");
    }
    assert_eq!(soft_targets(&[RegionParams::Keep, RegionParams::Keep], &[0, 1], 2), None);
}

// ---------------------------------------------------------------------------------
// 5. GridMask
// ---------------------------------------------------------------------------------

#[test]
fn gridmask_unit_band_and_offsets_follow_the_paper() {
    // Chen et al. §3.1: d ∈ [d1, d2], l = ⌈d·r⌉, δx, δy ∈ [0, d).
    let (d1, d2, r) = (4, 12, 0.6);
    let mut rng = Rng::seed_from_u64(600);
    let mut units = HashSet::new();
    for _ in 0..2000 {
        let g = gridmask_params(&mut rng, d1, d2, r);
        assert!((d1..=d2).contains(&g.unit), "{g:?}");
        assert_eq!(g.keep, (g.unit as f64 * r).ceil() as usize, "{g:?}");
        assert!(g.offset_y < g.unit && g.offset_x < g.unit, "{g:?}");
        units.insert(g.unit);
    }
    assert_eq!(units.len(), d2 - d1 + 1, "both ends of [d1, d2] are drawn");
}

#[test]
fn gridmask_occludes_the_square_after_the_kept_bands_of_each_unit() {
    // d = 5, l = 3, δy = 1, δx = 4 on 12 × 14: rows y with (y − 1) mod 5 ∈ {3, 4}
    // (row 0 ends the unit that starts at row −4) and columns x with
    // (x − 4) mod 5 ∈ {3, 4} are occluded.
    let g = GridMaskParams { unit: 5, keep: 3, offset_y: 1, offset_x: 4 };
    let (rows, cols) = ([0usize, 4, 5, 9, 10], [2usize, 3, 7, 8, 12, 13]);
    let p = RegionParams::GridMask { grid: g, fill: Fill::Constant { value: 7.0 } };
    let mask = render(std::slice::from_ref(&p), [1, 1, 12, 14]).unwrap().mask;
    for y in 0..12 {
        for x in 0..14 {
            let want = rows.contains(&y) && cols.contains(&x);
            assert_eq!(g.occludes(y, x), want, "occludes({y}, {x})");
            assert_eq!(p.covers(y, x, 12, 14), want, "covers({y}, {x})");
            assert_eq!(mask[y * 14 + x], want, "mask ({y}, {x})");
        }
    }
}

#[test]
fn gridmask_occluded_fraction_matches_the_keep_ratio() {
    // With offsets uniform in [0, d), every pixel is occluded with probability
    // ((d − l)/d)², l = ⌈d·r⌉ (the paper's keep ratio k = 1 − (1 − r)² up to the
    // ceiling); d is uniform in [d1, d2].
    const N: usize = 3_000;
    let (h, w) = (30, 26);
    for &(d1, d2, r) in &[(3usize, 10usize, 0.6), (5, 26, 0.4), (2, 2, 0.5)] {
        let sampler = GridMask { d1, d2, r, fill: FillSpec::Zero };
        let c = BatchContext::new(77, 0, 0, (0..N).collect(), vec![0; N], h, w);
        let (mut sum, mut sum2) = (0.0, 0.0);
        for i in 0..N {
            let p = sampler.sample(&c, i, None);
            let RegionParams::GridMask { grid, .. } = &p else { panic!("gridmask gave {p:?}") };
            let occ = (0..h).flat_map(|y| (0..w).map(move |x| (y, x))).filter(|&(y, x)| gridmask_occludes(grid, y, x));
            let occ = occ.count();
            let f = occ as f64 / (h * w) as f64;
            (sum, sum2) = (sum + f, sum2 + f * f);
            if i < 100 {
                let mask = render(std::slice::from_ref(&p), [1, 1, h, w]).unwrap().mask;
                assert_eq!(mask.iter().filter(|&&m| m).count(), occ, "rendered mask of {grid:?}");
            }
        }
        let want: f64 = (d1..=d2)
            .map(|d| {
                let l = (d as f64 * r).ceil();
                ((d as f64 - l) / d as f64).powi(2)
            })
            .sum::<f64>()
            / (d2 - d1 + 1) as f64;
        let n = N as f64;
        let mean = sum / n;
        let sigma = ((sum2 / n - mean * mean).max(0.0) / n).sqrt();
        assert_within(&format!("gridmask d∈[{d1}, {d2}] r={r}: occluded fraction"), mean, want, sigma, 4.0);
    }
}

// ---------------------------------------------------------------------------------
// 6. Determinism
// ---------------------------------------------------------------------------------

/// Random methods with large parameter spaces (a repeat by chance is negligible).
fn random_methods() -> Vec<(&'static str, Box<dyn Sampler>)> {
    vec![
        ("cutout", Box::new(Cutout { n: 3, s: Some(5), fill: FillSpec::Random })),
        ("hide-and-seek", Box::new(HideAndSeek { g: 8, p_keep_patch: 0.5, fill: FillSpec::Zero })),
        (
            "random-erasing",
            Box::new(RandomErasing {
                p: 1.0,
                area: [0.02, 0.4],
                ratio: [0.3, 3.3],
                attempts: 10,
                fill: FillSpec::Random,
            }),
        ),
        ("cutmix", Box::new(CutMix { alpha: 1.0 })),
        ("gridmask", Box::new(GridMask { d1: 3, d2: 30, r: 0.5, fill: FillSpec::Zero })),
    ]
}

/// The parameters of an image without the batch-level partner.
fn own_params(p: RegionParams) -> RegionParams {
    match p {
        RegionParams::Mix { rect, lambda, .. } => RegionParams::Mix { rect, partner: 0, lambda },
        other => other,
    }
}

#[test]
fn same_site_same_parameters_and_each_site_coordinate_changes_them() {
    let (h, w, n) = (32, 32, 8);
    let base = || BatchContext::new(7, 3, 2, (10..10 + n).collect(), vec![1; n], h, w);
    let variants: Vec<(&str, BatchContext)> = vec![
        ("seed", BatchContext::new(8, 3, 2, (10..10 + n).collect(), vec![1; n], h, w)),
        ("epoch", BatchContext::new(7, 4, 2, (10..10 + n).collect(), vec![1; n], h, w)),
        ("index", BatchContext::new(7, 3, 2, (11..11 + n).collect(), vec![1; n], h, w)),
        ("copy", BatchContext::new(7, 3, 2, (10..10 + n).collect(), vec![2; n], h, w)),
    ];
    for (name, s) in random_methods() {
        let draw = |c: &BatchContext| (0..n).map(|i| own_params(s.sample(c, i, None))).collect::<Vec<_>>();
        let a = draw(&base());
        assert_eq!(a, draw(&base()), "{name}: the same site gave different parameters");
        for (what, c) in &variants {
            let b = draw(c);
            let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            assert!(same <= 1, "{name}: changing the {what} left {same} of {n} images' parameters unchanged");
        }
    }
}

#[test]
fn parameters_do_not_depend_on_batch_position_or_composition() {
    // torchvision v2 / Kornia #4712: one draw per batch. Here every image's draw
    // comes from its own (seed, epoch, index, copy).
    let (h, w) = (24, 20);
    let sites = [(3usize, 0usize), (9, 1), (14, 0), (27, 2), (5, 0)];
    let a = BatchContext::new(11, 2, 0, sites.iter().map(|s| s.0).collect(), sites.iter().map(|s| s.1).collect(), h, w);
    let mut other: Vec<(usize, usize)> = sites.iter().rev().copied().collect();
    other.extend([(40, 0), (41, 3), (3, 1)]);
    let b = BatchContext::new(11, 2, 6, other.iter().map(|s| s.0).collect(), other.iter().map(|s| s.1).collect(), h, w);
    for (name, s) in random_methods() {
        for (i, site) in sites.iter().enumerate() {
            let j = other.iter().position(|o| o == site).unwrap();
            assert_eq!(
                own_params(s.sample(&a, i, None)),
                own_params(s.sample(&b, j, None)),
                "{name}: site {site:?} at position {i} vs {j} in another batch"
            );
        }
        // p_keep_image has its own stream: images that are not kept get the same
        // parameters whatever p_keep_image is.
        let kept = sample_batch(s.as_ref(), &a, 0.5, None);
        let all = sample_batch(s.as_ref(), &a, 0.0, None);
        for (i, (k, p)) in kept.iter().zip(&all).enumerate() {
            assert_eq!(*k == RegionParams::Keep, keep_image(&a.site(i), 0.5), "{name}: image {i}");
            if *k != RegionParams::Keep {
                assert_eq!(k, p, "{name}: image {i}: the parameters depend on p_keep_image");
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// 7. Batched apply
// ---------------------------------------------------------------------------------

fn random_rect(rng: &mut Rng, h: usize, w: usize) -> Rect {
    let (top, left) = (rng.random_range(0..=h), rng.random_range(0..=w));
    Rect::new(top, left, rng.random_range(0..=h - top), rng.random_range(0..=w - left))
}

fn random_fill(rng: &mut Rng, zero_only: bool) -> Fill {
    match if zero_only { 0 } else { rng.random_range(0..3) } {
        0 => Fill::Zero,
        1 => Fill::Constant { value: rng.random_range(-3.0f32..3.0) },
        _ => Fill::Random { seed: rng.random() },
    }
}

/// Random parameters of one kind (plus `Keep`) for a batch of `n` images of `h × w`.
fn random_params(kind: usize, n: usize, h: usize, w: usize, zero_only: bool, rng: &mut Rng) -> Vec<RegionParams> {
    (0..n)
        .map(|_| {
            if rng.random_bool(0.25) {
                return RegionParams::Keep;
            }
            match kind {
                0 => RegionParams::Erase {
                    rects: (0..rng.random_range(0..4)).map(|_| random_rect(rng, h, w)).collect(),
                    fill: random_fill(rng, zero_only),
                },
                1 => {
                    let g = rng.random_range(1..=h.min(w).min(5));
                    RegionParams::HideAndSeek {
                        grid: HideGrid { grid: g, hidden: (0..g * g).map(|_| rng.random_bool(0.5)).collect() },
                        fill: random_fill(rng, zero_only),
                    }
                }
                2 => {
                    let unit = rng.random_range(1..=h.max(w) + 2);
                    let grid = GridMaskParams {
                        unit,
                        keep: rng.random_range(0..=unit),
                        offset_y: rng.random_range(0..2 * unit),
                        offset_x: rng.random_range(0..2 * unit),
                    };
                    RegionParams::GridMask { grid, fill: random_fill(rng, zero_only) }
                }
                3 => {
                    let rect = random_rect(rng, h, w);
                    let lambda = 1.0 - rect.area() as f64 / (h * w) as f64;
                    RegionParams::Mix { rect, partner: rng.random_range(0..n), lambda }
                }
                _ => {
                    RegionParams::Paste { rects: (0..rng.random_range(0..3)).map(|_| random_rect(rng, h, w)).collect() }
                }
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn batched_apply_matches_the_per_pixel_reference(
        kind in 0usize..5, n in 1usize..5, c in 1usize..4, h in 1usize..11, w in 1usize..11, zero_only: bool, seed: u64,
    ) {
        let mut rng = Rng::seed_from_u64(seed);
        let dims = [n, c, h, w];
        let params = random_params(kind, n, h, w, zero_only, &mut rng);
        let x = test_pixels(n * c * h * w, seed ^ 1);
        let aug = test_pixels(n * c * h * w, seed ^ 2);
        let aug = (kind == 4).then_some(aug.as_slice());
        let want = reference_apply(&x, aug, dims, &params);
        let got = device_apply::<F>(&x, aug, dims, &params);
        prop_assert_eq!(&got, &want, "device apply of {:?}", params);
        let host = apply_host(&x, aug, dims, &params).unwrap();
        prop_assert_eq!(&host, &want, "apply_host of {:?}", params);
        // `covers` is the same predicate as the definitions.
        for p in &params {
            for y in 0..h {
                for xx in 0..w {
                    prop_assert_eq!(p.covers(y, xx, h, w), covered(p, y, xx, h, w), "covers({}, {}) of {:?}", y, xx, p);
                }
            }
        }
    }
}

#[test]
fn sampled_parameters_of_every_method_apply_like_the_reference() {
    let (n, c, h, w) = (6, 3, 9, 11);
    let dims = [n, c, h, w];
    let x = test_pixels(n * c * h * w, 1);
    let specs = [
        "cutout:n=2,s=4",
        "cutout:n=2,s=5,fill=random",
        "cutout:n=1,s=3,fill=-1.25",
        "hide-and-seek:g=3,p_keep_patch=0.5",
        "hide-and-seek:g=4,p_keep_patch=0.4,fill=random",
        "random-erasing:p=1",
        "random-erasing:p=0.7,fill=zero",
        "cutmix:alpha=1",
        "gridmask:d1=2,d2=6,r=0.5",
        "gridmask:d1=3,d2=11,r=0.4,fill=random",
    ];
    for spec in specs {
        let m = MethodSpec::parse(spec).unwrap();
        let sampler = sampler_for(&m).unwrap();
        for epoch in 0..3 {
            let bc = BatchContext::new(21, epoch, 0, (0..n).collect(), vec![0; n], h, w);
            let params = sample_batch(sampler.as_ref(), &bc, 0.25, None);
            let want = reference_apply(&x, None, dims, &params);
            assert_eq!(device_apply::<F>(&x, None, dims, &params), want, "{spec} epoch {epoch}: {params:?}");
            assert_eq!(apply_host(&x, None, dims, &params).unwrap(), want, "{spec} epoch {epoch}: apply_host");
        }
    }
}

#[test]
fn cutmix_apply_takes_exactly_one_minus_lambda_of_the_pixels_from_the_partner() {
    // Every image has a distinct constant value, so the share of pixels that came
    // from the partner is visible; it must equal 1 − λ (label weights = pixel shares).
    let (n, h, w) = (8, 12, 10);
    let x: Vec<f32> = (0..n * h * w).map(|i| (i / (h * w)) as f32 + 1.0).collect();
    let bc = ctx(h, w, n, 44);
    let params: Vec<RegionParams> = (0..n).map(|i| CutMix { alpha: 1.0 }.sample(&bc, i, None)).collect();
    let out = device_apply::<F>(&x, None, [n, 1, h, w], &params);
    for (i, p) in params.iter().enumerate() {
        let RegionParams::Mix { partner, lambda, .. } = p else { unreachable!() };
        if *partner == i {
            continue;
        }
        let from_partner = out[i * h * w..(i + 1) * h * w].iter().filter(|&&v| v == *partner as f32 + 1.0).count();
        let rest = out[i * h * w..(i + 1) * h * w].iter().filter(|&&v| v == i as f32 + 1.0).count();
        assert_eq!(from_partner + rest, h * w);
        assert!((from_partner as f64 / (h * w) as f64 - (1.0 - lambda)).abs() < 1e-12, "image {i}: {p:?}");
    }
}

#[test]
fn apply_rejects_inconsistent_parameters() {
    let dims = [2, 1, 4, 4];
    let x = Tensor::<F, 4>::zeros(dims, &Default::default());
    let erase = RegionParams::Erase { rects: vec![Rect::new(0, 0, 2, 2)], fill: Fill::Zero };
    let mix = RegionParams::Mix { rect: Rect::new(0, 0, 2, 2), partner: 1, lambda: 0.75 };
    let bad = [
        vec![erase.clone(), mix.clone()],
        vec![RegionParams::Erase { rects: vec![Rect::new(3, 0, 2, 1)], fill: Fill::Zero }, RegionParams::Keep],
        vec![RegionParams::Mix { rect: Rect::new(0, 0, 1, 1), partner: 2, lambda: 0.9375 }, RegionParams::Keep],
        vec![
            RegionParams::HideAndSeek { grid: HideGrid { grid: 2, hidden: vec![true; 3] }, fill: Fill::Zero },
            RegionParams::Keep,
        ],
        vec![erase],
        vec![RegionParams::Paste { rects: vec![] }, RegionParams::Keep],
    ];
    for params in bad {
        assert!(apply_batch(x.clone(), None, &params).is_err(), "{params:?} was accepted");
    }
}

#[cfg(feature = "ndarray")]
#[test]
fn flex_and_ndarray_apply_identically() {
    type N = burn::backend::NdArray;
    for seed in 0..40u64 {
        let mut rng = Rng::seed_from_u64(seed);
        let (n, c, h, w) =
            (rng.random_range(1..5), rng.random_range(1..4), rng.random_range(1..11), rng.random_range(1..11));
        let kind = (seed % 5) as usize;
        let dims = [n, c, h, w];
        let params = random_params(kind, n, h, w, seed % 2 == 0, &mut rng);
        let x = test_pixels(n * c * h * w, seed + 1000);
        let aug = test_pixels(n * c * h * w, seed + 2000);
        let aug = (kind == 4).then_some(aug.as_slice());
        assert_eq!(device_apply::<F>(&x, aug, dims, &params), device_apply::<N>(&x, aug, dims, &params), "{params:?}");
    }
}

// ---------------------------------------------------------------------------------
// 8. Paradigms
// ---------------------------------------------------------------------------------

fn toy_dataset(n: usize, c: usize, h: usize, w: usize) -> Arc<dyn Dataset> {
    let per = c * h * w;
    Arc::new(InMemoryDataset {
        channels: c,
        height: h,
        width: w,
        pixels: (0..n * per).map(|i| (1 + (i * 31 + (i / per) * 17) % 254) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u16).collect(),
        class_names: (0..10).map(|i| i.to_string()).collect(),
    })
}

fn plan(method: &str, paradigm: &str, copies: usize, p_keep_image: f64) -> AugmentPlan {
    AugmentPlan::from_config(&AugmentConfig { method: method.into(), paradigm: paradigm.into(), copies, p_keep_image })
        .unwrap()
}

/// A loader as the trainer configures it from a plan.
fn loader_for(plan: &AugmentPlan, data: Arc<dyn Dataset>, batch_size: usize, seed: u64) -> Loader {
    let c = data.channels();
    let pre = Preprocess {
        crop: Crop::PadCrop { pad: 2 },
        flip: true,
        normalization: Normalization { mean: vec![0.5; c], std: vec![0.25; c] },
    };
    let cfg = LoaderConfig {
        batch_size,
        workers: 1,
        prefetch: 1,
        shuffle: true,
        drop_last: false,
        copies: plan.loader_copies(),
        passes: plan.loader_passes(),
        seed,
        image_ops: plan.loader_image_ops(),
    };
    Loader::new(data, pre, cfg).unwrap()
}

struct Trained {
    images: Vec<f32>,
    dims: [usize; 4],
    hard: Option<Vec<i64>>,
    soft: Option<Vec<f32>>,
}

/// Runs the plan's [`super::BatchAugment`] on a loaded batch.
fn train_augment(plan: &AugmentPlan, host: &HostBatch, epoch: usize, seed: u64, classes: usize) -> Trained {
    let device = Default::default();
    let model = ModelConfig::new("resnet8").init::<A>(host.dims[1], classes, &device).unwrap();
    let images = Tensor::<A, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
    let labels: Vec<i64> = host.labels.iter().map(|&y| y as i64).collect();
    let labels = Tensor::<A, 1, Int>::from_data(TensorData::new(labels, [host.len()]), &device);
    let out = plan
        .build::<A>()
        .apply(AugmentInput { host, images, labels, model: &model, epoch, num_classes: classes, seed })
        .unwrap();
    let dims = out.images.dims();
    let images = out.images.into_data().to_vec::<f32>().unwrap();
    let (hard, soft) = match out.targets {
        Targets::Hard(t) => (Some(t.into_data().iter::<i64>().collect()), None),
        Targets::Soft(t) => (None, Some(t.into_data().to_vec::<f32>().unwrap())),
    };
    Trained { images, dims, hard, soft }
}

/// What the region-level method of `plan` draws for `host` (the trainer's own draw
/// sites; checked independently by the sampler tests above).
fn expected_params(plan: &AugmentPlan, host: &HostBatch, epoch: usize, seed: u64) -> Vec<RegionParams> {
    let sampler = sampler_for(plan.spec.region.as_ref().unwrap()).unwrap();
    sample_batch(sampler.as_ref(), &BatchContext::from_host(host, seed, epoch), plan.p_keep_image, None)
}

#[test]
fn joint_training_puts_the_clean_batch_first_and_occludes_only_the_mask_of_the_second_copy() {
    // Seed 000 §3 / §4.1: preprocess once, duplicate, occlude one copy: (X, X ⊙ M).
    let (epoch, seed, classes) = (1, 13, 10);
    for method in ["cutout:n=2,s=4", "hide-and-seek:g=4,p_keep_patch=0.5", "gridmask:d1=3,d2=6,r=0.5"] {
        let p = plan(method, "joint", 2, 0.0);
        assert_eq!(p.paradigm, Paradigm::Joint);
        assert_eq!((p.loader_copies(), p.loader_passes()), (1, 1));
        let loader = loader_for(&p, toy_dataset(20, 3, 10, 12), 6, seed);
        let host = loader.epoch(epoch, 0).next().unwrap().unwrap();
        let [b, c, h, w] = host.dims;
        let per = c * h * w;
        let t = train_augment(&p, &host, epoch, seed, classes);
        assert_eq!(t.dims, [2 * b, c, h, w], "{method}: joint training doubles the batch");
        assert_eq!(&t.images[..b * per], &host.images[..], "{method}: the first copy is the clean batch");
        let labels: Vec<i64> = host.labels.iter().chain(&host.labels).map(|&y| y as i64).collect();
        assert_eq!(t.hard.as_ref(), Some(&labels), "{method}: both copies keep their labels");
        let params = expected_params(&p, &host, epoch, seed);
        let occluded = &t.images[b * per..];
        assert_eq!(occluded, &reference_apply(&host.images, None, host.dims, &params)[..], "{method}");
        for (i, param) in params.iter().enumerate().take(b) {
            let mut changed = 0;
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        let at = i * per + (ch * h + y) * w + x;
                        if covered(param, y, x, h, w) {
                            assert_eq!(occluded[at], 0.0, "{method}: image {i}: occluded pixel not the mean colour");
                            changed += (host.images[at] != 0.0) as usize;
                        } else {
                            assert_eq!(occluded[at], host.images[at], "{method}: image {i}: pixel outside the mask");
                        }
                    }
                }
            }
            // H&S may hide no cell (1/16); the other two always occlude something.
            assert!(changed > 0 || method.starts_with("hide"), "{method}: image {i} of the second copy is unoccluded");
        }
    }
}

#[test]
fn joint_training_with_cutmix_trains_the_clean_copy_on_one_hot_targets() {
    let (epoch, seed, classes) = (0, 3, 10);
    let p = plan("cutmix:alpha=1", "joint", 2, 0.0);
    let loader = loader_for(&p, toy_dataset(20, 1, 8, 8), 5, seed);
    let host = loader.epoch(epoch, 0).next().unwrap().unwrap();
    let b = host.len();
    let t = train_augment(&p, &host, epoch, seed, classes);
    let q = t.soft.expect("soft targets");
    assert_eq!(q.len(), 2 * b * classes);
    let params = expected_params(&p, &host, epoch, seed);
    for i in 0..b {
        let row = &q[i * classes..(i + 1) * classes];
        assert!(row.iter().enumerate().all(|(k, &v)| v == if k == host.labels[i] { 1.0 } else { 0.0 }), "row {i}");
    }
    assert_eq!(&q[b * classes..], &soft_targets(&params, &host.labels, classes).unwrap()[..]);
    assert_eq!(&t.images[..host.images.len()], &host.images[..]);
}

#[test]
fn joint_baseline_without_occlusion_duplicates_the_batch() {
    // Seed 000 §4.1: the joint baseline trains on duplicated, unoccluded batches.
    let p = plan("none", "joint", 2, 0.0);
    let loader = loader_for(&p, toy_dataset(10, 1, 8, 8), 4, 1);
    let host = loader.epoch(0, 0).next().unwrap().unwrap();
    let t = train_augment(&p, &host, 0, 1, 10);
    assert_eq!(t.dims[0], 2 * host.len());
    assert_eq!(&t.images[..host.images.len()], &host.images[..]);
    assert_eq!(&t.images[host.images.len()..], &host.images[..]);
}

#[test]
fn batch_augmentation_puts_m_independently_preprocessed_and_occluded_copies_in_one_batch() {
    // Seed 000 §4.6: in batch augmentation the preprocessing happens after the
    // duplication, so the copies' crops are independent (differ), unlike joint training.
    let m = 3;
    let p = plan("cutout:n=1,s=4", "batch", m, 0.0);
    assert_eq!((p.loader_copies(), p.loader_passes()), (m, 1));
    let loader = loader_for(&p, toy_dataset(16, 1, 10, 10), 8, 17);
    let host = loader.epoch(0, 0).next().unwrap().unwrap();
    assert_eq!(host.len(), 8 * m);
    let mut by_index: HashMap<usize, Vec<usize>> = HashMap::new();
    for (slot, &i) in host.indices.iter().enumerate() {
        by_index.entry(i).or_default().push(slot);
    }
    assert_eq!(by_index.len(), 8);
    let mut crops_differ = 0;
    let mut params_differ = 0;
    let params = expected_params(&p, &host, 0, 17);
    for slots in by_index.values() {
        assert_eq!(slots.len(), m, "every sample has M copies in the batch");
        let mut copies: Vec<usize> = slots.iter().map(|&s| host.copies[s]).collect();
        copies.sort();
        assert_eq!(copies, (0..m).collect::<Vec<_>>());
        let crops: HashSet<_> =
            slots.iter().map(|&s| (host.crops[s].top, host.crops[s].left, host.crops[s].flip)).collect();
        crops_differ += (crops.len() > 1) as usize;
        let ps: Vec<_> = slots.iter().map(|&s| &params[s]).collect();
        params_differ += ps.iter().any(|q| q != &ps[0]) as usize;
    }
    assert!(crops_differ >= 6, "only {crops_differ} of 8 samples got different crops for their copies");
    assert_eq!(params_differ, 8, "the copies of a sample share their occlusion");
    // The trainer occludes every copy (p_keep_image = 0) and keeps the batch size.
    let t = train_augment(&p, &host, 0, 17, 10);
    assert_eq!(t.dims[0], 8 * m);
    assert_eq!(t.images, reference_apply(&host.images, None, host.dims, &params));
}

#[test]
fn dataset_augmentation_visits_every_sample_m_times_per_epoch_with_different_draws() {
    // Seed 000 Table 8: the training set is iterated M times per epoch.
    let (m, n, bs) = (3, 20, 8);
    let p = plan("cutout:n=1,s=4", "dataset", m, 0.0);
    assert_eq!((p.loader_copies(), p.loader_passes()), (1, m));
    let loader = loader_for(&p, toy_dataset(n, 1, 10, 10), bs, 5);
    let batches: Vec<HostBatch> = loader.epoch(0, 0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), (n * m).div_ceil(bs));
    let mut seen: HashMap<usize, Vec<(usize, RegionParams)>> = HashMap::new();
    for host in &batches {
        assert!(host.len() <= bs, "a batch of dataset augmentation holds batch_size samples");
        let params = expected_params(&p, host, 0, 5);
        for (slot, &i) in host.indices.iter().enumerate() {
            seen.entry(i).or_default().push((host.copies[slot], params[slot].clone()));
        }
    }
    assert_eq!(seen.len(), n);
    for (i, visits) in &seen {
        let mut passes: Vec<usize> = visits.iter().map(|v| v.0).collect();
        passes.sort();
        assert_eq!(passes, (0..m).collect::<Vec<_>>(), "sample {i}: passes");
        let distinct: HashSet<String> = visits.iter().map(|v| format!("{:?}", v.1)).collect();
        assert_eq!(distinct.len(), m, "sample {i}: passes share their occlusion");
    }
}

#[test]
fn dataset_augmentation_puts_the_copies_of_a_sample_in_distinct_mini_batches() {
    // Seed 000 Table 8: "Dataset augmentation iterates through the training set M
    // times (i.e., M copies are in distinct mini-batches)"; data/loader.rs and
    // Paradigm::Dataset promise the same.
    let (m, n, bs) = (2, 37, 8);
    let p = plan("cutout:n=1,s=4", "dataset", m, 0.0);
    let loader = loader_for(&p, toy_dataset(n, 1, 8, 8), bs, 42);
    for epoch in 0..3 {
        for (b, host) in loader.epoch(epoch, 0).map(|b| b.unwrap()).enumerate() {
            let distinct: HashSet<usize> = host.indices.iter().copied().collect();
            assert_eq!(
                distinct.len(),
                host.len(),
                "epoch {epoch} batch {b} holds two copies of one sample: {:?}",
                host.indices
            );
        }
    }
}

#[test]
fn each_image_is_left_untouched_with_probability_p_keep_image() {
    // Seed 000 Fig. 1 / §4.3: with probability p_keep_image the image is preserved.
    const N: usize = 3_000;
    let (h, w) = (4, 4);
    let crop = CropParams { top: 0, left: 0, height: h, width: w, out_height: h, out_width: w, flip: false };
    let images: Vec<f32> = (0..N * h * w).map(|i| 0.25 + (i % 7) as f32).collect();
    let host = HostBatch {
        images: images.clone(),
        dims: [N, 1, h, w],
        labels: vec![0; N],
        indices: (0..N).collect(),
        copies: vec![0; N],
        crops: vec![crop; N],
        batch_index: 0,
        augmented: None,
        image_ops: vec![vec![]; N],
    };
    for p_keep in [0.0, 0.3, 0.5, 1.0] {
        let spec = AugmentSpec::parse("cutout:n=1,s=2").unwrap();
        let mut aug = Augmenter::new(&spec, p_keep);
        let x = Tensor::<F, 4>::from_data(TensorData::new(images.clone(), host.dims), &Default::default());
        let out = aug.augment(&host, x, 9, 4, 2, None).unwrap();
        let got = out.images.into_data().to_vec::<f32>().unwrap();
        let per = h * w;
        let untouched: Vec<bool> =
            (0..N).map(|i| got[i * per..(i + 1) * per] == images[i * per..(i + 1) * per]).collect();
        assert_eq!(untouched, out.kept, "p_keep_image={p_keep}: kept images are exactly the untouched ones");
        for (i, p) in out.params.iter().enumerate() {
            assert_eq!(*p == RegionParams::Keep, out.kept[i], "image {i}");
        }
        let frac = untouched.iter().filter(|&&u| u).count() as f64 / N as f64;
        let sigma = (p_keep * (1.0 - p_keep) / N as f64).sqrt();
        assert_within(&format!("p_keep_image={p_keep}: untouched fraction"), frac, p_keep, sigma, 4.0);
    }
}

#[test]
fn joint_training_occludes_the_second_copy_with_probability_one_minus_p_keep_image() {
    let (epoch, seed) = (0, 2);
    let p = plan("cutout:n=1,s=3", "joint", 2, 0.5);
    let loader = loader_for(&p, toy_dataset(200, 1, 6, 6), 200, seed);
    let host = loader.epoch(epoch, 0).next().unwrap().unwrap();
    let b = host.len();
    let per = 36;
    let t = train_augment(&p, &host, epoch, seed, 10);
    assert_eq!(&t.images[..b * per], &host.images[..]);
    let untouched =
        (0..b).filter(|&i| t.images[(b + i) * per..(b + i + 1) * per] == host.images[i * per..(i + 1) * per]);
    let frac = untouched.count() as f64 / b as f64;
    assert_within("joint, p_keep_image=0.5: untouched second copies", frac, 0.5, (0.25 / b as f64).sqrt(), 4.0);
}

#[test]
fn image_level_methods_train_on_the_augmented_view_unless_the_image_is_kept() {
    // `randaugment+cutout`: a kept image (p_keep_image) is the clean crop; every other
    // image is the loader's augmented view A(x) of the same crop, then occluded.
    let (epoch, seed) = (2, 8);
    let p = plan("randaugment:n=2,m=9+cutout:n=1,s=3", "standard", 1, 0.3);
    assert!(p.loader_image_ops().is_some());
    let loader = loader_for(&p, toy_dataset(40, 1, 8, 8), 40, seed);
    let host = loader.epoch(epoch, 0).next().unwrap().unwrap();
    let aug = host.augmented.as_ref().expect("the loader made the augmented view");
    let per = 64;
    let params = expected_params(&p, &host, epoch, seed);
    let kept = params.iter().filter(|q| **q == RegionParams::Keep).count();
    assert!(kept > 0 && kept < host.len(), "{kept} of {} kept", host.len());
    let base: Vec<f32> = (0..host.len())
        .flat_map(|i| {
            let view = if params[i] == RegionParams::Keep { &host.images } else { aug };
            view[i * per..(i + 1) * per].to_vec()
        })
        .collect();
    let t = train_augment(&p, &host, epoch, seed, 10);
    assert_eq!(t.dims, host.dims);
    assert_eq!(t.images, reference_apply(&base, None, host.dims, &params));
}

#[test]
fn the_occlusion_of_an_image_that_is_not_kept_is_independent_of_the_keep_decision() {
    // Seed 000 Fig. 1: with probability 1 − p_keep_image the image is occluded *as
    // the method defines*: conditioning on "not kept" must not bias the draw (e.g. by
    // reusing the keep decision's random numbers for the centre).
    const N: usize = 20_000;
    let (h, w, s) = (10, 7, 5);
    let c = BatchContext::new(19, 0, 0, (0..N).collect(), vec![0; N], h, w);
    let params = sample_batch(&Cutout { n: 1, s: Some(s), fill: FillSpec::Zero }, &c, 0.5, None);
    let (mut rows, mut cols, mut m) = (vec![0usize; h], vec![0usize; w], 0usize);
    for p in params.iter().filter(|p| **p != RegionParams::Keep) {
        let RegionParams::Erase { rects, .. } = p else { unreachable!() };
        (rects[0].top..rects[0].bottom()).for_each(|y| rows[y] += 1);
        (rects[0].left..rects[0].right()).for_each(|x| cols[x] += 1);
        m += 1;
    }
    assert_within("occluded share", m as f64 / N as f64, 0.5, (0.25 / N as f64).sqrt(), 4.0);
    for (counts, n, axis) in [(&rows, h, "row"), (&cols, w, "column")] {
        for (y, &count) in counts.iter().enumerate() {
            let p = line_cover_prob(y, s, n);
            let sigma = (p * (1.0 - p) / m as f64).sqrt();
            assert_within(&format!("occluded images: {axis} {y}"), count as f64 / m as f64, p, sigma, 4.5);
        }
    }
}
