//! Plain-data augmentation parameters: what a sampler draws and what an apply
//! consumes.
//!
//! Every augmentation in occlude is split in two. A *sampler*
//! ([`super::sample::Sampler`], or [`super::ops::OpPolicy`] for image-level ops)
//! turns `(seed, epoch, dataset index, copy, image size[, saliency map])` into the
//! values defined here; an *apply* ([`super::apply`], [`super::ops`]) turns a batch of
//! them into pixels. The values are small, printable (`Debug`, JSON via serde) and
//! exactly what a test or a person needs to check a draw: boxes, grid flags, λ and
//! the partner image, op lists with magnitudes.
//!
//! Coordinates are pixels of the image *after* standard preprocessing (crop, resize,
//! flip): row `y` from the top, column `x` from the left. Rectangles are half-open,
//! `[top, top + height) × [left, left + width)`, and always lie inside the image
//! (samplers clip before emitting them), so an apply never needs to clip.
//!
//! Saliency-guided samplers (saliency-max occlusion, KeepCutout, KeepCutMix,
//! KeepAutoAugment, …) emit the same types: a selective cut is an [`RegionParams::Erase`]
//! or [`RegionParams::Mix`] whose box was chosen by score, and a selective paste is
//! [`RegionParams::Paste`].

use serde::{Deserialize, Serialize};

/// A half-open pixel rectangle `[top, top + height) × [left, left + width)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rect {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl Rect {
    pub fn new(top: usize, left: usize, height: usize, width: usize) -> Self {
        Self { top, left, height, width }
    }

    /// The part of the `height × width` box whose top-left corner is `(top, left)`
    /// (possibly outside the image) that lies inside an `image_h × image_w` image.
    /// The result is empty (zero height or width) when they do not overlap.
    pub fn clipped(top: i64, left: i64, height: usize, width: usize, image_h: usize, image_w: usize) -> Self {
        let clamp = |v: i64, hi: usize| v.clamp(0, hi as i64) as usize;
        let (y0, y1) = (clamp(top, image_h), clamp(top.saturating_add(height as i64), image_h));
        let (x0, x1) = (clamp(left, image_w), clamp(left.saturating_add(width as i64), image_w));
        Self { top: y0, left: x0, height: y1 - y0, width: x1 - x0 }
    }

    /// One past the last row.
    pub fn bottom(&self) -> usize {
        self.top + self.height
    }

    /// One past the last column.
    pub fn right(&self) -> usize {
        self.left + self.width
    }

    pub fn area(&self) -> usize {
        self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.area() == 0
    }

    pub fn contains(&self, y: usize, x: usize) -> bool {
        (self.top..self.bottom()).contains(&y) && (self.left..self.right()).contains(&x)
    }

    /// Whether the rectangle lies inside an `h × w` image.
    pub fn fits(&self, h: usize, w: usize) -> bool {
        self.bottom() <= h && self.right() <= w
    }
}

/// What replaces an occluded pixel. Values are in the normalised space the network
/// sees (`(v/255 − mean_c)/std_c`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fill {
    /// 0 after normalisation, i.e. the dataset's mean colour: the seeds' choice
    /// (seed 000 §3, "replacing it with the mean average colour"; Cutout, Hide-and-Seek).
    Zero,
    /// Independent N(0, 1) values per pixel and channel (Random Erasing's "random"
    /// mode, `torch.empty(…).normal_()` on the normalised image). The values are drawn
    /// on the host from `seed` in channel, row, column order over the occluded pixels
    /// only, so they are reproducible on every backend.
    Random { seed: u64 },
    /// The same value in every channel (torchvision `RandomErasing(value=v)` on the
    /// normalised image).
    Constant { value: f32 },
}

