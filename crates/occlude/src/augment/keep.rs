//! Saliency-guided samplers: Selective-Cut and Selective-Paste (seed 003, Alg. 1 and
//! the Remark of §3) and saliency-max occlusion (seed 000 §3, Fig. 3).
//!
//! They are [`Sampler`]s like the random methods: given the `H × W` saliency map of an
//! image (image coordinates after preprocessing) they emit the same
//! [`RegionParams`], so the batched apply serves them unchanged.
//!
//! # Candidate regions and the threshold
//!
//! seed 003's Remark: "given an image and … a region size `h × w`, we first calculate
//! the importance scores of all possible candidate regions, following Eq. 1; then we
//! set our threshold to be the τ-quantile value of all the importance scores … For
//! selective-cut, we uniformly keep sampling a mask region S until its … score is
//! smaller than the threshold. For selective-paste, we uniformly sample a region S
//! with importance score … greater than the threshold."
//!
//! * *Candidates* are the regions the base method can draw ([`Placement`]): Cutout
//!   and CutMix centre their box on any pixel and clip it at the border
//!   ([`Placement::Centred`]), so KeepCutout keeps Cutout's overflow; Random Erasing
//!   and Selective-Paste place the box fully inside the image ([`Placement::Inside`]).
//!   The candidates of one image are thus exactly the support of the base method's
//!   position, and every candidate position is equally likely under it.
//! * *Scores* are region sums of the map (Eq. 1), read from an integral image in
//!   `f64` ([`RegionScorer`]), so every candidate costs four lookups.
//! * The *threshold* is the τ-quantile of all candidates' scores with linear
//!   interpolation between order statistics ([`quantile`]; NumPy's and PyTorch's
//!   default).
//! * The region is drawn *uniformly among the candidates that pass* (`score <
//!   threshold` for cut, `> threshold` for paste). That is the distribution the
//!   paper's rejection loop converges to, without its unbounded loop: when no
//!   candidate passes strictly — many candidates tie at the threshold, e.g. a map that
//!   is zero on most of the image — the loop would never end; we then draw among the
//!   candidates *at* the threshold (all equally (un)important) instead.

use super::params::{Rect, RegionParams};
use super::sample::{centred_box, cutmix_size, random_erasing_size, BatchContext, Purpose, RandomErasing, Sampler};
use super::spec::FillSpec;
use crate::rng::Rng;
use rand::Rng as _;

/// Region scores of one saliency map: `I(S) = Σ_{(i,j)∈S} g_ij` (seed 003 §3, Eq. 1)
/// from an integral image, accumulated in `f64`.
#[derive(Clone, Debug)]
pub struct RegionScorer {
    height: usize,
    width: usize,
    /// `(H+1) × (W+1)`: `table[y][x]` = sum of `map[..y][..x]`.
    table: Vec<f64>,
}

impl RegionScorer {
    /// `map` is `height × width`, row-major.
    pub fn new(map: &[f32], height: usize, width: usize) -> Self {
        assert_eq!(map.len(), height * width, "a {height}×{width} saliency map has {} values", height * width);
        let stride = width + 1;
        let mut table = vec![0.0f64; (height + 1) * stride];
        for y in 0..height {
            let mut row = 0.0f64;
            for x in 0..width {
                row += map[y * width + x] as f64;
                table[(y + 1) * stride + x + 1] = table[y * stride + x + 1] + row;
            }
        }
        Self { height, width, table }
    }

    /// The sum of the map over `r` (which must lie inside the map).
    pub fn score(&self, r: &Rect) -> f64 {
        debug_assert!(r.fits(self.height, self.width));
        let s = self.width + 1;
        let (y0, y1, x0, x1) = (r.top, r.bottom(), r.left, r.right());
        self.table[y1 * s + x1] - self.table[y0 * s + x1] - self.table[y1 * s + x0] + self.table[y0 * s + x0]
    }
}

/// Where a base method may put a `bh × bw` box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Centred on any of the `H × W` pixels, clipped at the border (Cutout, CutMix).
    Centred,
    /// Top-left corner anywhere the box fits entirely (Random Erasing, Selective-Paste,
    /// saliency-max occlusion).
    Inside,
}

