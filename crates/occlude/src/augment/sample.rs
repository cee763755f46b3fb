//! Samplers: from `(seed, epoch, dataset index, copy, image size[, saliency])` to
//! plain-data [`RegionParams`].
//!
//! Every draw of image `i` comes from generators derived from
//! `(seed, epoch, dataset index, copy)` ([`DrawSite`], [`BatchContext`]; see
//! [`super::context`]).
//!
//! Each paper equation lives in one function whose documentation cites it:
//! [`cutout_square`], [`hide_and_seek_grid`], [`random_erasing_box`],
//! [`cutmix_box`], [`gridmask_params`]; the resolution-aware default size is
//! [`default_side`]. The uniform position draws ([`uniform_centre`],
//! [`uniform_corner`]) are shared with the saliency-guided samplers, which draw their
//! candidates exactly as their base methods do.

pub use super::context::{BatchContext, CandidateCache, DrawSite, Purpose};
use super::keep::{KeepCutMix, KeepCutout, KeepRandomErasing, SaliencyOcclusion, SelectivePaste};
use super::params::{GridMaskParams, HideGrid, Rect, RegionParams};
use super::spec::{FillSpec, MethodSpec};
use crate::rng::Rng;
use rand::Rng as _;
use rand_distr::{Beta, Distribution};

/// Draws the region-level parameters of images.
///
/// Random methods ignore `saliency`; saliency-guided samplers (seed 000 §3
/// saliency-max occlusion, seed 003 Selective-Cut and Selective-Paste) receive the
/// `H × W` map of image `i` (row-major, image coordinates after preprocessing) and
/// emit the same [`RegionParams`], so the batched apply serves them unchanged.
pub trait Sampler: Send + Sync + std::fmt::Debug {
    /// The parameters of batch position `i`.
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams;

    /// Whether [`sample`](Self::sample) needs a saliency map.
    fn needs_saliency(&self) -> bool {
        false
    }

    /// Whether [`sample`](Self::sample) reads the saliency map of image `i`. A sampler
    /// may know it will not from the draws that do not depend on the map (Random
    /// Erasing's coin): the trainer then computes no map for that image.
    fn needs_map(&self, ctx: &BatchContext, i: usize) -> bool {
        let _ = (ctx, i);
        self.needs_saliency()
    }
}

/// Draws the parameters of a whole batch: image `i` is left untouched with
/// probability `p_keep_image` (its own stream, [`Purpose::KeepImage`]), otherwise
/// sampled. `saliency`, when given, holds one `H × W` map per image.
pub fn sample_batch(
    sampler: &dyn Sampler,
    ctx: &BatchContext,
    p_keep_image: f64,
    saliency: Option<&[Vec<f32>]>,
) -> Vec<RegionParams> {
    (0..ctx.len())
        .map(|i| {
            if keep_image(&ctx.site(i), p_keep_image) {
                RegionParams::Keep
            } else {
                sampler.sample(ctx, i, saliency.map(|s| s[i].as_slice()))
            }
        })
        .collect()
}

/// Whether the image at `site` is left untouched, with probability `p_keep_image`
/// (seed 000 §3).
pub fn keep_image(site: &DrawSite, p_keep_image: f64) -> bool {
    p_keep_image > 0.0 && site.rng(Purpose::KeepImage).random::<f64>() < p_keep_image
}

/// The sampler of a region-level method spec.
pub fn sampler_for(spec: &MethodSpec) -> Option<Box<dyn Sampler>> {
    Some(match *spec {
        MethodSpec::Cutout { n, s, fill } => Box::new(Cutout { n, s, fill }),
        MethodSpec::HideAndSeek { g, p_keep_patch, fill } => Box::new(HideAndSeek { g, p_keep_patch, fill }),
        MethodSpec::RandomErasing { p, sl, sh, r1, r2, attempts, fill } => {
            Box::new(RandomErasing { p, area: [sl, sh], ratio: [r1, r2], attempts, fill })
        }
        MethodSpec::CutMix { alpha } => Box::new(CutMix { alpha }),
        MethodSpec::GridMask { d1, d2, r, fill } => Box::new(GridMask { d1, d2, r, fill }),
        MethodSpec::AutoAugment { .. } | MethodSpec::RandAugment { .. } => return None,
        MethodSpec::SelectiveCut { ref base, tau, .. } => match **base {
            MethodSpec::Cutout { n, s, fill } => Box::new(KeepCutout { n, s, fill, tau }),
            MethodSpec::RandomErasing { p, sl, sh, r1, r2, attempts, fill } => Box::new(KeepRandomErasing {
                base: RandomErasing { p, area: [sl, sh], ratio: [r1, r2], attempts, fill },
                tau,
            }),
            MethodSpec::CutMix { alpha } => Box::new(KeepCutMix { alpha, tau }),
            _ => unreachable!("the spec parser only wraps cutout, random-erasing and cutmix"),
        },
        MethodSpec::SelectivePaste { s, tau, .. } => Box::new(SelectivePaste { s, tau }),
        MethodSpec::SaliencyOcclusion { n, s, t, jitter, fill, .. } => {
            Box::new(SaliencyOcclusion { n, s, stride: t, jitter, fill })
        }
    })
}

