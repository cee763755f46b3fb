//! Importance scores of candidate regions (seed 003 §3, Eq. 1 and the Remark): the
//! integral image of a map, the candidate regions of a base method, the score of a
//! possibly clipped region, and the τ-quantile.

use crate::augment::params::Rect;
use rand::Rng as _;

/// Region sums of one saliency map, `Σ_{(i,j)∈S} g_ij` (seed 003 §3, Eq. 1), from an
/// integral image accumulated in `f64`.
///
/// On a constant map every prefix sum `c·y·x` is exact in `f64` (a 24-bit `f32`
/// mantissa times at most `H·W < 2^26` pixels), so region sums are exact too:
/// [`region_score`] relies on it.
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

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// The sum of the map over `r` (which must lie inside the map). Evaluated as
    /// `(T[y1][x1] − T[y0][x1]) − (T[y1][x0] − T[y0][x0])`, the order
    /// [`Candidates::scores`] uses, so both give the same bits.
    pub fn sum(&self, r: &Rect) -> f64 {
        debug_assert!(r.fits(self.height, self.width));
        let s = self.width + 1;
        let (y0, y1, x0, x1) = (r.top, r.bottom(), r.left, r.right());
        (self.table[y1 * s + x1] - self.table[y0 * s + x1]) - (self.table[y1 * s + x0] - self.table[y0 * s + x0])
    }

    /// The importance score of `r` as a candidate for a `bh × bw` box
    /// ([`region_score`]).
    pub fn score(&self, r: &Rect, bh: usize, bw: usize) -> f64 {
        region_score(self.sum(r), r.area(), bh * bw)
    }
}

/// The importance score of a candidate region whose visible part (inside the image)
/// covers `area` pixels with saliency sum `sum`, for a box of `full = h·w` pixels:
///
/// * a whole box (`area == full`): `sum`, seed 003's Eq. 1;
/// * a box clipped at the border: `sum / area × full`, the mean importance of what
///   is cut, extended to the box size.
///
/// See the module documentation of [`super`] for why. The operations are done in this
/// order so that on a constant map `c` every candidate scores exactly `c·full`:
/// `c·area` is exact, dividing it by `area` gives `c` exactly, and `c·full` is exact.
pub fn region_score(sum: f64, area: usize, full: usize) -> f64 {
    if area == full {
        sum
    } else {
        sum / area as f64 * full as f64
    }
}

/// Where a base method may put a `bh × bw` box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Centred on any of the `H × W` pixels, clipped at the border (Cutout, CutMix):
    /// the centre is drawn by [`crate::augment::sample::uniform_centre`].
    Centred,
    /// Top-left corner anywhere the box fits entirely (Random Erasing, Selective-Paste):
    /// the corner is drawn by [`crate::augment::sample::uniform_corner`].
    Inside,
}

/// Every region a base method can draw for a `bh × bw` box on an `h × w` image, each
/// exactly as likely as the others under the base method, in the order of the base
/// method's draw: candidate `k = r·cols + c` is row position `r` and column position
/// `c`, and the base method draws `r` then `c` uniformly ([`Candidates::draw_base`]).
///
/// The regions are stored factorised — the row interval of every row position and
/// the column interval of every column position — so a candidate set costs
/// `O(H + W)` memory whatever the box size, and is built once per batch and box size
/// ([`crate::augment::sample::BatchContext::candidates`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Candidates {
    pub placement: Placement,
    pub bh: usize,
    pub bw: usize,
    pub height: usize,
    pub width: usize,
    /// `[y0, y1)` of every row position (clipped to the image).
    rows: Vec<(usize, usize)>,
    /// `[x0, x1)` of every column position (clipped to the image).
    cols: Vec<(usize, usize)>,
}

impl Candidates {
    pub fn new(placement: Placement, bh: usize, bw: usize, h: usize, w: usize) -> Self {
        assert!(bh >= 1 && bw >= 1, "an empty {bh}×{bw} box has no candidate regions");
        let (rows, cols) = match placement {
            // As `centred_box`: `[c − ⌊b/2⌋, c − ⌊b/2⌋ + b) ∩ [0, n)` for every centre `c`.
            Placement::Centred => {
                let span = |c: usize, b: usize, n: usize| {
                    let lo = c as i64 - (b / 2) as i64;
                    (lo.clamp(0, n as i64) as usize, (lo + b as i64).clamp(0, n as i64) as usize)
                };
                ((0..h).map(|c| span(c, bh, h)).collect(), (0..w).map(|c| span(c, bw, w)).collect())
            }
            Placement::Inside => {
                assert!(bh <= h && bw <= w, "a {bh}×{bw} box does not fit in a {h}×{w} image");
                ((0..=h - bh).map(|t| (t, t + bh)).collect(), (0..=w - bw).map(|l| (l, l + bw)).collect())
            }
        };
        Self { placement, bh, bw, height: h, width: w, rows, cols }
    }

    pub fn len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Candidate `k`.
    pub fn get(&self, k: usize) -> Rect {
        let ((y0, y1), (x0, x1)) = (self.rows[k / self.cols.len()], self.cols[k % self.cols.len()]);
        Rect::new(y0, x0, y1 - y0, x1 - x0)
    }

    /// Every candidate, in order.
    pub fn rects(&self) -> impl Iterator<Item = Rect> + '_ {
        (0..self.len()).map(|k| self.get(k))
    }

    /// The candidate the base method draws with `rng`, consuming exactly the base
    /// method's draws: the row position, then the column position, each uniform (for
    /// [`Placement::Centred`] these are the centre's row and column, for
    /// [`Placement::Inside`] the top-left corner's).
    pub fn draw_base(&self, rng: &mut crate::rng::Rng) -> usize {
        let r = rng.random_range(0..self.rows.len());
        let c = rng.random_range(0..self.cols.len());
        r * self.cols.len() + c
    }

    /// The [`region_score`] of every candidate on the map of `scorer`, in order: for
    /// each row position one pass over the columns of the integral image, so a
    /// candidate costs two lookups.
    pub fn scores(&self, scorer: &RegionScorer) -> Vec<f64> {
        assert_eq!((scorer.height, scorer.width), (self.height, self.width), "map and candidates differ in size");
        let stride = self.width + 1;
        let full = self.bh * self.bw;
        let mut out = Vec::with_capacity(self.len());
        let mut band = vec![0.0f64; stride];
        for &(y0, y1) in &self.rows {
            let (top, bottom) = (&scorer.table[y0 * stride..(y0 + 1) * stride], &scorer.table[y1 * stride..]);
            for (x, b) in band.iter_mut().enumerate() {
                *b = bottom[x] - top[x];
            }
            let rows = y1 - y0;
            out.extend(self.cols.iter().map(|&(x0, x1)| region_score(band[x1] - band[x0], rows * (x1 - x0), full)));
        }
        out
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