/// Every region a base method can draw for a `bh × bw` box on an `h × w` image.
pub fn candidate_regions(placement: Placement, bh: usize, bw: usize, h: usize, w: usize) -> Vec<Rect> {
    match placement {
        Placement::Centred => (0..h).flat_map(|cy| (0..w).map(move |cx| centred_box(cy, cx, bh, bw, h, w))).collect(),
        Placement::Inside => {
            assert!(bh <= h && bw <= w, "a {bh}×{bw} box does not fit in a {h}×{w} image");
            (0..=h - bh).flat_map(|top| (0..=w - bw).map(move |left| Rect::new(top, left, bh, bw))).collect()
        }
    }
}

/// The `q`-quantile of `values` with linear interpolation between order statistics
/// (NumPy's default `method="linear"`, `torch.quantile`): with `v` sorted ascending
/// and `p = q·(n − 1)`, `v[⌊p⌋] + (p − ⌊p⌋)·(v[⌈p⌉] − v[⌊p⌋])`. seed 003 §3 Remark.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    assert!(!values.is_empty(), "the quantile of no values");
    assert!((0.0..=1.0).contains(&q), "quantile {q} outside [0, 1]");
    let mut v = values.to_vec();
    let p = q * (v.len() - 1) as f64;
    let (lo, hi) = (p.floor() as usize, p.ceil() as usize);
    let (_, &mut a, above) = v.select_nth_unstable_by(lo, f64::total_cmp);
    // The smallest value above position `lo` is the order statistic `lo + 1`.
    let b = if hi == lo { a } else { above.iter().copied().fold(f64::INFINITY, f64::min) };
    a + (p - lo as f64) * (b - a)
}

/// Which side of the threshold a region must be on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Selective-Cut: `score < threshold`.
    Below,
    /// Selective-Paste: `score > threshold`.
    Above,
}

/// The regions that pass the τ-quantile threshold among `candidates`.
#[derive(Clone, Debug)]
pub struct Selection {
    pub threshold: f64,
    /// The candidates strictly on `side` of the threshold, or, when there are none,
    /// those scoring exactly the threshold (see the module documentation).
    pub regions: Vec<Rect>,
    /// Whether `regions` are the ties at the threshold.
    pub ties: bool,
}

/// seed 003 §3 Remark: the threshold is the `tau`-quantile of the candidates' scores;
/// the regions on `side` of it are the ones a selective method draws from.
pub fn select_regions(scorer: &RegionScorer, candidates: &[Rect], tau: f64, side: Side) -> Selection {
    let scores: Vec<f64> = candidates.iter().map(|r| scorer.score(r)).collect();
    let threshold = quantile(&scores, tau);
    let strict = |s: f64| match side {
        Side::Below => s < threshold,
        Side::Above => s > threshold,
    };
    let pick = |keep: &dyn Fn(f64) -> bool| -> Vec<Rect> {
        candidates.iter().zip(&scores).filter(|(_, &s)| keep(s)).map(|(r, _)| *r).collect()
    };
    let regions = pick(&strict);
    if !regions.is_empty() {
        return Selection { threshold, regions, ties: false };
    }
    // The quantile lies between the smallest and largest score, so some candidate
    // scores exactly the threshold whenever none passes strictly.
    Selection { threshold, regions: pick(&|s| s == threshold), ties: true }
}

/// Draws one of `regions` uniformly.
fn draw(rng: &mut Rng, regions: &[Rect]) -> Rect {
    regions[rng.random_range(0..regions.len())]
}

fn map<'a>(saliency: Option<&'a [f32]>, who: &str) -> &'a [f32] {
    saliency.unwrap_or_else(|| panic!("{who} samples from a saliency map, and none was given"))
}

/// KeepCutout (seed 003 §4.1): Cutout's `n` squares of side `s`, each drawn uniformly
/// among the Cutout positions whose region score is below the τ-quantile.
#[derive(Clone, Debug)]
pub struct KeepCutout {
    pub n: usize,
    pub s: usize,
    pub fill: FillSpec,
    pub tau: f64,
}