/// The default side of Cutout's and KeepCutout's squares and of Selective-Paste's
/// region on `h × w` images. seed 003 §4: "we set the cutout paste-back length to be 16
/// on CIFAR-10 and 40 on ImageNet" — 16 at 32 px, 40 at 224 px. With `L = min(H, W)`:
///
/// * `32 ≤ L ≤ 224`: linear between the two, `16 + (L − 32)·24/192 = 12 + L/8`
///   (20 at 64 px, 24 at 96 px, 28 at 128 px);
/// * `L < 32`: the CIFAR share of the side, `16·L/32 = L/2` (14 at 28 px);
/// * `L > 224`: the ImageNet share, `40·L/224` (53 at 299 px);
///
/// rounded to the nearest pixel, at least 1. The two anchors are not proportional
/// (16/32 = 0.5 of the side, 40/224 ≈ 0.18), so no single share meets both; the
/// interpolation is the simplest monotone rule that does, and outside the anchors the
/// region keeps the share of the nearer one. The result never exceeds `L`.
pub fn default_side(h: usize, w: usize) -> usize {
    let l = h.min(w);
    let s = if l < 32 {
        l.div_ceil(2)
    } else if l <= 224 {
        (96 + l + 4) / 8
    } else {
        (5 * l + 14) / 28
    };
    s.clamp(1, l.max(1))
}

/// Cutout's side: `s` when given, else [`default_side`].
pub fn cutout_side(s: Option<usize>, h: usize, w: usize) -> usize {
    s.unwrap_or_else(|| default_side(h, w))
}

/// A pixel uniform over the `h × w` image, row then column: the centre of a Cutout
/// square or a CutMix box.
pub fn uniform_centre(rng: &mut Rng, h: usize, w: usize) -> (usize, usize) {
    let cy = rng.random_range(0..h);
    let cx = rng.random_range(0..w);
    (cy, cx)
}

/// The top-left corner of a `bh × bw` box uniform over the positions where it fits in
/// an `h × w` image (`0..=h−bh`, then `0..=w−bw`): Random Erasing's placement.
pub fn uniform_corner(rng: &mut Rng, bh: usize, bw: usize, h: usize, w: usize) -> (usize, usize) {
    let top = rng.random_range(0..=h - bh);
    let left = rng.random_range(0..=w - bw);
    (top, left)
}

/// A `bh × bw` box at [`uniform_corner`].
pub fn uniform_box(rng: &mut Rng, bh: usize, bw: usize, h: usize, w: usize) -> Rect {
    let (top, left) = uniform_corner(rng, bh, bw, h, w);
    Rect::new(top, left, bh, bw)
}

/// One Cutout square (DeVries & Taylor 2017 §3; seed 000 §3: "the center of these
/// patches are placed uniformly at random on the whole image, thereby allowing for
/// some patches to overflow off the image").
///
/// The centre `(cy, cx)` is uniform over the `H × W` pixels; the square covers rows
/// `[cy − ⌊s/2⌋, cy − ⌊s/2⌋ + s)` and the same for columns — exactly `s` pixels before
/// clipping, also for odd `s` (the reference's `cy ± s//2` loses a pixel) — and is
/// clipped to the image.
pub fn cutout_square(rng: &mut Rng, s: usize, h: usize, w: usize) -> Rect {
    let (cy, cx) = uniform_centre(rng, h, w);
    centred_box(cy, cx, s, s, h, w)
}

/// Cutout with `n` squares of side `s` (seed 000 §3; the original uses `n = 1`);
/// `s` defaults to [`default_side`].
#[derive(Clone, Debug)]
pub struct Cutout {
    pub n: usize,
    pub s: Option<usize>,
    pub fill: FillSpec,
}

