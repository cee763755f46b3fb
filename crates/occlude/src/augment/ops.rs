//! Image-level operations (AutoAugment, RandAugment) on 8-bit images, with the
//! semantics of PIL's `ImageOps` / `ImageEnhance` / `Image.transform` as torchvision
//! applies them to PIL images (`torchvision.transforms.autoaugment._apply_op`).
//!
//! These ops act on the cropped 8-bit image before normalisation (seed 003 §2:
//! `x' = A(x)`), so they run in the data loader, per image, on the host; the loader
//! keeps both the clean view `x` and the augmented view `A(x)` of the same crop so
//! that Selective-Paste can blend them on the device.
//!
//! Exactness notes (each one is what PIL does, and what the tests check by hand):
//! * lookup-table ops (autocontrast, equalize, posterize, solarize, invert) follow
//!   `ImageOps` bit for bit, channel by channel;
//! * enhance ops blend with a degenerate image as `Image.blend` does in C:
//!   `out = (u8)(d + α·(x − d))` in `f32`, truncated, clipped when `α ∉ [0, 1]`;
//!   grey is PIL's `L = (19595 R + 38470 G + 7471 B + 32768) >> 16`; the sharpness
//!   degenerate is the 3×3 SMOOTH filter (weights 1…5…1 / 13, rounded, border kept);
//! * geometric ops use nearest-neighbour sampling at pixel centres with PIL's 16.16
//!   fixed-point affine loop (`affine_fixed` in `libImaging/Geometry.c`); uncovered
//!   pixels get `fill`.

use super::params::{ImageOp, OpKind};
use crate::data::ImageU8;
use crate::rng::{rng_for, Rng, Stream};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// The AutoAugment policies learned by Cubuk et al. (2019).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutoAugmentPolicy {
    ImageNet,
    Cifar10,
}

impl AutoAugmentPolicy {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ImageNet => "imagenet",
            Self::Cifar10 => "cifar10",
        }
    }

    /// The 25 sub-policies: two `(op, probability, level)` each, `level` on
    /// AutoAugment's 10-bin scale (0–9), `None` for ops without a magnitude.
    pub fn sub_policies(&self) -> &'static [[(OpKind, f32, Option<u8>); 2]; 25] {
        match self {
            Self::ImageNet => &IMAGENET_POLICY,
            Self::Cifar10 => &CIFAR10_POLICY,
        }
    }
}

use OpKind::*;

/// AutoAugment's ImageNet policy (Cubuk et al. 2019, Appendix; torchvision's table).
static IMAGENET_POLICY: [[(OpKind, f32, Option<u8>); 2]; 25] = [
    [(Posterize, 0.4, Some(8)), (Rotate, 0.6, Some(9))],
    [(Solarize, 0.6, Some(5)), (AutoContrast, 0.6, None)],
    [(Equalize, 0.8, None), (Equalize, 0.6, None)],
    [(Posterize, 0.6, Some(7)), (Posterize, 0.6, Some(6))],
    [(Equalize, 0.4, None), (Solarize, 0.2, Some(4))],
    [(Equalize, 0.4, None), (Rotate, 0.8, Some(8))],
    [(Solarize, 0.6, Some(3)), (Equalize, 0.6, None)],
    [(Posterize, 0.8, Some(5)), (Equalize, 1.0, None)],
    [(Rotate, 0.2, Some(3)), (Solarize, 0.6, Some(8))],
    [(Equalize, 0.6, None), (Posterize, 0.4, Some(6))],
    [(Rotate, 0.8, Some(8)), (Color, 0.4, Some(0))],
    [(Rotate, 0.4, Some(9)), (Equalize, 0.6, None)],
    [(Equalize, 0.0, None), (Equalize, 0.8, None)],
    [(Invert, 0.6, None), (Equalize, 1.0, None)],
    [(Color, 0.6, Some(4)), (Contrast, 1.0, Some(8))],
    [(Rotate, 0.8, Some(8)), (Color, 1.0, Some(2))],
    [(Color, 0.8, Some(8)), (Solarize, 0.8, Some(7))],
    [(Sharpness, 0.4, Some(7)), (Invert, 0.6, None)],
    [(ShearX, 0.6, Some(5)), (Equalize, 1.0, None)],
    [(Color, 0.4, Some(0)), (Equalize, 0.6, None)],
    [(Equalize, 0.4, None), (Solarize, 0.2, Some(4))],
    [(Solarize, 0.6, Some(5)), (AutoContrast, 0.6, None)],
    [(Invert, 0.6, None), (Equalize, 1.0, None)],
    [(Color, 0.6, Some(4)), (Contrast, 1.0, Some(8))],
    [(Equalize, 0.8, None), (Equalize, 0.6, None)],
];

