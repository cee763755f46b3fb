//! Saliency-guided samplers: Selective-Cut and Selective-Paste (seed 003, Alg. 1 and
//! the Remark of §3) and saliency-max occlusion (seed 000 §3, Fig. 3).
//!
//! They are [`Sampler`](crate::augment::sample::Sampler)s like the random methods:
//! given the `H × W` saliency map of an image (image coordinates after preprocessing)
//! they emit the same [`RegionParams`](crate::augment::params::RegionParams), so the
//! batched apply serves them unchanged.
//!
//! # Candidate regions, scores and the threshold
//!
//! seed 003's Remark: "given an image and consider an region size `h × w` of interest,
//! we first calculate the importance scores of all possible candidate regions,
//! following Eq. 1; then we set our threshold to be the τ-quantile value of all the
//! importance scores … For selective-cut, we uniformly keep sampling a mask region S
//! until its corresponding score … is smaller than the threshold. For selective-paste,
//! we uniformly sample a region S with importance score … greater than the threshold."
//!
//! * *Candidates* ([`Candidates`]) are the regions the base method draws for the box
//!   size it drew, each as likely as the others under it: Cutout and CutMix centre
//!   their box on any pixel and clip it at the border ([`Placement::Centred`]);
//!   Random Erasing and Selective-Paste place it fully inside ([`Placement::Inside`]).
//!   They depend only on the geometry and are built once per batch and box size
//!   ([`crate::augment::sample::BatchContext::candidates`]).
//! * *Scores* ([`region_score`]): a whole box scores its saliency sum (Eq. 1). A box
//!   clipped at the border scores `sum / area × h·w`, the mean importance of the
//!   pixels it cuts extended to the box size — see below.
//! * The *threshold* is the τ-quantile of all candidates' scores with linear
//!   interpolation between order statistics ([`quantile`]; NumPy's and PyTorch's
//!   default).
//! * The region is drawn *uniformly among the candidates that pass* (`score <
//!   threshold` for cut, `> threshold` for paste) by the paper's own loop — draw the
//!   base method's region until one passes — bounded ([`Selection::draw`]: after
//!   [`BASE_TRIES`] misses it draws among the passing regions directly, which leaves
//!   the distribution exactly uniform over them). When no candidate passes strictly —
//!   many candidates tie at the threshold, e.g. a map that is zero or constant on most
//!   of the image — the paper's loop would never end; the candidates *at* the
//!   threshold (all equally (un)important) pass instead.
//!
//! # Why clipped boxes score their mean, not their sum
//!
//! Cutout and CutMix let boxes overflow the image (seed 000 §3: "allowing for some
//! patches to overflow off the image"), and a Selective-Cut that keeps its base
//! method's behaviour must keep those positions as candidates. Scored by the plain sum
//! of what is left inside, a clipped box scores low *because it is small*: on a 32×32
//! image with `s = 16` and τ = 0.6, 72 % of Cutout's centres give a clipped box, on a
//! flat map not one whole 16×16 square passes the threshold, the mean erased area
//! falls from 196 px (Cutout) to ≈ 160 px, and KeepCutout becomes "cut near the
//! border" whatever the saliency (KeepCutMix, α = 1: mean mixed share 0.256 against
//! CutMix's 0.317). The Remark speaks of "a region size h × w" and "all possible
//! candidate regions" of that size: a candidate's importance must not depend on how
//! much of it was clipped.
//!
//! Scoring a clipped box by its visible part's mean times `h·w` does that:
//!
//! * whole boxes score exactly Eq. 1, so wherever no clipping happens (Random
//!   Erasing, Selective-Paste, and every interior Cutout / CutMix position) the
//!   method is the paper's, unchanged;
//! * within one box size the ranking is that of the mean saliency of the cut pixels
//!   (the unofficial port ranks by the mean too), so importance *density* decides,
//!   not the clipped area;
//! * a cut region never removes more importance than the threshold allows: the sum
//!   cut by a clipped box is `mean·area ≤ mean·h·w = score < threshold`;
//! * on a constant map every candidate scores exactly `c·h·w` (computed as
//!   `sum / area * full` so that it is exact in `f64`), all tie, all pass, and every
//!   Keep method draws exactly what its base method draws from the same generator:
//!   positions, areas and λ (the tests check it seed by seed). Any map that is
//!   constant away from a hot spot gives the base method's distribution conditioned
//!   on sparing the spot.
//!
//! Rejected alternatives: dropping the overflow (only whole boxes) changes the base
//! method — Cutout would never cut a corner; padding the outside with zero saliency
//! is the plain sum, i.e. the border bias above.

mod cut;
mod occlusion;
mod paste;
pub mod reuse;
mod score;
mod select;

pub use cut::{KeepCutMix, KeepCutout, KeepRandomErasing};
pub use occlusion::{jitter_box, saliency_max_box, SaliencyOcclusion};
pub use paste::{random_paste, SelectivePaste};
pub use score::{quantile, region_score, Candidates, Placement, RegionScorer};
pub use select::{Selection, Side, BASE_TRIES};

/// The map a saliency-guided sampler was given; the [`crate::augment::Augmenter`]
/// checks that every image that needs one has one.
fn saliency_map<'a>(saliency: Option<&'a [f32]>, who: &str) -> &'a [f32] {
    saliency.unwrap_or_else(|| panic!("{who} samples from a saliency map, and none was given"))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rule_tests;

#[cfg(test)]
mod training_path;

#[cfg(test)]
mod reuse_tests;
