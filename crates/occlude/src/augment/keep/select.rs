//! The threshold and the draw of seed 003's selective methods (§3 Remark, Alg. 1).

use super::score::{quantile, Candidates, RegionScorer};
use crate::augment::params::Rect;
use crate::rng::Rng;
use rand::Rng as _;

/// Which side of the threshold a region must be on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Selective-Cut: `score < threshold`.
    Below,
    /// Selective-Paste: `score > threshold`.
    Above,
}

/// How many regions [`Selection::draw`] draws the base method's way before it draws
/// among the passing regions directly. Any bound gives the same distribution (see
/// there); 64 makes the direct draw rare (it needs 64 misses in a row, probability
/// `(1 − p)^64` for a passing share `p`: below 10⁻⁶ for `p ≥ 0.2`).
pub const BASE_TRIES: usize = 64;

/// The candidates of one image and box size, scored, with seed 003's threshold.
#[derive(Clone, Debug)]
pub struct Selection<'a> {
    pub candidates: &'a Candidates,
    /// The [`super::region_score`] of every candidate.
    pub scores: Vec<f64>,
    /// The τ-quantile of `scores`.
    pub threshold: f64,
    pub side: Side,
    /// No candidate is strictly on `side` of the threshold, so the candidates scoring
    /// exactly the threshold pass instead (see the module documentation).
    pub ties: bool,
    /// How many candidates pass.
    pub passing: usize,
}

impl<'a> Selection<'a> {
    /// seed 003 §3 Remark: the threshold is the `tau`-quantile of all candidates'
    /// scores; a region passes when its score is on `side` of it (or, when none is,
    /// equal to it).
    pub fn new(scorer: &RegionScorer, candidates: &'a Candidates, tau: f64, side: Side) -> Self {
        let scores = candidates.scores(scorer);
        let threshold = quantile(&scores, tau);
        let strict = scores
            .iter()
            .filter(|&&s| match side {
                Side::Below => s < threshold,
                Side::Above => s > threshold,
            })
            .count();
        let (ties, passing) = if strict > 0 {
            (false, strict)
        } else {
            // The quantile lies between the smallest and largest score, so some
            // candidate scores exactly the threshold whenever none passes strictly.
            (true, scores.iter().filter(|&&s| s == threshold).count())
        };
        Self { candidates, scores, threshold, side, ties, passing }
    }

    /// Whether candidate `k` passes.
    pub fn passes(&self, k: usize) -> bool {
        let s = self.scores[k];
        match (self.ties, self.side) {
            (true, _) => s == self.threshold,
            (false, Side::Below) => s < self.threshold,
            (false, Side::Above) => s > self.threshold,
        }
    }

    /// The passing regions, in candidate order.
    pub fn regions(&self) -> Vec<Rect> {
        (0..self.candidates.len()).filter(|&k| self.passes(k)).map(|k| self.candidates.get(k)).collect()
    }

    /// One passing region, uniformly: seed 003 Alg. 1's loop ("repeat randomly select
    /// a mask region S until …"), drawing regions exactly as the base method does
    /// ([`Candidates::draw_base`]) up to [`BASE_TRIES`] times, then, if none passed,
    /// uniformly among the passing regions directly.
    ///
    /// Every candidate is equally likely under the base draw, so with `n` candidates
    /// of which `m` pass (`p = m/n`) a passing region `r` comes out with probability
    /// `Σ_{k<K} (1−p)^k/n + (1−p)^K/m = (1 − (1−p)^K)/m + (1−p)^K/m = 1/m`: exactly
    /// uniform over the passing regions, the distribution the paper's unbounded loop
    /// converges to, in bounded time. When every candidate passes (a constant map) the
    /// first base draw is taken, so the selective method draws exactly what its base
    /// method draws from the same generator.
    pub fn draw(&self, rng: &mut Rng) -> Rect {
        for _ in 0..BASE_TRIES {
            let k = self.candidates.draw_base(rng);
            if self.passes(k) {
                return self.candidates.get(k);
            }
        }
        let nth = rng.random_range(0..self.passing);
        let k = (0..self.candidates.len()).filter(|&k| self.passes(k)).nth(nth).expect("`passing` regions pass");
        self.candidates.get(k)
    }
}
