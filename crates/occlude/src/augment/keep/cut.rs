//! Selective-Cut (seed 003 §3, Alg. 1a): KeepCutout, KeepRandomErasing, KeepCutMix.
//! Each draws its box size exactly as its base method does, then the position among
//! the base method's positions whose score is below the τ-quantile
//! ([`Selection::draw`]).

use super::saliency_map;
use super::score::{Placement, RegionScorer};
use super::select::{Selection, Side};
use crate::augment::params::RegionParams;
use crate::augment::sample::{
    centred_box, cutmix_size, cutout_side, random_erasing_fitting_size, uniform_box, uniform_centre, BatchContext,
    Purpose, RandomErasing, Sampler,
};
use crate::augment::spec::FillSpec;
use rand::Rng as _;

/// KeepCutout (seed 003 §4.1): Cutout's `n` squares of side `s` (default
/// [`crate::augment::sample::default_side`]), each drawn uniformly among the Cutout
/// positions whose score is below the τ-quantile of all Cutout positions' scores.
#[derive(Clone, Debug)]
pub struct KeepCutout {
    pub n: usize,
    pub s: Option<usize>,
    pub fill: FillSpec,
    pub tau: f64,
}

impl Sampler for KeepCutout {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let s = cutout_side(self.s, h, w);
        let scorer = RegionScorer::new(saliency_map(saliency, "keep-cutout"), h, w);
        let candidates = ctx.candidates(Placement::Centred, s, s);
        let selection = Selection::new(&scorer, &candidates, self.tau, Side::Below);
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        let rects = (0..self.n).map(|_| selection.draw(&mut rng)).collect();
        RegionParams::Erase { rects, fill: site.fill(self.fill) }
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}

/// KeepRandomErasing (seed 003 §4.4): Random Erasing's coin and box size (the first
/// of `attempts` sizes that fits), the box placed among the positions of that size
/// scoring below the τ-quantile of all its positions.
#[derive(Clone, Debug)]
pub struct KeepRandomErasing {
    pub base: RandomErasing,
    pub tau: f64,
}

impl KeepRandomErasing {
    /// The draws that do not depend on the map: the coin, then the box size. `None`
    /// when the image is left as it is.
    fn size(&self, rng: &mut crate::rng::Rng, h: usize, w: usize) -> Option<(usize, usize)> {
        if rng.random::<f64>() >= self.base.p {
            return None;
        }
        random_erasing_fitting_size(rng, self.base.area, self.base.ratio, self.base.attempts, h, w)
    }
}

impl Sampler for KeepRandomErasing {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let site = ctx.site(i);
        let mut rng = site.rng(Purpose::Params);
        let Some((eh, ew)) = self.size(&mut rng, h, w) else { return RegionParams::Keep };
        let rect = if eh == 0 || ew == 0 {
            // An empty box erases nothing wherever it goes: the base draw.
            uniform_box(&mut rng, eh, ew, h, w)
        } else {
            let scorer = RegionScorer::new(saliency_map(saliency, "keep-random-erasing"), h, w);
            let candidates = ctx.candidates(Placement::Inside, eh, ew);
            Selection::new(&scorer, &candidates, self.tau, Side::Below).draw(&mut rng)
        };
        RegionParams::Erase { rects: vec![rect], fill: site.fill(self.base.fill) }
    }

    fn needs_saliency(&self) -> bool {
        true
    }

    /// Only when the coin says erase and a size fits (half the images at `p = 0.5`).
    fn needs_map(&self, ctx: &BatchContext, i: usize) -> bool {
        let mut rng = ctx.site(i).rng(Purpose::Params);
        matches!(self.size(&mut rng, ctx.height, ctx.width), Some((eh, ew)) if eh > 0 && ew > 0)
    }
}

/// KeepCutMix (seed 003 §4.2: "we found it is often quite effective to simply avoiding
/// cutting informative region from x"): CutMix's box size from `λ ~ Beta(α, α)`,
/// placed among the CutMix positions whose score *on the map of the image being cut*
/// (image `i`, whose region is replaced by its partner's) is below the τ-quantile.
/// The partner's map plays no part. λ is recomputed from the region actually pasted
/// (the clipped box), `λ = 1 − area/(H·W)`, as CutMix does.
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
            // An empty box mixes nothing wherever it goes: the base draw.
            let (cy, cx) = uniform_centre(&mut rng, h, w);
            centred_box(cy, cx, bh, bw, h, w)
        } else {
            let scorer = RegionScorer::new(saliency_map(saliency, "keep-cutmix"), h, w);
            let candidates = ctx.candidates(Placement::Centred, bh, bw);
            Selection::new(&scorer, &candidates, self.tau, Side::Below).draw(&mut rng)
        };
        let lambda = 1.0 - rect.area() as f64 / (h * w) as f64;
        RegionParams::Mix { rect, partner: ctx.partner(i), lambda }
    }

    fn needs_saliency(&self) -> bool {
        true
    }

    fn needs_map(&self, ctx: &BatchContext, i: usize) -> bool {
        let (bh, bw) = cutmix_size(&mut ctx.site(i).rng(Purpose::Params), self.alpha, ctx.height, ctx.width);
        bh > 0 && bw > 0
    }
}
