//! Standard preprocessing (seed 000 §4.1, seed 003 §4): random crops, horizontal
//! flips, resizing, and per-channel normalisation.
//!
//! As everywhere in occlude, randomness is split from its use: [`Preprocess::sample`]
//! draws a [`CropParams`] (plain data, in source-image coordinates) and
//! [`Preprocess::apply`] turns an image and its parameters into a normalised `f32`
//! tensor. Keeping the parameters lets later stages map results back to the original
//! image (e.g. caching saliency in original-image coordinates).
//!
//! Normalisation maps pixel values to `(v/255 − mean_c)/std_c`, so after it an
//! occluded pixel filled with 0 has the dataset's mean colour (seed 000 §3).

use super::ImageU8;
use crate::rng::Rng;
use anyhow::{bail, Result};
use image::imageops::FilterType;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// Per-channel mean and standard deviation of pixel values scaled to `[0, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Fashion-MNIST training-set statistics.
    pub fn fashion_mnist() -> Self {
        Self { mean: vec![0.2860], std: vec![0.3530] }
    }
    /// CIFAR-10 training-set statistics.
    pub fn cifar10() -> Self {
        Self { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2470, 0.2435, 0.2616] }
    }
    /// CIFAR-100 training-set statistics.
    pub fn cifar100() -> Self {
        Self { mean: vec![0.5071, 0.4865, 0.4409], std: vec![0.2673, 0.2564, 0.2762] }
    }
    /// The ImageNet statistics used by torchvision.
    pub fn imagenet() -> Self {
        Self { mean: vec![0.485, 0.456, 0.406], std: vec![0.229, 0.224, 0.225] }
    }

    /// The normalised value of an 8-bit pixel of channel `c`.
    #[inline]
    pub fn apply(&self, c: usize, v: u8) -> f32 {
        (v as f32 / 255.0 - self.mean[c]) / self.std[c]
    }

    /// Normalises an 8-bit image (`C × H × W`) into `out`.
    pub fn normalize_into(&self, img: &ImageU8, out: &mut [f32]) {
        assert_eq!(out.len(), img.data.len(), "output buffer size");
        let plane = img.height * img.width;
        for c in 0..img.channels {
            let (m, s) = (self.mean[c], self.std[c]);
            for (o, &v) in out[c * plane..(c + 1) * plane].iter_mut().zip(&img.data[c * plane..(c + 1) * plane]) {
                *o = (v as f32 / 255.0 - m) / s;
            }
        }
    }

    /// Inverse of [`apply`](Self::apply), rounded and clamped to a byte (for previews).
    pub fn invert(&self, c: usize, x: f32) -> u8 {
        ((x * self.std[c] + self.mean[c]) * 255.0).round().clamp(0.0, 255.0) as u8
    }
}

/// How an image is cropped and resized to the network's input size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Crop {
    /// Use the image as is (all images must have the same size).
    None,
    /// CIFAR-style: zero-pad by `pad` pixels on each side, then take a random crop of
    /// the original size (torchvision `RandomCrop(size, padding=pad)`).
    PadCrop { pad: usize },
    /// ImageNet-style `RandomResizedCrop(size, scale, ratio)`: a random area fraction in
    /// `scale` and aspect ratio log-uniform in `ratio`, resized to `size×size`.
    RandomResizedCrop { size: usize, scale: [f32; 2], ratio: [f32; 2] },
    /// ImageNet evaluation: resize the shorter side to `resize`, centre-crop `crop×crop`.
    ResizeCenterCrop { resize: usize, crop: usize },
}

/// The parameters of one crop: the source window (in source-image pixels; it may
/// extend past the border for [`Crop::PadCrop`], where outside pixels are zero), the
/// output size and whether the result is mirrored left-right.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropParams {
    pub top: i64,
    pub left: i64,
    pub height: usize,
    pub width: usize,
    pub out_height: usize,
    pub out_width: usize,
    pub flip: bool,
}

/// A complete preprocessing recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub crop: Crop,
    /// Random horizontal flip with probability 1/2.
    pub flip: bool,
    pub normalization: Normalization,
}