/// AutoAugment's reduced-CIFAR-10 policy (Cubuk et al. 2019, Appendix).
static CIFAR10_POLICY: [[(OpKind, f32, Option<u8>); 2]; 25] = [
    [(Invert, 0.1, None), (Contrast, 0.2, Some(6))],
    [(Rotate, 0.7, Some(2)), (TranslateX, 0.3, Some(9))],
    [(Sharpness, 0.8, Some(1)), (Sharpness, 0.9, Some(3))],
    [(ShearY, 0.5, Some(8)), (TranslateY, 0.7, Some(9))],
    [(AutoContrast, 0.5, None), (Equalize, 0.9, None)],
    [(ShearY, 0.2, Some(7)), (Posterize, 0.3, Some(7))],
    [(Color, 0.4, Some(3)), (Brightness, 0.6, Some(7))],
    [(Sharpness, 0.3, Some(9)), (Brightness, 0.7, Some(9))],
    [(Equalize, 0.6, None), (Equalize, 0.5, None)],
    [(Contrast, 0.6, Some(7)), (Sharpness, 0.6, Some(5))],
    [(Color, 0.7, Some(7)), (TranslateX, 0.5, Some(8))],
    [(Equalize, 0.3, None), (AutoContrast, 0.4, None)],
    [(TranslateY, 0.4, Some(3)), (Sharpness, 0.2, Some(6))],
    [(Brightness, 0.9, Some(6)), (Color, 0.2, Some(8))],
    [(Solarize, 0.5, Some(2)), (Invert, 0.0, None)],
    [(Equalize, 0.2, None), (AutoContrast, 0.6, None)],
    [(Equalize, 0.2, None), (Equalize, 0.6, None)],
    [(Color, 0.9, Some(9)), (Equalize, 0.6, None)],
    [(AutoContrast, 0.8, None), (Solarize, 0.2, Some(8))],
    [(Brightness, 0.1, Some(3)), (Color, 0.7, Some(0))],
    [(Solarize, 0.4, Some(5)), (AutoContrast, 0.9, None)],
    [(TranslateY, 0.9, Some(9)), (TranslateY, 0.7, Some(9))],
    [(AutoContrast, 0.9, None), (Solarize, 0.8, Some(3))],
    [(Equalize, 0.8, None), (Invert, 0.1, None)],
    [(TranslateY, 0.7, Some(9)), (AutoContrast, 0.9, None)],
];

/// AutoAugment's magnitude level (10 bins, 0–9) on the 0–30 scale.
///
/// AutoAugment (Cubuk et al. 2019 §3) discretises each op's range into 10 uniformly
/// spaced values, so level `l` is `l/9` of the maximum (torchvision:
/// `linspace(0, max, 10)[l]`), which is `m = 30·l/9` on the 0–30 scale.
pub fn autoaugment_level_to_magnitude(level: u8) -> f32 {
    30.0 * level as f32 / 9.0
}

/// The argument an op passes to PIL for magnitude `m` on a `width × height` image.
///
/// The 0–30 scale is torchvision's 31-bin RandAugment space: magnitude `m` is
/// `m/30` of the op's maximum, the maximum being AutoAugment's largest distortion
/// (Cubuk et al. 2019, Table 1 ranges as torchvision implements them):
///
/// | op | argument at `m` (negated when `op.negative`) |
/// |---|---|
/// | shear-x / shear-y | shear factor `0.3·m/30` |
/// | translate-x / -y | `trunc(150/331 · W (or H) · m/30)` pixels |
/// | rotate | `30·m/30` degrees, counter-clockwise |
/// | brightness, color, contrast, sharpness | enhance factor `1 + 0.9·m/30` |
/// | posterize | bits kept `8 − round(m/7.5)` (4…8) |
/// | solarize | threshold `255·(1 − m/30)` |
/// | others | none (0) |
///
/// The RandAugment paper (Cubuk et al. 2020 §3) uses an integer scale 0–10 on which
/// 10 is that same maximum, so its `M` is `m = 3·M` here (its CIFAR-10 setting
/// `M = 5` is `m = 15`; torchvision's default `magnitude=9` is `M = 3`). KeepAugment
/// (seed 003 Table 3) reports magnitudes 6–24, which are values of `m`.
pub fn op_argument(op: &ImageOp, width: usize, height: usize) -> f64 {
    let frac = op.magnitude as f64 / 30.0;
    let sign = if op.negative && op.kind.signed() { -1.0 } else { 1.0 };
    match op.kind {
        ShearX | ShearY => sign * 0.3 * frac,
        TranslateX => (sign * 150.0 / 331.0 * width as f64 * frac).trunc(),
        TranslateY => (sign * 150.0 / 331.0 * height as f64 * frac).trunc(),
        Rotate => sign * 30.0 * frac,
        Brightness | Color | Contrast | Sharpness => 1.0 + sign * 0.9 * frac,
        Posterize => 8.0 - (op.magnitude as f64 / 7.5).round_ties_even(),
        Solarize => 255.0 * (1.0 - frac),
        Identity | AutoContrast | Equalize | Invert => 0.0,
    }
}