impl Sampler for KeepCutout {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let scorer = RegionScorer::new(map(saliency, "keep-cutout"), h, w);
        let selection = select_regions(
            &scorer,
            &candidate_regions(Placement::Centred, self.s, self.s, h, w),
            self.tau,
            Side::Below,
        );
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        let rects = (0..self.n).map(|_| draw(&mut rng, &selection.regions)).collect();
        RegionParams::Erase { rects, fill: site.fill(self.fill) }
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}

/// KeepRandomErasing (seed 003 §4.4): Random Erasing whose box, for the first
/// attempt whose size fits, is placed uniformly among the positions scoring below the
/// τ-quantile of that size's positions.
#[derive(Clone, Debug)]
pub struct KeepRandomErasing {
    pub base: RandomErasing,
    pub tau: f64,
}

impl Sampler for KeepRandomErasing {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        if rng.random::<f64>() >= self.base.p {
            return RegionParams::Keep;
        }
        let scorer = RegionScorer::new(map(saliency, "keep-random-erasing"), h, w);
        for _ in 0..self.base.attempts {
            if let Some((eh, ew)) = random_erasing_size(&mut rng, self.base.area, self.base.ratio, h, w) {
                let candidates = candidate_regions(Placement::Inside, eh, ew, h, w);
                let selection = select_regions(&scorer, &candidates, self.tau, Side::Below);
                let rect = draw(&mut rng, &selection.regions);
                return RegionParams::Erase { rects: vec![rect], fill: site.fill(self.base.fill) };
            }
        }
        RegionParams::Keep
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}

/// KeepCutMix (seed 003 §4.1, "simply avoiding cutting informative region from x"):
/// CutMix's box size from `λ ~ Beta(α, α)`, placed uniformly among the CutMix
/// positions whose score *in this image* is below the τ-quantile; λ is recomputed
/// from the clipped box.
#[derive(Clone, Debug)]
pub struct KeepCutMix {
    pub alpha: f64,
    pub tau: f64,
}

impl Sampler for KeepCutMix {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let mut rng = ctx.site(i).rng(Purpose::Params);
        let (bh, bw) = cutmix_size(&mut rng, self.alpha, h, w);
        let rect = if bh == 0 || bw == 0 {
            Rect::new(0, 0, 0, 0)
        } else {
            let scorer = RegionScorer::new(map(saliency, "keep-cutmix"), h, w);
            let candidates = candidate_regions(Placement::Centred, bh, bw, h, w);
            draw(&mut rng, &select_regions(&scorer, &candidates, self.tau, Side::Below).regions)
        };
        let lambda = 1.0 - rect.area() as f64 / (h * w) as f64;
        RegionParams::Mix { rect, partner: ctx.partner(i), lambda }
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}

/// Selective-Paste (seed 003 Alg. 1b, Eq. 3): one `s × s` region, drawn uniformly
/// among the positions inside the image scoring above the τ-quantile, is pasted back
/// from the clean image onto its AutoAugment / RandAugment view.
#[derive(Clone, Debug)]
pub struct SelectivePaste {
    pub s: usize,
    pub tau: f64,
}

impl Sampler for SelectivePaste {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let scorer = RegionScorer::new(map(saliency, "selective-paste"), h, w);
        let candidates = candidate_regions(Placement::Inside, self.s, self.s, h, w);
        let selection = select_regions(&scorer, &candidates, self.tau, Side::Above);
        let rect = draw(&mut ctx.site(i).rng(Purpose::Params), &selection.regions);
        RegionParams::Paste { rects: vec![rect] }
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}

/// The `s × s` box with the largest saliency sum among the positions
/// `(top, left) ∈ {0, t, 2t, …}²` where it fits: seed 000 §3 footnote 2, "convolving
/// the saliency map with a S × S convolutional filter with stride T and filled with
/// 1s", then taking the maximum. Ties go to the first position in row-major order
/// (as `argmax`).
pub fn saliency_max_box(scorer: &RegionScorer, s: usize, stride: usize, h: usize, w: usize) -> Rect {
    let mut best = (f64::NEG_INFINITY, Rect::new(0, 0, s, s));
    for top in (0..=h - s).step_by(stride) {
        for left in (0..=w - s).step_by(stride) {
            let r = Rect::new(top, left, s, s);
            let score = scorer.score(&r);
            if score > best.0 {
                best = (score, r);
            }
        }
    }
    best.1
}