impl Preprocess {
    /// The output size for source images of `height × width`.
    pub fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        match self.crop {
            Crop::None | Crop::PadCrop { .. } => (height, width),
            Crop::RandomResizedCrop { size, .. } => (size, size),
            Crop::ResizeCenterCrop { crop, .. } => (crop, crop),
        }
    }

    pub fn validate(&self, channels: usize) -> Result<()> {
        let n = &self.normalization;
        if n.mean.len() != channels || n.std.len() != channels {
            bail!(
                "normalization: {} means and {} stds for {channels}-channel images; expected {channels} of each",
                n.mean.len(),
                n.std.len()
            );
        }
        self.validate_values()
    }

    /// The checks that do not depend on the images: every number finite and in range.
    pub fn validate_values(&self) -> Result<()> {
        let n = &self.normalization;
        if n.mean.iter().any(|m| !m.is_finite()) {
            bail!("normalization.mean: every value must be finite, got {:?}", n.mean);
        }
        if n.std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            bail!("normalization.std: every value must be > 0, got {:?}", n.std);
        }
        match self.crop {
            Crop::RandomResizedCrop { size, scale, ratio } => {
                if size == 0 || !(0.0 < scale[0] && scale[0] <= scale[1] && scale[1] <= 1.0) {
                    bail!("random-resized-crop: need size > 0 and 0 < scale[0] <= scale[1] <= 1, got size {size}, scale {scale:?}");
                }
                if !(0.0 < ratio[0] && ratio[0] <= ratio[1] && ratio[1].is_finite()) {
                    bail!("random-resized-crop.ratio: need 0 < ratio[0] <= ratio[1], got {ratio:?}");
                }
            }
            Crop::ResizeCenterCrop { resize, crop } if crop == 0 || crop > resize => {
                bail!("resize-center-crop: need 0 < crop <= resize, got resize {resize}, crop {crop}");
            }
            _ => {}
        }
        Ok(())
    }

    /// Draws the crop and flip for an image of `height × width`.
    pub fn sample(&self, height: usize, width: usize, rng: &mut Rng) -> CropParams {
        let (h, w) = (height as i64, width as i64);
        let (top, left, ch, cw, oh, ow) = match self.crop {
            Crop::None => (0, 0, height, width, height, width),
            Crop::PadCrop { pad } => {
                let p = pad as i64;
                let top = rng.random_range(-p..=p);
                let left = rng.random_range(-p..=p);
                (top, left, height, width, height, width)
            }
            Crop::RandomResizedCrop { size, scale, ratio } => {
                let (t, l, ch, cw) = random_resized_window(height, width, scale, ratio, rng);
                (t, l, ch, cw, size, size)
            }
            Crop::ResizeCenterCrop { resize, crop } => {
                // Resize the shorter side to `resize`, then centre-crop `crop`:
                // expressed as one window in source coordinates.
                let short = h.min(w) as f64;
                let s = resize as f64 / short;
                let cs = (crop as f64 / s).round().max(1.0) as i64;
                let cs_h = cs.min(h);
                let cs_w = cs.min(w);
                let top = ((h - cs_h) as f64 / 2.0).round() as i64;
                let left = ((w - cs_w) as f64 / 2.0).round() as i64;
                (top, left, cs_h as usize, cs_w as usize, crop, crop)
            }
        };
        let flip = self.flip && rng.random_bool(0.5);
        CropParams { top, left, height: ch, width: cw, out_height: oh, out_width: ow, flip }
    }

    /// Crops, resizes, flips and normalises `img` into `out` (`C × out_h × out_w`).
    pub fn apply(&self, img: &ImageU8, p: &CropParams, out: &mut [f32]) {
        assert_eq!(out.len(), img.channels * p.out_height * p.out_width, "output buffer size");
        crop_pixels(img, p, |c, i, v| out[i] = self.normalization.apply(c, v));
    }

    /// Crops, resizes and flips `img` like [`apply`](Self::apply) but without
    /// normalising: the 8-bit image that image-level augmentations act on.
    /// `normalization.normalize_into(&crop_u8(img, p), out)` equals `apply(img, p, out)`.
    pub fn crop_u8(&self, img: &ImageU8, p: &CropParams) -> ImageU8 {
        let mut out = ImageU8::zeros(img.channels, p.out_height, p.out_width);
        crop_pixels(img, p, |_, i, v| out.data[i] = v);
        out
    }

    /// Samples and applies in one go; returns the parameters used.
    pub fn run(&self, img: &ImageU8, rng: &mut Rng, out: &mut [f32]) -> CropParams {
        let p = self.sample(img.height, img.width, rng);
        self.apply(img, &p, out);
        p
    }
}