/// Hide-and-Seek's `G × G` grid (seed 000 §3, Fig. 1).
///
/// Cell sizes when the side is not divisible by `G`: the boundaries of row band `i`
/// are `⌊i·H/G⌋` and `⌊(i+1)·H/G⌋` (columns likewise with `W`), so there are always
/// exactly `G × G` cells, every pixel lies in exactly one, and cell sides differ by
/// at most one pixel (`⌊H/G⌋` or `⌈H/G⌉`). With `H = 224`, `G = 4` every cell is
/// `56 × 56` as in the paper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HideGrid {
    /// `G`: cells per side.
    pub grid: usize,
    /// `G × G` flags in row-major order (`hidden[row * G + col]`, row = band of image
    /// rows `y`, col = band of columns `x`); `true` = the cell is occluded.
    pub hidden: Vec<bool>,
}

impl HideGrid {
    /// `[start, end)` of band `i` of `g` over a side of `n` pixels.
    pub fn band(i: usize, g: usize, n: usize) -> (usize, usize) {
        (i * n / g, (i + 1) * n / g)
    }

    /// The cell `(row, col)` as a rectangle of an `h × w` image.
    pub fn cell(&self, row: usize, col: usize, h: usize, w: usize) -> Rect {
        let (y0, y1) = Self::band(row, self.grid, h);
        let (x0, x1) = Self::band(col, self.grid, w);
        Rect::new(y0, x0, y1 - y0, x1 - x0)
    }

    /// The hidden cells as rectangles of an `h × w` image.
    pub fn hidden_rects(&self, h: usize, w: usize) -> Vec<Rect> {
        let g = self.grid;
        (0..g * g).filter(|&k| self.hidden[k]).map(|k| self.cell(k / g, k % g, h, w)).collect()
    }
}

/// GridMask (Chen et al. 2020) without rotation: the image is tiled by `unit × unit`
/// squares starting at `(offset_y, offset_x)` (modulo `unit`); in each unit a band of
/// `keep` rows and a band of `keep` columns are kept and the remaining
/// `(unit − keep) × (unit − keep)` square is occluded. Pixel `(y, x)` is occluded iff
/// `(y − offset_y) mod unit ≥ keep` and `(x − offset_x) mod unit ≥ keep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridMaskParams {
    /// `d`, the side of a unit.
    pub unit: usize,
    /// `l = ⌈d·r⌉`, the width of the kept bands.
    pub keep: usize,
    pub offset_y: usize,
    pub offset_x: usize,
}

impl GridMaskParams {
    pub fn occludes(&self, y: usize, x: usize) -> bool {
        let d = self.unit;
        (y + d - self.offset_y % d) % d >= self.keep && (x + d - self.offset_x % d) % d >= self.keep
    }
}

/// The region-level parameters of one image: which pixels change, and where their
/// new values come from. One value per image of a batch; the batched apply
/// ([`super::apply::apply_batch`]) consumes a slice of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RegionParams {
    /// The image is left as it is (e.g. with probability `p_keep_image`). For
    /// image-level methods this means the clean view is used.
    Keep,
    /// Pixels inside any rectangle are replaced by `fill`: Cutout (N squares),
    /// Random Erasing, saliency-max occlusion, Selective-Cut (KeepCutout,
    /// KeepRandomErasing). Empty rectangles are allowed and change nothing.
    Erase { rects: Vec<Rect>, fill: Fill },
    /// Hide-and-Seek: the hidden grid cells are replaced by `fill`.
    HideAndSeek { grid: HideGrid, fill: Fill },
    /// GridMask: the occluded squares are replaced by `fill`.
    GridMask { grid: GridMaskParams, fill: Fill },
    /// CutMix (and KeepCutMix): pixels inside `rect` come from image `partner` of the
    /// same batch (a position in the batch, not a dataset index). The target is
    /// `lambda · y + (1 − lambda) · y_partner` with `lambda = 1 − area(rect)/(H·W)`.
    Mix { rect: Rect, partner: usize, lambda: f64 },
    /// Image-level augmentation with Selective-Paste (seed 003 Eq. 3):
    /// `x̃ = M ⊙ x + (1 − M) ⊙ A(x)`, `M` the union of `rects`. Pixels inside the
    /// rectangles come from the clean view `x`, all others from the augmented view
    /// `A(x)` (same crop). No rectangles = plain AutoAugment / RandAugment.
    Paste { rects: Vec<Rect> },
}