/// How image-level op lists are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OpPolicy {
    /// AutoAugment: one of the 25 sub-policies uniformly, each of its two ops applied
    /// with its probability, in the negative direction with probability ½.
    /// `magnitude` (0–30) replaces the policy's own magnitudes when given.
    AutoAugment { policy: AutoAugmentPolicy, magnitude: Option<f32> },
    /// RandAugment: `n` ops drawn uniformly (with replacement) from the 14, all at
    /// magnitude `m`, signed ops negated with probability ½.
    RandAugment { n: usize, m: f32 },
}

impl OpPolicy {
    /// Draws the op list of one image (only the ops actually applied).
    pub fn sample(&self, rng: &mut Rng) -> Vec<ImageOp> {
        match *self {
            Self::AutoAugment { policy, magnitude } => {
                let table = policy.sub_policies();
                let sub = &table[rng.random_range(0..table.len())];
                let mut ops = Vec::with_capacity(2);
                for &(kind, p, level) in sub {
                    // torchvision: `probs[i] <= p`, with probs uniform in [0, 1).
                    let u: f32 = rng.random();
                    let negative = rng.random_bool(0.5);
                    if u <= p {
                        let m = match (magnitude, level) {
                            (_, None) => 0.0,
                            (Some(m), Some(_)) => m,
                            (None, Some(l)) => autoaugment_level_to_magnitude(l),
                        };
                        ops.push(ImageOp::new(kind, m, negative));
                    }
                }
                ops
            }
            Self::RandAugment { n, m } => {
                let space = OpKind::rand_augment_ops();
                (0..n)
                    .map(|_| {
                        let kind = space[rng.random_range(0..space.len())];
                        let negative = rng.random_bool(0.5);
                        ImageOp::new(kind, if kind.has_magnitude() { m } else { 0.0 }, negative)
                    })
                    .collect()
            }
        }
    }
}

/// What the loader needs to produce augmented views: the policy and the grey level
/// uncovered by geometric ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageOpsConfig {
    pub policy: OpPolicy,
    pub fill: u8,
}

impl ImageOpsConfig {
    /// The op list of sample `index`, draw `draw` (pass/copy) in `epoch`: a function
    /// of these and the seed only ([`Stream::ImageOps`]).
    pub fn sample(&self, seed: u64, epoch: usize, index: usize, draw: usize) -> Vec<ImageOp> {
        self.policy.sample(&mut rng_for(seed, Stream::ImageOps, epoch as u64, index as u64, draw as u64))
    }

    pub fn apply(&self, img: &ImageU8, ops: &[ImageOp]) -> ImageU8 {
        apply_ops(img, ops, self.fill)
    }
}

/// Applies `ops` in order.
pub fn apply_ops(img: &ImageU8, ops: &[ImageOp], fill: u8) -> ImageU8 {
    let mut out = img.clone();
    for op in ops {
        out = apply_op(&out, op, fill);
    }
    out
}

/// Applies one op; `fill` is the grey level of pixels uncovered by geometric ops.
pub fn apply_op(img: &ImageU8, op: &ImageOp, fill: u8) -> ImageU8 {
    let a = op_argument(op, img.width, img.height);
    match op.kind {
        Identity => img.clone(),
        AutoContrast => autocontrast(img),
        Equalize => equalize(img),
        Invert => invert(img),
        Posterize => posterize(img, a as u32),
        Solarize => solarize(img, a),
        Brightness => brightness(img, a),
        Color => color(img, a),
        Contrast => contrast(img, a),
        Sharpness => sharpness(img, a),
        Rotate => rotate(img, a, fill),
        ShearX => shear_x(img, a, fill),
        ShearY => shear_y(img, a, fill),
        TranslateX => translate(img, a as i64, 0, fill),
        TranslateY => translate(img, 0, a as i64, fill),
    }
}

/// Applies one 256-entry lookup table per channel.
fn map_channels(img: &ImageU8, lut_of: impl Fn(&[u8]) -> [u8; 256]) -> ImageU8 {
    let n = img.height * img.width;
    let mut out = img.clone();
    for c in 0..img.channels {
        let plane = &mut out.data[c * n..(c + 1) * n];
        let lut = lut_of(plane);
        for v in plane.iter_mut() {
            *v = lut[*v as usize];
        }
    }
    out
}

fn histogram(plane: &[u8]) -> [usize; 256] {
    let mut h = [0usize; 256];
    for &v in plane {
        h[v as usize] += 1;
    }
    h
}

fn identity_lut() -> [u8; 256] {
    std::array::from_fn(|i| i as u8)
}