/// torchvision's `RandomResizedCrop.get_params`: ten attempts at a window with area
/// fraction in `scale` and log-uniform aspect ratio in `ratio`, else a centre crop
/// with the ratio clamped into range. Returns `(top, left, height, width)`.
fn random_resized_window(
    height: usize,
    width: usize,
    scale: [f32; 2],
    ratio: [f32; 2],
    rng: &mut Rng,
) -> (i64, i64, usize, usize) {
    let area = (height * width) as f64;
    let (log_lo, log_hi) = ((ratio[0] as f64).ln(), (ratio[1] as f64).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale[0] as f64..=scale[1] as f64);
        let aspect = if log_hi > log_lo { rng.random_range(log_lo..log_hi) } else { log_lo }.exp();
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.random_range(0..=height - h) as i64;
            let left = rng.random_range(0..=width - w) as i64;
            return (top, left, h, w);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio[0] as f64 {
        (width, (width as f64 / ratio[0] as f64).round() as usize)
    } else if in_ratio > ratio[1] as f64 {
        ((height as f64 * ratio[1] as f64).round() as usize, height)
    } else {
        (width, height)
    };
    (((height - h) / 2) as i64, ((width - w) / 2) as i64, h, w)
}

/// The geometry shared by [`Preprocess::apply`] and [`Preprocess::crop_u8`]: calls
/// `put(channel, output index, value)` for every pixel of the `C × out_h × out_w`
/// output, with value 0 where the crop (padding) lies outside the image.
fn crop_pixels(img: &ImageU8, p: &CropParams, mut put: impl FnMut(usize, usize, u8)) {
    let (oh, ow) = (p.out_height, p.out_width);
    let resized;
    let (src, top, left) = if p.height == oh && p.width == ow {
        (img, p.top, p.left)
    } else {
        resized = crop_resize(img, p);
        (&resized, 0, 0)
    };
    for c in 0..img.channels {
        for y in 0..oh {
            let sy = top + y as i64;
            for x in 0..ow {
                let sx = left + if p.flip { (ow - 1 - x) as i64 } else { x as i64 };
                let v = if sy >= 0 && sx >= 0 && (sy as usize) < src.height && (sx as usize) < src.width {
                    src.at(c, sy as usize, sx as usize)
                } else {
                    0
                };
                put(c, (c * oh + y) * ow + x, v);
            }
        }
    }
}