impl RegionParams {
    /// The share of the image's own label in its target (CutMix's λ; 1 otherwise).
    pub fn label_weight(&self) -> f64 {
        match self {
            Self::Mix { lambda, .. } => *lambda,
            _ => 1.0,
        }
    }

    /// The rectangles of the variants made of rectangles (empty for the others).
    pub fn rects(&self) -> Vec<Rect> {
        match self {
            Self::Erase { rects, .. } | Self::Paste { rects } => rects.clone(),
            Self::Mix { rect, .. } => vec![*rect],
            _ => vec![],
        }
    }

    /// The fill, for the variants that have one.
    pub fn fill(&self) -> Option<Fill> {
        match self {
            Self::Erase { fill, .. } | Self::HideAndSeek { fill, .. } | Self::GridMask { fill, .. } => Some(*fill),
            _ => None,
        }
    }

    /// Whether pixel `(y, x)` of an `h × w` image is replaced (for `Paste`: whether it
    /// comes from the clean view). The batched apply renders the same predicate.
    pub fn covers(&self, y: usize, x: usize, h: usize, w: usize) -> bool {
        match self {
            Self::Keep => false,
            Self::Erase { rects, .. } | Self::Paste { rects } => rects.iter().any(|r| r.contains(y, x)),
            Self::HideAndSeek { grid, .. } => {
                let g = grid.grid;
                let row = (0..g).find(|&i| HideGrid::band(i, g, h).1 > y).unwrap_or(g - 1);
                let col = (0..g).find(|&i| HideGrid::band(i, g, w).1 > x).unwrap_or(g - 1);
                grid.hidden[row * g + col]
            }
            Self::GridMask { grid, .. } => grid.occludes(y, x),
            Self::Mix { rect, .. } => rect.contains(y, x),
        }
    }
}

/// The image-level operations of AutoAugment and RandAugment, with PIL
/// `ImageOps`/`ImageEnhance` semantics as torchvision applies them to PIL images
/// (see [`super::ops`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    Identity,
    AutoContrast,
    Equalize,
    /// Only in AutoAugment's policies (not one of RandAugment's 14).
    Invert,
    Rotate,
    Solarize,
    Color,
    Posterize,
    Contrast,
    Brightness,
    Sharpness,
    ShearX,
    ShearY,
    TranslateX,
    TranslateY,
}

impl OpKind {
    /// Every op, RandAugment's 14 first, then `Invert`.
    pub const ALL: [OpKind; 15] = [
        OpKind::Identity,
        OpKind::AutoContrast,
        OpKind::Equalize,
        OpKind::Rotate,
        OpKind::Solarize,
        OpKind::Color,
        OpKind::Posterize,
        OpKind::Contrast,
        OpKind::Brightness,
        OpKind::Sharpness,
        OpKind::ShearX,
        OpKind::ShearY,
        OpKind::TranslateX,
        OpKind::TranslateY,
        OpKind::Invert,
    ];

    /// The 14 ops RandAugment draws from (torchvision's `RandAugment` space).
    pub fn rand_augment_ops() -> &'static [OpKind] {
        &Self::ALL[..14]
    }

    /// The name used on the command line and in specs (`shear-x`, `auto-contrast`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::AutoContrast => "autocontrast",
            Self::Equalize => "equalize",
            Self::Invert => "invert",
            Self::Rotate => "rotate",
            Self::Solarize => "solarize",
            Self::Color => "color",
            Self::Posterize => "posterize",
            Self::Contrast => "contrast",
            Self::Brightness => "brightness",
            Self::Sharpness => "sharpness",
            Self::ShearX => "shear-x",
            Self::ShearY => "shear-y",
            Self::TranslateX => "translate-x",
            Self::TranslateY => "translate-y",
        }
    }

    /// Parses a name as printed by [`name`](Self::name) (also accepts `_` for `-`,
    /// `auto-contrast`, and torchvision's CamelCase names).
    pub fn parse(s: &str) -> Option<Self> {
        let key: String = s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect::<String>().to_lowercase();
        Self::ALL.into_iter().find(|k| k.name().replace('-', "") == key)
    }

    /// Whether the op has a direction (the magnitude is negated with probability ½).
    pub fn signed(&self) -> bool {
        matches!(
            self,
            Self::Rotate
                | Self::Color
                | Self::Contrast
                | Self::Brightness
                | Self::Sharpness
                | Self::ShearX
                | Self::ShearY
                | Self::TranslateX
                | Self::TranslateY
        )
    }

    /// Whether the magnitude changes anything (AutoContrast, Equalize, Invert and
    /// Identity ignore it).
    pub fn has_magnitude(&self) -> bool {
        !matches!(self, Self::Identity | Self::AutoContrast | Self::Equalize | Self::Invert)
    }
}