/// `ImageOps.autocontrast(img)` (cutoff 0): each channel is stretched linearly so
/// that its darkest value becomes 0 and its lightest 255,
/// `lut[v] = int(v·scale − lo·scale)` with `scale = 255/(hi − lo)`, clamped;
/// channels with a single value are left unchanged.
pub fn autocontrast(img: &ImageU8) -> ImageU8 {
    map_channels(img, |plane| {
        let h = histogram(plane);
        let lo = (0..256).find(|&i| h[i] > 0).unwrap_or(0);
        let hi = (0..256).rev().find(|&i| h[i] > 0).unwrap_or(0);
        if hi <= lo {
            return identity_lut();
        }
        let scale = 255.0 / (hi - lo) as f64;
        let offset = -(lo as f64) * scale;
        std::array::from_fn(|i| ((i as f64 * scale + offset) as i64).clamp(0, 255) as u8)
    })
}

/// `ImageOps.equalize(img)`: per channel, with `h` the histogram and `step` =
/// (number of pixels − count of the last non-empty bin) div 255,
/// `lut[i] = (step div 2 + Σ_{j<i} h[j]) div step` (clamped to 255); channels with
/// one value or `step = 0` are left unchanged.
pub fn equalize(img: &ImageU8) -> ImageU8 {
    map_channels(img, |plane| {
        let h = histogram(plane);
        let nonzero: Vec<usize> = h.iter().copied().filter(|&c| c > 0).collect();
        if nonzero.len() <= 1 {
            return identity_lut();
        }
        let step = (nonzero.iter().sum::<usize>() - nonzero[nonzero.len() - 1]) / 255;
        if step == 0 {
            return identity_lut();
        }
        let mut n = step / 2;
        std::array::from_fn(|i| {
            let v = (n / step).min(255) as u8;
            n += h[i];
            v
        })
    })
}

/// `ImageOps.invert`: `255 − v`.
pub fn invert(img: &ImageU8) -> ImageU8 {
    map_channels(img, |_| std::array::from_fn(|i| 255 - i as u8))
}

/// `ImageOps.posterize(img, bits)`: keeps the `bits` most significant bits.
pub fn posterize(img: &ImageU8, bits: u32) -> ImageU8 {
    let bits = bits.min(8);
    let mask = !((1u16 << (8 - bits)) - 1) as u8;
    map_channels(img, |_| std::array::from_fn(|i| i as u8 & mask))
}

/// `ImageOps.solarize(img, threshold)`: values `>= threshold` are inverted.
pub fn solarize(img: &ImageU8, threshold: f64) -> ImageU8 {
    map_channels(img, |_| std::array::from_fn(|i| if (i as f64) < threshold { i as u8 } else { 255 - i as u8 }))
}

/// `Image.blend(degenerate, img, factor)` as PIL computes it in C.
fn blend(degenerate: &[u8], img: &[u8], factor: f64) -> Vec<u8> {
    let alpha = factor as f32;
    if alpha == 0.0 {
        return degenerate.to_vec();
    }
    if alpha == 1.0 {
        return img.to_vec();
    }
    let interpolate = (0.0..=1.0).contains(&alpha);
    degenerate
        .iter()
        .zip(img)
        .map(|(&d, &x)| {
            let t = d as i32 as f32 + alpha * (x as i32 - d as i32) as f32;
            if interpolate {
                t as u8
            } else if t <= 0.0 {
                0
            } else if t >= 255.0 {
                255
            } else {
                t as u8
            }
        })
        .collect()
}

/// PIL's grey level `L` of every pixel (`convert("L")`; the image itself for one
/// channel).
fn grey(img: &ImageU8) -> Vec<u8> {
    let n = img.height * img.width;
    if img.channels < 3 {
        return img.data[..n].to_vec();
    }
    let (r, g, b) = (&img.data[..n], &img.data[n..2 * n], &img.data[2 * n..3 * n]);
    (0..n).map(|i| ((r[i] as u32 * 19595 + g[i] as u32 * 38470 + b[i] as u32 * 7471 + 0x8000) >> 16) as u8).collect()
}

fn with_data(img: &ImageU8, data: Vec<u8>) -> ImageU8 {
    ImageU8::new(img.channels, img.height, img.width, data)
}

/// `ImageEnhance.Brightness(img).enhance(factor)`: blend with black.
pub fn brightness(img: &ImageU8, factor: f64) -> ImageU8 {
    with_data(img, blend(&vec![0; img.data.len()], &img.data, factor))
}

/// `ImageEnhance.Color(img).enhance(factor)`: blend with the grey image (identity
/// for one-channel images).
pub fn color(img: &ImageU8, factor: f64) -> ImageU8 {
    if img.channels < 3 {
        return img.clone();
    }
    let g = grey(img);
    let degenerate: Vec<u8> = (0..img.channels).flat_map(|_| g.iter().copied()).collect();
    with_data(img, blend(&degenerate, &img.data, factor))
}