/// Crops the window of `p` and resizes it to the output size with a triangle
/// (bilinear, antialiased when shrinking) filter, as PIL's BILINEAR resize does.
fn crop_resize(img: &ImageU8, p: &CropParams) -> ImageU8 {
    let (h, w) = (img.height, img.width);
    let mut out = ImageU8::zeros(img.channels, p.out_height, p.out_width);
    // One channel at a time through a Luma buffer keeps this generic in C.
    for c in 0..img.channels {
        let plane = &img.data[c * h * w..(c + 1) * h * w];
        let buf = image::GrayImage::from_raw(w as u32, h as u32, plane.to_vec()).expect("plane size matches");
        let cropped =
            image::imageops::crop_imm(&buf, p.left.max(0) as u32, p.top.max(0) as u32, p.width as u32, p.height as u32)
                .to_image();
        let resized = image::imageops::resize(&cropped, p.out_width as u32, p.out_height as u32, FilterType::Triangle);
        let n = p.out_height * p.out_width;
        out.data[c * n..(c + 1) * n].copy_from_slice(resized.as_raw());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{rng_for, Stream};

    fn ramp(c: usize, h: usize, w: usize) -> ImageU8 {
        ImageU8::new(c, h, w, (0..c * h * w).map(|i| (i % 251) as u8).collect())
    }

    fn identity_norm(c: usize) -> Normalization {
        Normalization { mean: vec![0.0; c], std: vec![1.0 / 255.0; c] }
    }

    #[test]
    fn normalisation_maps_the_mean_to_zero() {
        let n = Normalization::cifar10();
        let v = (n.mean[1] * 255.0).round() as u8;
        assert!(n.apply(1, v).abs() < 0.01);
        assert_eq!(n.invert(1, n.apply(1, 200)), 200);
    }

    #[test]
    fn pad_crop_shifts_within_pad_and_zero_fills() {
        let img = ramp(1, 8, 8);
        let pre = Preprocess { crop: Crop::PadCrop { pad: 4 }, flip: false, normalization: identity_norm(1) };
        let mut seen_shifts = std::collections::HashSet::new();
        for i in 0..400 {
            let mut rng = rng_for(1, Stream::Preprocess, 0, i, 0);
            let mut out = vec![0.0; 64];
            let p = pre.run(&img, &mut rng, &mut out);
            assert!((-4..=4).contains(&p.top) && (-4..=4).contains(&p.left));
            seen_shifts.insert((p.top, p.left));
            for y in 0..8i64 {
                for x in 0..8i64 {
                    let (sy, sx) = (p.top + y, p.left + x);
                    let want = if (0..8).contains(&sy) && (0..8).contains(&sx) {
                        img.at(0, sy as usize, sx as usize)
                    } else {
                        0
                    };
                    assert_eq!(out[(y * 8 + x) as usize].round() as u8, want);
                }
            }
        }
        // Every one of the 81 offsets is reachable (no off-by-one at the extremes).
        assert_eq!(seen_shifts.len(), 81);
    }

    #[test]
    fn flip_mirrors_columns_and_happens_half_the_time() {
        let img = ramp(3, 4, 5);
        let pre = Preprocess { crop: Crop::None, flip: true, normalization: identity_norm(3) };
        let mut flips = 0;
        for i in 0..2000 {
            let mut rng = rng_for(2, Stream::Preprocess, 0, i, 0);
            let mut out = vec![0.0; 60];
            let p = pre.run(&img, &mut rng, &mut out);
            flips += p.flip as usize;
            let x = if p.flip { 4 } else { 0 };
            assert_eq!(out[(2 * 4 + 1) * 5].round() as u8, img.at(2, 1, x));
        }
        // Binomial(2000, 1/2): 4σ ≈ 89.
        assert!((flips as i64 - 1000).abs() < 90, "{flips}");
    }

    #[test]
    fn random_resized_crop_windows_respect_scale_and_ratio() {
        let pre = Preprocess {
            crop: Crop::RandomResizedCrop { size: 24, scale: [0.08, 1.0], ratio: [0.75, 4.0 / 3.0] },
            flip: false,
            normalization: identity_norm(3),
        };
        let img = ramp(3, 60, 80);
        for i in 0..300 {
            let mut rng = rng_for(3, Stream::Preprocess, 0, i, 0);
            let p = pre.sample(60, 80, &mut rng);
            assert!(p.top >= 0 && p.left >= 0);
            assert!(p.top as usize + p.height <= 60 && p.left as usize + p.width <= 80);
            let frac = (p.height * p.width) as f64 / 4800.0;
            assert!(frac > 0.07 && frac <= 1.0, "{frac}");
            let mut out = vec![0.0; 3 * 24 * 24];
            pre.apply(&img, &p, &mut out);
        }
    }

    #[test]
    fn crop_u8_then_normalising_equals_apply() {
        let img = ramp(3, 20, 30);
        let n = Normalization::cifar10();
        for crop in [
            Crop::PadCrop { pad: 4 },
            Crop::RandomResizedCrop { size: 12, scale: [0.2, 1.0], ratio: [0.75, 1.33] },
            Crop::None,
        ] {
            let pre = Preprocess { crop, flip: true, normalization: n.clone() };
            for i in 0..20 {
                let p = pre.sample(20, 30, &mut rng_for(5, Stream::Preprocess, 0, i, 0));
                let len = 3 * p.out_height * p.out_width;
                let (mut a, mut b) = (vec![0.0; len], vec![0.0; len]);
                pre.apply(&img, &p, &mut a);
                n.normalize_into(&pre.crop_u8(&img, &p), &mut b);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn resize_center_crop_is_centred_and_deterministic() {
        let pre = Preprocess {
            crop: Crop::ResizeCenterCrop { resize: 256, crop: 224 },
            flip: false,
            normalization: identity_norm(3),
        };
        let mut rng = rng_for(0, Stream::Preprocess, 0, 0, 0);
        let p = pre.sample(512, 1024, &mut rng);
        // Scale 0.5: a 448×448 window centred in the 512×1024 image.
        assert_eq!((p.height, p.width, p.top, p.left), (448, 448, 32, 288));
        assert_eq!((p.out_height, p.out_width), (224, 224));
        // A constant image stays constant through the resize.
        let img = ImageU8::new(3, 512, 1024, vec![77; 3 * 512 * 1024]);
        let mut out = vec![0.0; 3 * 224 * 224];
        pre.apply(&img, &p, &mut out);
        assert!(out.iter().all(|&v| v.round() as u8 == 77));
    }
}