/// One image-level operation: its kind, a magnitude on the 0–30 scale, and the
/// direction for signed ops. See [`super::ops::op_argument`] for the mapping from
/// magnitude to the PIL argument.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageOp {
    pub kind: OpKind,
    /// Magnitude on the 0–30 scale (30 = the largest distortion of AutoAugment's
    /// search space, e.g. 30° rotation).
    pub magnitude: f32,
    /// Apply the op in the negative direction (signed ops only).
    pub negative: bool,
}

impl ImageOp {
    pub fn new(kind: OpKind, magnitude: f32, negative: bool) -> Self {
        Self { kind, magnitude, negative: negative && kind.signed() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_the_overlap_only() {
        assert_eq!(Rect::clipped(-3, 5, 8, 8, 10, 10), Rect::new(0, 5, 5, 5));
        assert_eq!(Rect::clipped(4, -10, 3, 5, 10, 10).area(), 0);
        assert_eq!(Rect::clipped(2, 3, 4, 5, 10, 10), Rect::new(2, 3, 4, 5));
        assert!(Rect::clipped(12, 0, 3, 3, 10, 10).is_empty());
    }

    #[test]
    fn grid_bands_partition_the_side_with_sizes_differing_by_at_most_one() {
        for n in 1..40 {
            for g in 1..=n.min(9) {
                let bands: Vec<_> = (0..g).map(|i| HideGrid::band(i, g, n)).collect();
                assert_eq!(bands[0].0, 0);
                assert_eq!(bands[g - 1].1, n);
                for w in bands.windows(2) {
                    assert_eq!(w[0].1, w[1].0);
                }
                let sizes: Vec<usize> = bands.iter().map(|b| b.1 - b.0).collect();
                assert!(sizes.iter().all(|&s| s == n / g || s == n.div_ceil(g)), "{n} {g} {sizes:?}");
            }
        }
        // The paper's setting: 224 / 4 = 56.
        assert!((0..4).all(|i| HideGrid::band(i, 4, 224).1 - HideGrid::band(i, 4, 224).0 == 56));
    }

    #[test]
    fn op_names_round_trip() {
        for k in OpKind::ALL {
            assert_eq!(OpKind::parse(k.name()), Some(k));
        }
        assert_eq!(OpKind::parse("ShearX"), Some(OpKind::ShearX));
        assert_eq!(OpKind::parse("auto_contrast"), Some(OpKind::AutoContrast));
        assert_eq!(OpKind::parse("blur"), None);
        assert_eq!(OpKind::rand_augment_ops().len(), 14);
        assert!(!OpKind::rand_augment_ops().contains(&OpKind::Invert));
    }

    #[test]
    fn params_serialise_as_plain_json() {
        let p = RegionParams::Mix { rect: Rect::new(1, 2, 3, 4), partner: 5, lambda: 0.25 };
        let s = serde_json::to_string(&p).unwrap();
        assert!(s.contains("\"kind\":\"mix\"") && s.contains("\"partner\":5"), "{s}");
        assert_eq!(serde_json::from_str::<RegionParams>(&s).unwrap(), p);
    }
}