/// seed 000 §3: "we add a small amount of jitter τ to the extracted patches. Unlike
/// Cutout, we do not allow our patch to overflow the image boundaries": the box moves
/// by `dy, dx` uniform in `[−jitter, jitter]` and is then shifted back inside.
pub fn jitter_box(rng: &mut Rng, r: Rect, jitter: usize, h: usize, w: usize) -> Rect {
    let j = jitter as i64;
    let dy = rng.random_range(-j..=j);
    let dx = rng.random_range(-j..=j);
    let top = (r.top as i64 + dy).clamp(0, (h - r.height) as i64) as usize;
    let left = (r.left as i64 + dx).clamp(0, (w - r.width) as i64) as usize;
    Rect::new(top, left, r.height, r.width)
}

/// Saliency-max occlusion (seed 000 §3, Fig. 3, §4.4): `n` squares of side `s` at the
/// most salient positions, jittered, filled with `fill` (0 = the mean colour).
///
/// `s` and `jitter` default to the paper's `S = 56`, `τ = 16` at 224 px, scaled by
/// `min(H, W)/224` (14 and 4 at 56 px; 8 and 2 at 32 px). The paper only uses
/// `n = 1`; for `n > 1` each further square is the maximum of the map with the
/// previous (unjittered) squares zeroed, so the squares cover distinct salient parts.
#[derive(Clone, Debug)]
pub struct SaliencyOcclusion {
    pub n: usize,
    pub s: Option<usize>,
    pub stride: usize,
    pub jitter: Option<usize>,
    pub fill: FillSpec,
}

impl SaliencyOcclusion {
    /// The side and jitter used on `h × w` images.
    pub fn resolved(&self, h: usize, w: usize) -> (usize, usize) {
        let scale = h.min(w) as f64 / 224.0;
        let s = self.s.unwrap_or(((56.0 * scale).round() as usize).max(1)).min(h.min(w));
        let jitter = self.jitter.unwrap_or((16.0 * scale).round() as usize);
        (s, jitter)
    }
}

impl Sampler for SaliencyOcclusion {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let (s, jitter) = self.resolved(h, w);
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        let mut map = map(saliency, "saliency-occlusion").to_vec();
        let mut rects = Vec::with_capacity(self.n);
        for k in 0..self.n {
            let best = saliency_max_box(&RegionScorer::new(&map, h, w), s, self.stride, h, w);
            rects.push(jitter_box(&mut rng, best, jitter, h, w));
            if k + 1 < self.n {
                for y in best.top..best.bottom() {
                    map[y * w + best.left..y * w + best.right()].fill(0.0);
                }
            }
        }
        RegionParams::Erase { rects, fill: site.fill(self.fill) }
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::params::Fill;
    use crate::augment::sample::sampler_for;
    use crate::augment::spec::AugmentSpec;
    use crate::rng::Rng;
    use proptest::prelude::*;

    fn ctx(h: usize, w: usize, n: usize, seed: u64) -> BatchContext {
        BatchContext::new(seed, 0, 0, (0..n).collect(), vec![0; n], h, w)
    }

    fn brute_sum(map: &[f32], w: usize, r: &Rect) -> f64 {
        let mut s = 0.0f64;
        for y in r.top..r.bottom() {
            for x in r.left..r.right() {
                s += map[y * w + x] as f64;
            }
        }
        s
    }

    fn sort_quantile(values: &[f64], q: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let p = q * (v.len() - 1) as f64;
        let (lo, hi) = (p.floor() as usize, p.ceil() as usize);
        v[lo] + (p - lo as f64) * (v[hi] - v[lo])
    }

