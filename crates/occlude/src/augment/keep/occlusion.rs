//! Saliency-max occlusion (seed 000 §3, Fig. 3): the square at the maximum of the
//! box-filtered saliency map, jittered.

use super::saliency_map;
use super::score::RegionScorer;
use crate::augment::params::{Rect, RegionParams};
use crate::augment::sample::{BatchContext, Purpose, Sampler};
use crate::augment::spec::FillSpec;
use crate::rng::Rng;
use rand::Rng as _;

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
            let score = scorer.sum(&r);
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
        let mut map = saliency_map(saliency, "saliency-occlusion").to_vec();
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
