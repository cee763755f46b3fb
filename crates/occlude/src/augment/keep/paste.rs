//! Selective-Paste (seed 003 §3, Alg. 1b, Eq. 3): KeepAutoAugment, KeepRandAugment.

use super::saliency_map;
use super::score::{Placement, RegionScorer};
use super::select::{Selection, Side};
use crate::augment::params::{Rect, RegionParams};
use crate::augment::sample::{default_side, uniform_box, BatchContext, Purpose, Sampler};
use crate::rng::Rng;

/// Selective-Paste (seed 003 Alg. 1b, Eq. 3): one `s × s` region, drawn uniformly among
/// the positions inside the image scoring above the τ-quantile of all positions, is
/// pasted back from the clean image onto its augmented view. `s` defaults to
/// [`default_side`] (16 at 32 px, 40 at 224 px, seed 003 §4).
///
/// The region lies wholly inside the image ([`Placement::Inside`]): what is pasted
/// back is a whole `s × s` region of the original, as the Remark's "region size
/// h × w". Its base method — the same paste at a uniformly random position — is
/// [`random_paste`].
///
/// Its draws come from their own stream ([`Purpose::Paste`]), so a region-level
/// method before it in a chain draws the same with or without it.
#[derive(Clone, Debug)]
pub struct SelectivePaste {
    pub s: Option<usize>,
    pub tau: f64,
}

impl SelectivePaste {
    /// The side used on `h × w` images.
    pub fn side(&self, h: usize, w: usize) -> usize {
        self.s.unwrap_or_else(|| default_side(h, w))
    }
}

/// The base of Selective-Paste: an `s × s` region at a uniformly random position
/// inside the image, the saliency ignored.
pub fn random_paste(rng: &mut Rng, s: usize, h: usize, w: usize) -> Rect {
    uniform_box(rng, s, s, h, w)
}

impl Sampler for SelectivePaste {
    fn sample(&self, ctx: &BatchContext, i: usize, saliency: Option<&[f32]>) -> RegionParams {
        let (h, w) = (ctx.height, ctx.width);
        let s = self.side(h, w);
        let scorer = RegionScorer::new(saliency_map(saliency, "selective-paste"), h, w);
        let candidates = ctx.candidates(Placement::Inside, s, s);
        let selection = Selection::new(&scorer, &candidates, self.tau, Side::Above);
        let rect = selection.draw(&mut ctx.site(i).rng(Purpose::Paste));
        RegionParams::Paste { rects: vec![rect] }
    }

    fn needs_saliency(&self) -> bool {
        true
    }
}