impl Sampler for Cutout {
    fn sample(&self, ctx: &BatchContext, i: usize, _: Option<&[f32]>) -> RegionParams {
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        let s = cutout_side(self.s, ctx.height, ctx.width);
        let rects = (0..self.n).map(|_| cutout_square(&mut rng, s, ctx.height, ctx.width)).collect();
        RegionParams::Erase { rects, fill: site.fill(self.fill) }
    }
}

/// Hide-and-Seek's hidden cells (Singh & Lee 2017; seed 000 §3 and Fig. 1): the
/// image is divided into a `G × G` grid and every cell is dropped independently with
/// probability `1 − p_keep_patch`. Cells are sized as [`HideGrid`] documents
/// (boundaries at `⌊i·H/G⌋`), so each pixel is hidden with probability exactly
/// `1 − p_keep_patch`.
pub fn hide_and_seek_grid(rng: &mut Rng, g: usize, p_keep_patch: f64) -> HideGrid {
    HideGrid { grid: g, hidden: (0..g * g).map(|_| rng.random::<f64>() >= p_keep_patch).collect() }
}

/// Hide-and-Seek over a `g × g` grid.
#[derive(Clone, Debug)]
pub struct HideAndSeek {
    pub g: usize,
    pub p_keep_patch: f64,
    pub fill: FillSpec,
}

impl Sampler for HideAndSeek {
    fn sample(&self, ctx: &BatchContext, i: usize, _: Option<&[f32]>) -> RegionParams {
        let site = ctx.site(i);
        let grid = hide_and_seek_grid(&mut site.rng(Purpose::Params), self.g, self.p_keep_patch);
        RegionParams::HideAndSeek { grid, fill: site.fill(self.fill) }
    }
}

/// Random Erasing's box (Zhong et al. 2020, Algorithm 1, with torchvision's
/// `RandomErasing.get_params`: log-uniform aspect ratio, 10 attempts by default).
///
/// Up to `attempts` times: target area `S_e = U(s_l, s_h)·H·W`, aspect ratio
/// `r_e = exp(U(ln r_1, ln r_2))`, `h = round(√(S_e·r_e))`, `w = round(√(S_e/r_e))`;
/// the first box with `h < H` and `w < W` is placed with its top-left corner uniform
/// over the positions where it fits (`0..=H−h`, `0..=W−w`). `None` when every attempt
/// fails (the image is left unchanged).
pub fn random_erasing_box(
    rng: &mut Rng,
    area: [f64; 2],
    ratio: [f64; 2],
    attempts: usize,
    h: usize,
    w: usize,
) -> Option<Rect> {
    let (eh, ew) = random_erasing_fitting_size(rng, area, ratio, attempts, h, w)?;
    Some(uniform_box(rng, eh, ew, h, w))
}

/// The size of [`random_erasing_box`]: the first of `attempts` sizes that fits
/// ([`random_erasing_size`]), `None` when none does.
pub fn random_erasing_fitting_size(
    rng: &mut Rng,
    area: [f64; 2],
    ratio: [f64; 2],
    attempts: usize,
    h: usize,
    w: usize,
) -> Option<(usize, usize)> {
    (0..attempts).find_map(|_| random_erasing_size(rng, area, ratio, h, w))
}