/// `ImageEnhance.Contrast(img).enhance(factor)`: blend with a constant image at
/// `int(mean(L) + 0.5)`.
pub fn contrast(img: &ImageU8, factor: f64) -> ImageU8 {
    let g = grey(img);
    let mean = g.iter().map(|&v| v as f64).sum::<f64>() / g.len().max(1) as f64;
    let m = (mean + 0.5) as u8;
    with_data(img, blend(&vec![m; img.data.len()], &img.data, factor))
}

/// `ImageEnhance.Sharpness(img).enhance(factor)`: blend with the image filtered by
/// PIL's SMOOTH kernel `[[1,1,1],[1,5,1],[1,1,1]]/13` (rounded; the one-pixel border
/// is left as it is).
pub fn sharpness(img: &ImageU8, factor: f64) -> ImageU8 {
    let (h, w) = (img.height, img.width);
    let mut degenerate = img.data.clone();
    if h >= 3 && w >= 3 {
        let (k1, k5) = (1.0f32 / 13.0, 5.0f32 / 13.0);
        for c in 0..img.channels {
            let p = &img.data[c * h * w..(c + 1) * h * w];
            let out = &mut degenerate[c * h * w..(c + 1) * h * w];
            let at = |y: usize, x: usize| p[y * w + x] as f32;
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    // PIL sums the row below, the row, the row above, each left to right.
                    let mut ss = 0.5f32;
                    ss += at(y + 1, x - 1) * k1 + at(y + 1, x) * k1 + at(y + 1, x + 1) * k1;
                    ss += at(y, x - 1) * k1 + at(y, x) * k5 + at(y, x + 1) * k1;
                    ss += at(y - 1, x - 1) * k1 + at(y - 1, x) * k1 + at(y - 1, x + 1) * k1;
                    out[y * w + x] = if ss <= 0.0 {
                        0
                    } else if ss >= 255.0 {
                        255
                    } else {
                        ss as u8
                    };
                }
            }
        }
    }
    with_data(img, blend(&degenerate, &img.data, factor))
}

/// `Image.transform(size, AFFINE, matrix, NEAREST, fillcolor=fill)`: output pixel
/// `(x, y)` samples input `(a0·x' + a1·y' + a2, a3·x' + a4·y' + a5)` at the pixel
/// centre `(x', y') = (x + ½, y + ½)`, rounded down; outside pixels get `fill`.
/// Follows PIL's two code paths: exact floating point when the matrix has no
/// rotation/shear terms, 16.16 fixed point otherwise.
pub fn affine_nearest(img: &ImageU8, a: [f64; 6], fill: u8) -> ImageU8 {
    let (h, w) = (img.height, img.width);
    let mut out = ImageU8::new(img.channels, h, w, vec![fill; img.data.len()]);
    let mut copy = |y: usize, x: usize, yi: i64, xi: i64| {
        if xi >= 0 && yi >= 0 && (xi as usize) < w && (yi as usize) < h {
            for c in 0..img.channels {
                out.data[(c * h + y) * w + x] = img.data[(c * h + yi as usize) * w + xi as usize];
            }
        }
    };
    let coord = |v: f64| if v < 0.0 { -1 } else { v as i64 };
    if a[1] == 0.0 && a[3] == 0.0 {
        // ImagingScaleAffine.
        let mut xintab = vec![-1i64; w];
        let mut xo = a[2] + a[0] * 0.5;
        for xi in xintab.iter_mut() {
            *xi = coord(xo);
            xo += a[0];
        }
        let mut yo = a[5] + a[4] * 0.5;
        for y in 0..h {
            let yi = coord(yo);
            for (x, &xi) in xintab.iter().enumerate() {
                copy(y, x, yi, xi);
            }
            yo += a[4];
        }
        return out;
    }
    let fits =
        |x: f64, y: f64| (x * a[0] + y * a[1] + a[2]).abs() < 32768.0 && (x * a[3] + y * a[4] + a[5]).abs() < 32768.0;
    let (fw, fh) = (w as f64, h as f64);
    if fits(0.0, 0.0) && fits(fw, fh) && fits(0.0, fh) && fits(fw, 0.0) {
        // affine_fixed: 16.16 fixed point.
        let fix = |v: f64| (v * 65536.0 + 0.5).floor() as i64;
        let (a0, a1, a3, a4) = (fix(a[0]), fix(a[1]), fix(a[3]), fix(a[4]));
        let (a2, a5) = (fix(a[2] + a[0] * 0.5 + a[1] * 0.5), fix(a[5] + a[3] * 0.5 + a[4] * 0.5));
        for y in 0..h {
            let (mut xx, mut yy) = (a2 + y as i64 * a1, a5 + y as i64 * a4);
            for x in 0..w {
                copy(y, x, yy >> 16, xx >> 16);
                xx += a0;
                yy += a3;
            }
        }
    } else {
        let (mut xo, mut yo) = (a[2] + a[1] * 0.5 + a[0] * 0.5, a[5] + a[4] * 0.5 + a[3] * 0.5);
        for y in 0..h {
            let (mut xx, mut yy) = (xo, yo);
            for x in 0..w {
                copy(y, x, coord(yy), coord(xx));
                xx += a[0];
                yy += a[3];
            }
            xo += a[1];
            yo += a[4];
        }
    }
    out
}