    /// A map of small noise with one hot pixel.
    fn hot_spot_map(h: usize, w: usize, y: usize, x: usize, seed: u64) -> Vec<f32> {
        let mut rng = <Rng as rand::SeedableRng>::seed_from_u64(seed);
        let mut m: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>() * 0.01).collect();
        m[y * w + x] = 100.0;
        m
    }

    fn rects(p: &RegionParams) -> Vec<Rect> {
        match p {
            RegionParams::Erase { rects, .. } | RegionParams::Paste { rects } => rects.clone(),
            RegionParams::Mix { rect, .. } => vec![*rect],
            _ => vec![],
        }
    }

    #[test]
    fn quantile_matches_numpy_on_known_values() {
        // numpy.quantile([1, 2, 3, 4], 0.6) == 2.8; ([3, 1, 2], 0.5) == 2.
        assert!((quantile(&[4.0, 1.0, 3.0, 2.0], 0.6) - 2.8).abs() < 1e-12);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[5.0], 0.3), 5.0);
        assert_eq!(quantile(&[2.0, 9.0, 4.0], 0.0), 2.0);
        assert_eq!(quantile(&[2.0, 9.0, 4.0], 1.0), 9.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn integral_scores_equal_brute_force_sums(
            h in 1usize..20, w in 1usize..20, seed in any::<u64>(),
            a in 0usize..20, b in 0usize..20, c in 0usize..20, d in 0usize..20,
        ) {
            let mut rng = <Rng as rand::SeedableRng>::seed_from_u64(seed);
            let map: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>() * 10.0).collect();
            let scorer = RegionScorer::new(&map, h, w);
            let (y0, y1) = ((a % h).min(b % h), (a % h).max(b % h) + 1);
            let (x0, x1) = ((c % w).min(d % w), (c % w).max(d % w) + 1);
            let r = Rect::new(y0, x0, y1 - y0, x1 - x0);
            let (fast, slow) = (scorer.score(&r), brute_sum(&map, w, &r));
            prop_assert!((fast - slow).abs() <= 1e-9 * slow.abs().max(1.0), "{fast} vs {slow}");
        }

        #[test]
        fn quantile_equals_the_sort_based_reference(values in prop::collection::vec(-1e3f64..1e3, 1..200), q in 0.0f64..=1.0) {
            let (a, b) = (quantile(&values, q), sort_quantile(&values, q));
            prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }

        #[test]
        fn selective_cut_stays_below_and_paste_above_the_threshold(
            h in 4usize..24, w in 4usize..24, s in 1usize..8, tau in 0.0f64..=1.0, seed in any::<u64>(),
            sparse in any::<bool>(),
        ) {
            let s = s.min(h).min(w);
            let mut rng = <Rng as rand::SeedableRng>::seed_from_u64(seed);
            // Sparse maps (mostly zero) exercise the tie fallback.
            let map: Vec<f32> = (0..h * w)
                .map(|_| if sparse && rng.random::<f64>() < 0.9 { 0.0 } else { rng.random::<f32>() })
                .collect();
            let scorer = RegionScorer::new(&map, h, w);
            let c = ctx(h, w, 2, seed);
            for spec in [
                format!("keep-cutout:n=3,s={s},tau={tau}"),
                format!("keep-random-erasing:p=1,tau={tau}"),
                format!("keep-cutmix:alpha=1,tau={tau}"),
                format!("randaugment+selective-paste:s={s},tau={tau}"),
            ] {
                let spec = AugmentSpec::parse(&spec).unwrap();
                let sampler = sampler_for(spec.region.as_ref().unwrap()).unwrap();
                prop_assert!(sampler.needs_saliency());
                let params = sampler.sample(&c, 0, Some(&map));
                let Some(first) = rects(&params).first().copied() else { continue };
                // The candidates the sampler chose among: the base method's positions
                // of the drawn box size.
                let (placement, side, bh, bw) = match spec.region.as_ref().unwrap().name() {
                    "keep-cutout" => (Placement::Centred, Side::Below, s, s),
                    "keep-random-erasing" => (Placement::Inside, Side::Below, first.height, first.width),
                    "keep-cutmix" => {
                        let (bh, bw) = cutmix_size(&mut c.site(0).rng(Purpose::Params), 1.0, h, w);
                        if bh == 0 || bw == 0 { continue }
                        (Placement::Centred, Side::Below, bh, bw)
                    }
                    _ => (Placement::Inside, Side::Above, s, s),
                };
                let candidates = candidate_regions(placement, bh, bw, h, w);
                let scores: Vec<f64> = candidates.iter().map(|r| scorer.score(r)).collect();
                let threshold = sort_quantile(&scores, tau);
                let strict_exists = scores.iter().any(|&x| match side { Side::Below => x < threshold, Side::Above => x > threshold });
                for r in rects(&params) {
                    prop_assert!(candidates.contains(&r), "{r:?} is not a candidate");
                    let score = scorer.score(&r);
                    match (side, strict_exists) {
                        (Side::Below, true) => prop_assert!(score < threshold, "cut {r:?} scores {score} >= {threshold}"),
                        (Side::Above, true) => prop_assert!(score > threshold, "paste {r:?} scores {score} <= {threshold}"),
                        (_, false) => prop_assert_eq!(score, threshold),
                    }
                }
            }
        }

        #[test]
        fn keep_cutmix_lambda_is_one_minus_the_box_share(h in 4usize..40, w in 4usize..40, seed in any::<u64>()) {
            let map = hot_spot_map(h, w, h / 2, w / 2, seed);
            let sampler = KeepCutMix { alpha: 1.0, tau: 0.6 };
            let c = ctx(h, w, 4, seed);
            for i in 0..4 {
                match sampler.sample(&c, i, Some(&map)) {
                    RegionParams::Mix { rect, partner, lambda } => {
                        prop_assert!(rect.fits(h, w));
                        prop_assert_eq!(partner, c.partner(i));
                        prop_assert_eq!(lambda, 1.0 - rect.area() as f64 / (h * w) as f64);
                    }
                    other => prop_assert!(false, "expected Mix, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_single_hot_spot_is_covered_by_saliency_max_and_never_cut_by_selective_cut() {
        let (h, w) = (32, 32);
        for seed in 0..50u64 {
            let (y, x) = (3 + (seed as usize * 7) % 26, 2 + (seed as usize * 11) % 28);
            let map = hot_spot_map(h, w, y, x, seed);
            let c = ctx(h, w, 1, seed);
            // S = 8 with jitter 2: the maximal patch contains the spot with a margin
            // the jitter cannot exceed unless it is pinned to a border.
            let occl = SaliencyOcclusion { n: 1, s: Some(8), stride: 1, jitter: Some(2), fill: FillSpec::Zero };
            let r = rects(&occl.sample(&c, 0, Some(&map)))[0];
            assert_eq!((r.height, r.width), (8, 8));
            assert!(r.fits(h, w));
            let near = |v: usize, lo: usize, hi: usize| v + 2 >= lo && v < hi + 2;
            assert!(
                near(y, r.top, r.bottom()) && near(x, r.left, r.right()),
                "{r:?} misses ({y}, {x}) by more than the jitter"
            );
            let unjittered = SaliencyOcclusion { jitter: Some(0), ..occl.clone() };
            assert!(rects(&unjittered.sample(&c, 0, Some(&map)))[0].contains(y, x));

            // Random Erasing boxes up to 10 % of the image: at most ~30 % of their
            // positions contain the spot, fewer than the 1 − τ = 40 % that pass. (Large
            // CutMix boxes contain it wherever they go, so KeepCutMix is checked against
            // the threshold only, above.)
            for spec in ["keep-cutout:n=4,s=8", "keep-random-erasing:p=1,sh=0.1"] {
                let spec = AugmentSpec::parse(spec).unwrap();
                let sampler = sampler_for(spec.region.as_ref().unwrap()).unwrap();
                for r in rects(&sampler.sample(&c, 0, Some(&map))) {
                    assert!(!r.contains(y, x), "{spec} cut {r:?} over the hot spot ({y}, {x})");
                }
            }
            // Selective-Paste, on the contrary, pastes the spot back once τ is high
            // enough that only positions containing it pass: at τ = 0.99 the top 1 % of
            // the 625 positions (6), and at least 12 positions contain the spot.
            let paste = SelectivePaste { s: 8, tau: 0.99 };
            assert!(rects(&paste.sample(&c, 0, Some(&map)))[0].contains(y, x));
        }
    }

    #[test]
    fn plain_cutout_does_cut_the_hot_spot_sometimes() {
        // The control for the test above: without selection the spot is hit.
        let (h, w) = (32, 32);
        let map = hot_spot_map(h, w, 16, 16, 1);
        let cutout = sampler_for(&AugmentSpec::parse("cutout:n=4,s=8").unwrap().region.unwrap()).unwrap();
        let hits = (0..200u64)
            .filter(|&seed| {
                rects(&cutout.sample(&ctx(h, w, 1, seed), 0, Some(&map))).iter().any(|r| r.contains(16, 16))
            })
            .count();
        assert!(hits > 10, "{hits}");
    }

    #[test]
    fn keep_cutout_keeps_the_cutout_geometry_and_draws_uniformly_among_passing_regions() {
        // A map whose left half is hot: 37.5 % of the Cutout positions lie wholly in
        // the cold half, so with τ = 0.3 the passing positions are among them; draws
        // must spread over them, not stick to one.
        let (h, w, s) = (16, 16, 4);
        let map: Vec<f32> = (0..h * w).map(|i| if i % w < w / 2 { 1.0 } else { 0.001 * (i % 7) as f32 }).collect();
        let sampler = KeepCutout { n: 1, s, fill: FillSpec::Zero, tau: 0.3 };
        let mut seen = std::collections::HashSet::new();
        for seed in 0..300u64 {
            let p = sampler.sample(&ctx(h, w, 1, seed), 0, Some(&map));
            let RegionParams::Erase { rects, fill } = p else { panic!("{p:?}") };
            assert_eq!(fill, Fill::Zero);
            let r = rects[0];
            assert!(r.height <= s && r.width <= s && r.left >= w / 2, "{r:?}");
            seen.insert(r);
        }
        assert!(seen.len() > 40, "only {} distinct regions", seen.len());
    }

    #[test]
    fn same_seed_same_parameters() {
        let (h, w) = (20, 24);
        let map = hot_spot_map(h, w, 5, 9, 3);
        for spec in ["keep-cutout:n=2,s=6", "keep-random-erasing:p=1", "keep-cutmix", "saliency-occlusion:s=6"] {
            let sampler = sampler_for(&AugmentSpec::parse(spec).unwrap().region.unwrap()).unwrap();
            let a: Vec<_> = (0..4).map(|i| sampler.sample(&ctx(h, w, 4, 9), i, Some(&map))).collect();
            let b: Vec<_> = (0..4).map(|i| sampler.sample(&ctx(h, w, 4, 9), i, Some(&map))).collect();
            let c: Vec<_> = (0..4).map(|i| sampler.sample(&ctx(h, w, 4, 10), i, Some(&map))).collect();
            assert_eq!(a, b, "{spec}");
            if spec != "saliency-occlusion:s=6" {
                assert_ne!(a, c, "{spec}: a different seed should move something");
            }
        }
    }

    #[test]
    fn saliency_occlusion_defaults_scale_with_the_image_and_n_gt_1_finds_distinct_maxima() {
        let o = SaliencyOcclusion { n: 2, s: None, stride: 1, jitter: None, fill: FillSpec::Zero };
        assert_eq!(o.resolved(224, 224), (56, 16));
        assert_eq!(o.resolved(32, 32), (8, 2));
        assert_eq!(o.resolved(28, 28), (7, 2));
        let (h, w) = (32, 32);
        let mut map = vec![0.0f32; h * w];
        map[4 * w + 4] = 10.0;
        map[25 * w + 27] = 5.0;
        let o = SaliencyOcclusion { jitter: Some(0), ..o };
        let r = rects(&o.sample(&ctx(h, w, 1, 0), 0, Some(&map)));
        assert!(r[0].contains(4, 4) && r[1].contains(25, 27), "{r:?}");
    }

    #[test]
    fn stride_restricts_the_box_filter_positions() {
        let (h, w) = (16, 16);
        let mut map = vec![0.0f32; h * w];
        map[9 * w + 9] = 1.0;
        let r = saliency_max_box(&RegionScorer::new(&map, h, w), 4, 4, h, w);
        assert_eq!((r.top % 4, r.left % 4), (0, 0));
        assert!(r.contains(9, 9));
    }
}

/// The saliency-guided methods through the trainer's path: saliency on the model,
/// sampling, batched apply.
#[cfg(test)]
mod training_path {
    use crate::augment::{AugmentInput, AugmentPlan, Targets};
    use crate::backend::CpuAutodiff;
    use crate::data::preprocess::CropParams;
    use crate::data::HostBatch;
    use crate::models::params::named_tensors;
    use crate::models::ModelConfig;
    use crate::saliency::{compute_host, SaliencyMethod, Target};
    use crate::train::config::AugmentConfig;
    use burn::prelude::*;
    use burn::tensor::TensorData;

    type A = CpuAutodiff;

    fn batch(n: usize, h: usize, w: usize) -> HostBatch {
        let images: Vec<f32> = (0..n * h * w).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0 + 0.01).collect();
        let crop = CropParams { top: 0, left: 0, height: h, width: w, out_height: h, out_width: w, flip: false };
        HostBatch {
            images,
            dims: [n, 1, h, w],
            labels: (0..n).map(|i| i % 3).collect(),
            indices: (0..n).collect(),
            copies: vec![0; n],
            crops: vec![crop; n],
            batch_index: 0,
            augmented: None,
            image_ops: vec![vec![]; n],
        }
    }

    #[test]
    fn keep_cutout_in_joint_training_erases_low_saliency_squares_and_leaves_the_model_alone() {
        let device = Default::default();
        let mut mc = ModelConfig::new("resnet8");
        mc.early_head = true;
        let model = mc.init::<A>(1, 3, &device).unwrap();
        let before = named_tensors::<A, _>(&model);
        let host = batch(4, 16, 16);
        for method in ["vanilla", "low-res", "early-loss", "gradxact:layer2.0.conv1"] {
            let spec = format!("keep-cutout:n=1,s=6,tau=0.6,saliency={method}");
            let cfg = AugmentConfig { method: spec.clone(), paradigm: "joint".into(), ..Default::default() };
            let plan = AugmentPlan::from_config(&cfg).unwrap();
            let mut aug = plan.build::<A>();
            let x = Tensor::<A, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
            let y = Tensor::<A, 1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0], [4]), &device);
            let out = aug
                .apply(AugmentInput {
                    host: &host,
                    images: x.clone(),
                    labels: y.clone(),
                    model: &model,
                    epoch: 0,
                    num_classes: 3,
                    seed: 5,
                })
                .unwrap();
            assert!(matches!(out.targets, Targets::Hard(_)));
            let got = out.images.into_data().to_vec::<f32>().unwrap();
            assert_eq!(got.len(), 2 * host.images.len(), "{spec}: joint training doubles the batch");
            assert_eq!(&got[..host.images.len()], &host.images[..], "{spec}: the clean copy comes first, untouched");
            // Recompute the maps and check every erased pixel belongs to one square of
            // side ≤ 6 whose score is below the 0.6-quantile of all Cutout positions.
            let maps = compute_host(&model, x, Target::Label(y), &SaliencyMethod::parse(method).unwrap()).unwrap();
            let occluded = &got[host.images.len()..];
            for i in 0..4 {
                let map = maps.map(i);
                let scorer = super::RegionScorer::new(map, 16, 16);
                let cands = super::candidate_regions(super::Placement::Centred, 6, 6, 16, 16);
                let sel = super::select_regions(&scorer, &cands, 0.6, super::Side::Below);
                let zeroed: Vec<usize> = (0..256).filter(|&p| occluded[i * 256 + p] == 0.0).collect();
                assert!(!zeroed.is_empty(), "{spec}: image {i} was not occluded");
                let (ys, xs): (Vec<usize>, Vec<usize>) = zeroed.iter().map(|p| (p / 16, p % 16)).unzip();
                let r = crate::augment::params::Rect::new(
                    *ys.iter().min().unwrap(),
                    *xs.iter().min().unwrap(),
                    ys.iter().max().unwrap() + 1 - ys.iter().min().unwrap(),
                    xs.iter().max().unwrap() + 1 - xs.iter().min().unwrap(),
                );
                assert_eq!(r.area(), zeroed.len(), "{spec}: image {i}: the erased pixels form one rectangle");
                assert!(sel.regions.contains(&r), "{spec}: image {i}: {r:?} is not a passing KeepCutout region");
                for p in 0..256 {
                    if !r.contains(p / 16, p % 16) {
                        assert_eq!(occluded[i * 256 + p], host.images[i * 256 + p]);
                    }
                }
            }
        }
        let after = named_tensors::<A, _>(&model);
        assert_eq!(before, after, "the saliency passes changed the model");
    }
}