/// One attempt of [`random_erasing_box`]: the box's `(height, width)` if it fits
/// (`h < H` and `w < W`).
pub fn random_erasing_size(
    rng: &mut Rng,
    area: [f64; 2],
    ratio: [f64; 2],
    h: usize,
    w: usize,
) -> Option<(usize, usize)> {
    let target = (h * w) as f64 * uniform(rng, area[0], area[1]);
    let aspect = uniform(rng, ratio[0].ln(), ratio[1].ln()).exp();
    let eh = (target * aspect).sqrt().round_ties_even() as usize;
    let ew = (target / aspect).sqrt().round_ties_even() as usize;
    (eh < h && ew < w).then_some((eh, ew))
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// Random Erasing, applied to an image with probability `p`.
#[derive(Clone, Debug)]
pub struct RandomErasing {
    pub p: f64,
    pub area: [f64; 2],
    pub ratio: [f64; 2],
    pub attempts: usize,
    pub fill: FillSpec,
}

impl Sampler for RandomErasing {
    fn sample(&self, ctx: &BatchContext, i: usize, _: Option<&[f32]>) -> RegionParams {
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        if rng.random::<f64>() >= self.p {
            return RegionParams::Keep;
        }
        match random_erasing_box(&mut rng, self.area, self.ratio, self.attempts, ctx.height, ctx.width) {
            Some(r) => RegionParams::Erase { rects: vec![r], fill: site.fill(self.fill) },
            None => RegionParams::Keep,
        }
    }
}

/// CutMix's box and corrected λ (Yun et al. 2019 §3.1, Eq. 1–2 and the box sampling
/// below them; CutMix-PyTorch `rand_bbox` and the λ adjustment after it).
///
/// `λ ~ Beta(α, α)`; the box has height `round(H·√(1−λ))` and width `round(W·√(1−λ))`
/// (area ≈ `(1−λ)·H·W`; height from `H`, width from `W`), its centre is uniform
/// over the pixels, it covers `[cy − ⌊h/2⌋, +h) × [cx − ⌊w/2⌋, +w)` and is clipped to
/// the image. λ is then recomputed from the clipped box, `λ = 1 − area/(H·W)`, so
/// the label weights equal the pixel shares exactly.
pub fn cutmix_box(rng: &mut Rng, alpha: f64, h: usize, w: usize) -> (Rect, f64) {
    let (bh, bw) = cutmix_size(rng, alpha, h, w);
    let (cy, cx) = uniform_centre(rng, h, w);
    let rect = centred_box(cy, cx, bh, bw, h, w);
    (rect, 1.0 - rect.area() as f64 / (h * w) as f64)
}

/// The box size of [`cutmix_box`] before placement: `λ ~ Beta(α, α)`, height
/// `round(H·√(1−λ))`, width `round(W·√(1−λ))`.
pub fn cutmix_size(rng: &mut Rng, alpha: f64, h: usize, w: usize) -> (usize, usize) {
    let lambda: f64 = Beta::new(alpha, alpha).expect("alpha > 0 is validated").sample(rng);
    let cut = (1.0 - lambda).max(0.0).sqrt();
    (((h as f64 * cut).round() as usize).min(h), ((w as f64 * cut).round() as usize).min(w))
}

/// The box of `height × width` centred (as Cutout and CutMix centre theirs, the
/// centre's row covering `⌊height/2⌋` rows above it) on pixel `(cy, cx)`, clipped.
pub fn centred_box(cy: usize, cx: usize, height: usize, width: usize, h: usize, w: usize) -> Rect {
    Rect::clipped(cy as i64 - (height / 2) as i64, cx as i64 - (width / 2) as i64, height, width, h, w)
}

/// CutMix with `Beta(alpha, alpha)`; the partner comes from the batch permutation.
#[derive(Clone, Debug)]
pub struct CutMix {
    pub alpha: f64,
}

impl Sampler for CutMix {
    fn sample(&self, ctx: &BatchContext, i: usize, _: Option<&[f32]>) -> RegionParams {
        let (rect, lambda) = cutmix_box(&mut ctx.site(i).rng(Purpose::Params), self.alpha, ctx.height, ctx.width);
        RegionParams::Mix { rect, partner: ctx.partner(i), lambda }
    }
}

/// GridMask's parameters (Chen et al. 2020 §3.1; GridMask `Grid.__call__`, without
/// its optional rotation): unit `d` uniform in `[d1, d2]` (both inclusive), kept band
/// `l = ⌈d·r⌉`, offsets `δy, δx` uniform in `[0, d)`.
pub fn gridmask_params(rng: &mut Rng, d1: usize, d2: usize, r: f64) -> GridMaskParams {
    let d = rng.random_range(d1..=d2);
    let keep = ((d as f64 * r).ceil() as usize).min(d);
    GridMaskParams { unit: d, keep, offset_y: rng.random_range(0..d), offset_x: rng.random_range(0..d) }
}

/// GridMask.
#[derive(Clone, Debug)]
pub struct GridMask {
    pub d1: usize,
    pub d2: usize,
    pub r: f64,
    pub fill: FillSpec,
}

impl Sampler for GridMask {
    fn sample(&self, ctx: &BatchContext, i: usize, _: Option<&[f32]>) -> RegionParams {
        let site = ctx.site(i);
        let grid = gridmask_params(&mut site.rng(Purpose::Params), self.d1, self.d2, self.r);
        RegionParams::GridMask { grid, fill: site.fill(self.fill) }
    }
}