/// Python's `round(v, 15)`, as PIL applies it to rotation matrices.
fn round15(v: f64) -> f64 {
    (v * 1e15).round() / 1e15
}

/// `img.rotate(angle, NEAREST, fillcolor=fill)`: counter-clockwise by `angle`
/// degrees about the image centre `(W/2, H/2)`, same size.
pub fn rotate(img: &ImageU8, angle: f64, fill: u8) -> ImageU8 {
    let angle = angle.rem_euclid(360.0);
    let (w, h) = (img.width as f64, img.height as f64);
    if angle == 0.0 {
        return img.clone();
    }
    if angle == 180.0 || ((angle == 90.0 || angle == 270.0) && img.width == img.height) {
        // PIL transposes exactly in these cases.
        let quarter = (angle / 90.0) as usize;
        let mut out = img.clone();
        let n = img.height;
        let m = img.width;
        for c in 0..img.channels {
            for y in 0..n {
                for x in 0..m {
                    let (sy, sx) = match quarter {
                        1 => (x, m - 1 - y),
                        2 => (n - 1 - y, m - 1 - x),
                        _ => (n - 1 - x, y),
                    };
                    out.data[(c * n + y) * m + x] = img.data[(c * n + sy) * m + sx];
                }
            }
        }
        return out;
    }
    let r = -angle.to_radians();
    let mut a = [round15(r.cos()), round15(r.sin()), 0.0, round15(-r.sin()), round15(r.cos()), 0.0];
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (t2, t5) = (a[0] * -cx + a[1] * -cy + a[2], a[3] * -cx + a[4] * -cy + a[5]);
    a[2] = t2 + cx;
    a[5] = t5 + cy;
    affine_nearest(img, a, fill)
}

/// torchvision `F.affine(img, shear=[degrees(atan(s)), 0], center=[0, 0])`: the
/// output pixel `(x, y)` samples the input at `x + s·y`.
pub fn shear_x(img: &ImageU8, s: f64, fill: u8) -> ImageU8 {
    let sx = s.atan().to_degrees().to_radians();
    affine_nearest(img, [1.0, sx.tan(), 0.0, 0.0, 1.0, 0.0], fill)
}

/// torchvision `F.affine(img, shear=[0, degrees(atan(s))], center=[0, 0])`: the
/// output pixel `(x, y)` samples the input at row `y + s·x`.
pub fn shear_y(img: &ImageU8, s: f64, fill: u8) -> ImageU8 {
    let sy = s.atan().to_degrees().to_radians();
    let c = (-sy).sin() / sy.cos();
    affine_nearest(img, [1.0, 0.0, 0.0, -c, 1.0, 0.0], fill)
}

