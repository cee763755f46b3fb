//! Value checks of a method: ranges, and sizes against the images.

use super::{default_side, MethodSpec};
use anyhow::{bail, Result};

impl MethodSpec {
    /// Checks value ranges (everything that does not depend on the image size).
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        let prob = |k: &str, p: f64| {
            if !(0.0..=1.0).contains(&p) {
                bail!("{name}: {k} must be in [0, 1], got {p}");
            }
            Ok(())
        };
        let magnitude = |m: f32| {
            if !(0.0..=30.0).contains(&m) {
                bail!("{name}: m must be in [0, 30] (the 0–30 magnitude scale; the RandAugment paper's M on 0–10 is m = 3·M), got {m}");
            }
            Ok(())
        };
        match *self {
            Self::Cutout { n, s, .. } => {
                if n == 0 {
                    bail!("cutout: n (number of squares) must be at least 1, got 0");
                }
                if s == Some(0) {
                    bail!("cutout: s (side of the squares) must be at least 1 pixel, got 0");
                }
            }
            Self::HideAndSeek { g, p_keep_patch, .. } => {
                if g == 0 {
                    bail!("hide-and-seek: g (grid cells per side) must be at least 1, got 0");
                }
                prob("p_keep_patch", p_keep_patch)?;
            }
            Self::RandomErasing { p, sl, sh, r1, r2, attempts, .. } => {
                prob("p", p)?;
                if !(0.0 < sl && sl <= sh && sh <= 1.0) {
                    bail!("random-erasing: need 0 < sl <= sh <= 1 (area fractions), got sl={sl}, sh={sh}");
                }
                if !(0.0 < r1 && r1 <= r2 && r2.is_finite()) {
                    bail!("random-erasing: need 0 < r1 <= r2 (aspect ratios), got r1={r1}, r2={r2}");
                }
                if attempts == 0 {
                    bail!("random-erasing: attempts must be at least 1, got 0");
                }
            }
            Self::CutMix { alpha } => {
                if !(alpha > 0.0 && alpha.is_finite()) {
                    bail!("cutmix: alpha (of Beta(alpha, alpha)) must be > 0, got {alpha}");
                }
            }
            Self::GridMask { d1, d2, r, .. } => {
                if !(2 <= d1 && d1 <= d2) {
                    bail!("gridmask: need 2 <= d1 <= d2 (unit sizes in pixels), got d1={d1}, d2={d2}");
                }
                if !(0.0 < r && r < 1.0) {
                    bail!("gridmask: r (kept ratio of a unit's side) must be in (0, 1), got {r}");
                }
            }
            Self::AutoAugment { m, .. } => {
                if let Some(m) = m {
                    magnitude(m)?;
                }
            }
            Self::RandAugment { n, m, .. } => {
                if n == 0 || n > 30 {
                    bail!("randaugment: n (ops per image) must be in 1..=30, got {n}");
                }
                magnitude(m)?;
            }
            Self::SelectiveCut { ref base, tau, .. } => {
                base.validate()?;
                prob("tau", tau)?;
            }
            Self::SelectivePaste { s, tau, .. } => {
                if s == Some(0) {
                    bail!("selective-paste: s (side of the pasted-back region) must be at least 1 pixel, got 0");
                }
                prob("tau", tau)?;
            }
            Self::SaliencyOcclusion { n, s, t, .. } => {
                if n == 0 {
                    bail!("saliency-occlusion: n (number of squares) must be at least 1, got 0");
                }
                if s == Some(0) {
                    bail!("saliency-occlusion: s (side of the squares) must be at least 1 pixel, got 0");
                }
                if t == 0 {
                    bail!("saliency-occlusion: t (stride of the box filter) must be at least 1, got 0");
                }
            }
        }
        Ok(())
    }

    /// Checks the method against the size of the (preprocessed) images: a size given
    /// that does not fit is an error naming the method and the key. Sizes left to
    /// their defaults always fit.
    pub fn check_image_size(&self, height: usize, width: usize) -> Result<()> {
        let name = self.name();
        let side = |key: &str, s: usize| {
            if s > height || s > width {
                bail!(
                    "{name}: {key}={s} is larger than the {height}×{width} images; expected {key} <= {} (or leave {key} out: {} at this size)",
                    height.min(width),
                    default_side(height, width)
                );
            }
            Ok(())
        };
        match *self {
            Self::SelectiveCut { ref base, .. } => match **base {
                Self::Cutout { s: Some(s), .. } => side("s", s),
                _ => base.check_image_size(height, width),
            },
            Self::SelectivePaste { s: Some(s), .. } | Self::Cutout { s: Some(s), .. } => side("s", s),
            Self::SaliencyOcclusion { s: Some(s), .. } if s > height || s > width => {
                bail!(
                    "saliency-occlusion: s={s} is larger than the {height}×{width} images; expected s <= {} (or leave s out: 56 at 224 px, scaled)",
                    height.min(width)
                )
            }
            Self::HideAndSeek { g, .. } if g > height || g > width => {
                bail!(
                    "hide-and-seek: g={g} gives empty cells on {height}×{width} images; expected g <= {}",
                    height.min(width)
                )
            }
            Self::GridMask { d2, .. } if d2 > height.max(width) => {
                bail!(
                    "gridmask: d2={d2} is larger than the {height}×{width} images; expected d2 <= {}",
                    height.max(width)
                )
            }
            _ => Ok(()),
        }
    }
}