/// torchvision `F.affine(img, translate=[dx, dy])`: the content moves right by `dx`
/// and down by `dy` pixels.
pub fn translate(img: &ImageU8, dx: i64, dy: i64, fill: u8) -> ImageU8 {
    affine_nearest(img, [1.0, 0.0, -dx as f64, 0.0, 1.0, -dy as f64], fill)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(h: usize, w: usize, v: &[u8]) -> ImageU8 {
        ImageU8::new(1, h, w, v.to_vec())
    }

    #[test]
    fn posterize_keeps_the_top_bits() {
        let img = gray(1, 4, &[0b1011_0111, 255, 16, 15]);
        assert_eq!(posterize(&img, 4).data, vec![0b1011_0000, 0xF0, 16, 0]);
        assert_eq!(posterize(&img, 1).data, vec![128, 128, 0, 0]);
        assert_eq!(posterize(&img, 8).data, img.data);
        assert_eq!(posterize(&img, 0).data, vec![0; 4]);
    }

    #[test]
    fn solarize_inverts_at_and_above_the_threshold() {
        let img = gray(1, 5, &[0, 100, 127, 128, 255]);
        assert_eq!(solarize(&img, 128.0).data, vec![0, 100, 127, 127, 0]);
        // Fractional thresholds (level 5 of AutoAugment: 255·(1 − 5/9) = 113.3).
        assert_eq!(solarize(&gray(1, 2, &[113, 114]), 113.333).data, vec![113, 141]);
        assert_eq!(invert(&img).data, vec![255, 155, 128, 127, 0]);
    }

    #[test]
    fn autocontrast_stretches_each_channel_and_truncates() {
        // lo = 50, hi = 150, scale 2.55: 50 → 0, 100 → int(127.5) = 127, 150 → 255.
        let img = ImageU8::new(2, 1, 3, vec![50, 100, 150, 7, 7, 7]);
        let out = autocontrast(&img);
        assert_eq!(&out.data[..3], &[0, 127, 255]);
        // A flat channel is left unchanged.
        assert_eq!(&out.data[3..], &[7, 7, 7]);
        // lo = 10, hi = 13: scale 85 → 0, 85, 170, 255.
        assert_eq!(autocontrast(&gray(1, 4, &[10, 11, 12, 13])).data, vec![0, 85, 170, 255]);
    }

    #[test]
    fn equalize_matches_pil_by_hand() {
        // 600 pixels: 300 at 0, 200 at 100, 100 at 200.
        // step = (600 − 100) div 255 = 1; lut[i] = (0 + Σ_{j<i} h[j]) div 1, clamped:
        // lut[0] = 0, lut[100] = 300 → 255, lut[200] = 500 → 255.
        let mut v = vec![0u8; 300];
        v.extend([100; 200]);
        v.extend([200; 100]);
        assert_eq!(equalize(&gray(1, 600, &v)).data.iter().filter(|&&x| x == 255).count(), 300);
        // 2550 pixels over 3 values: step = (2550 − 850) div 255 = 6, n starts at 3:
        // lut[10] = 3 div 6 = 0, lut[20] = (3 + 850) div 6 = 142, lut[30] = (3 + 1700) div 6 = 283 → 255.
        let mut v = vec![10u8; 850];
        v.extend([20; 850]);
        v.extend([30; 850]);
        let out = equalize(&gray(1, 2550, &v));
        assert_eq!((out.data[0], out.data[850], out.data[1700]), (0, 142, 255));
        // One value: unchanged.
        assert_eq!(equalize(&gray(1, 3, &[9, 9, 9])).data, vec![9, 9, 9]);
    }

    #[test]
    fn enhance_ops_blend_like_pil() {
        // Brightness 0.5 of 201 → int(100.5) = 100; factor 1.5 of 201 → 255 (clip).
        let img = gray(1, 2, &[201, 10]);
        assert_eq!(brightness(&img, 0.5).data, vec![100, 5]);
        assert_eq!(brightness(&img, 1.5).data, vec![255, 15]);
        // Contrast: mean = 105.5 → int(106.0) = 106; factor 0 gives the mean everywhere.
        assert_eq!(contrast(&img, 0.0).data, vec![106, 106]);
        // factor 2: 106 + 2·(201 − 106) = 296 → 255; 106 + 2·(10 − 106) = −86 → 0.
        assert_eq!(contrast(&img, 2.0).data, vec![255, 0]);
        // Colour of an RGB pixel (200, 100, 0): L = (200·19595 + 100·38470 + 32768) >> 16 = 118.
        let rgb = ImageU8::new(3, 1, 1, vec![200, 100, 0]);
        assert_eq!(color(&rgb, 0.0).data, vec![118, 118, 118]);
        assert_eq!(color(&rgb, 0.5).data, vec![159, 109, 59]);
    }

    #[test]
    fn sharpness_uses_the_smooth_kernel_inside_and_keeps_the_border() {
        // 3×3 with a bright centre: smooth = round((8·10 + 5·140)/13) = round(60) = 60.
        let img = gray(3, 3, &[10, 10, 10, 10, 140, 10, 10, 10, 10]);
        assert_eq!(sharpness(&img, 0.0).data, vec![10, 10, 10, 10, 60, 10, 10, 10, 10]);
        // factor 2: 60 + 2·(140 − 60) = 220.
        assert_eq!(sharpness(&img, 2.0).data[4], 220);
    }

    #[test]
    fn translations_move_content_by_whole_pixels() {
        let img = gray(2, 3, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(translate(&img, 1, 0, 0).data, vec![0, 1, 2, 0, 4, 5]);
        assert_eq!(translate(&img, -1, 0, 9).data, vec![2, 3, 9, 5, 6, 9]);
        assert_eq!(translate(&img, 0, 1, 0).data, vec![0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn shear_samples_at_pixel_centres() {
        // shear-x 0.5 on 4×4: output (x, y) samples floor(x + ½ + 0.5·(y + ½)).
        let img = gray(4, 4, &(0..16).collect::<Vec<u8>>());
        let out = shear_x(&img, 0.5, 99);
        for y in 0..4 {
            for x in 0..4 {
                let sx = (x as f64 + 0.5 + 0.5 * (y as f64 + 0.5)).floor() as usize;
                let want = if sx < 4 { (y * 4 + sx) as u8 } else { 99 };
                assert_eq!(out.data[y * 4 + x], want, "({y}, {x})");
            }
        }
        let out = shear_y(&img, -0.5, 99);
        for y in 0..4 {
            for x in 0..4 {
                let sy = (y as f64 + 0.5 - 0.5 * (x as f64 + 0.5)).floor();
                let want = if sy >= 0.0 { (sy as usize * 4 + x) as u8 } else { 99 };
                assert_eq!(out.data[y * 4 + x], want, "({y}, {x})");
            }
        }
    }

    #[test]
    fn rotation_is_counter_clockwise_about_the_centre() {
        // A single bright pixel right of the centre of a 9×9 image moves up under a
        // small counter-clockwise rotation, and a quarter turn is exact.
        let mut v = vec![0u8; 81];
        v[4 * 9 + 8] = 255;
        let img = gray(9, 9, &v);
        let q = rotate(&img, 90.0, 0);
        assert_eq!(q.data[4], 255, "quarter turn moves (4, 8) to (0, 4)");
        let r = rotate(&img, 20.0, 0);
        let (pos, _) = r.data.iter().enumerate().find(|(_, &p)| p == 255).unwrap();
        assert!(pos / 9 < 4 && pos % 9 >= 7, "{pos}");
        assert_eq!(rotate(&img, 0.0, 0), img);
        assert_eq!(rotate(&img, 360.0, 0), img);
    }

    #[test]
    fn magnitude_mapping_matches_torchvision_bins() {
        let op = |k, m| ImageOp::new(k, m, false);
        assert_eq!(op_argument(&op(Rotate, 30.0), 32, 32), 30.0);
        assert!((op_argument(&op(ShearX, 15.0), 32, 32) - 0.15).abs() < 1e-12);
        // 150/331·32·(9/30) = 4.35 → 4 pixels.
        assert_eq!(op_argument(&op(TranslateX, 9.0), 32, 32), 4.0);
        assert_eq!(op_argument(&ImageOp::new(TranslateX, 9.0, true), 32, 32), -4.0);
        // Posterize over the 31 bins: 8 − round(i/7.5) → 8 at 0, 4 at 30.
        let bits: Vec<f64> = (0..31).map(|i| op_argument(&op(Posterize, i as f32), 32, 32)).collect();
        assert_eq!((bits[0], bits[3], bits[4], bits[11], bits[12], bits[30]), (8.0, 8.0, 7.0, 7.0, 6.0, 4.0));
        assert_eq!(op_argument(&op(Solarize, 0.0), 32, 32), 255.0);
        assert_eq!(op_argument(&op(Brightness, 30.0), 32, 32), 1.9);
        assert!((op_argument(&ImageOp::new(Color, 10.0, true), 32, 32) - 0.7).abs() < 1e-12);
        // AutoAugment's level 9 is the maximum, level 0 is none.
        assert_eq!(autoaugment_level_to_magnitude(9), 30.0);
        assert_eq!(autoaugment_level_to_magnitude(0), 0.0);
        // Unsigned ops ignore the sign.
        assert!(!ImageOp::new(Solarize, 3.0, true).negative);
    }

    #[test]
    fn policies_sample_deterministically_and_within_their_spaces() {
        let ra = OpPolicy::RandAugment { n: 3, m: 12.0 };
        let aa = OpPolicy::AutoAugment { policy: AutoAugmentPolicy::Cifar10, magnitude: None };
        let mut kinds = std::collections::HashSet::new();
        let mut neg = 0;
        for i in 0..2000u64 {
            let ops = ra.sample(&mut rng_for(1, Stream::ImageOps, 0, i, 0));
            assert_eq!(ops, ra.sample(&mut rng_for(1, Stream::ImageOps, 0, i, 0)));
            assert_eq!(ops.len(), 3);
            for o in &ops {
                assert_ne!(o.kind, Invert);
                assert_eq!(o.magnitude, if o.kind.has_magnitude() { 12.0 } else { 0.0 });
                kinds.insert(o.kind);
                neg += o.negative as usize;
            }
            let a = aa.sample(&mut rng_for(1, Stream::ImageOps, 0, i, 0));
            assert!(a.len() <= 2);
        }
        assert_eq!(kinds.len(), 14, "every RandAugment op is drawn");
        assert!(neg > 0);
        // The magnitude override replaces every policy magnitude.
        let aa24 = OpPolicy::AutoAugment { policy: AutoAugmentPolicy::ImageNet, magnitude: Some(24.0) };
        for i in 0..200u64 {
            for o in aa24.sample(&mut rng_for(2, Stream::ImageOps, 0, i, 0)) {
                assert_eq!(o.magnitude, if o.kind.has_magnitude() { 24.0 } else { 0.0 });
            }
        }
    }
}
