//! The augmentation spec syntax shared by TOML (`augment.method`) and the command
//! line (`--augment`).
//!
//! ```text
//! spec    := "none" | method ("+" method)?
//! method  := name (":" key "=" value ("," key "=" value)*)?
//! ```
//!
//! | method | keys (defaults) |
//! |---|---|
//! | `cutout` | `n` (1) squares of side `s` (required), `fill` (zero) |
//! | `hide-and-seek` | `g` (4), `p_keep_patch` (0.5), `fill` (zero) |
//! | `random-erasing` | `p` (0.5), `sl` (0.02), `sh` (0.4), `r1` (0.3), `r2` (3.3), `attempts` (10), `fill` (random) |
//! | `cutmix` | `alpha` (1.0) |
//! | `gridmask` | `d1`, `d2` (required), `r` (0.6), `fill` (zero) |
//! | `autoaugment` | `policy` (imagenet \| cifar10), `m` (the policy's own magnitudes), `fill` (0) |
//! | `randaugment` | `n` (2), `m` (9), `fill` (0) |
//! | `keep-cutout`, `keep-random-erasing`, `keep-cutmix` | the base method's keys, `tau` (0.6), `saliency` (vanilla) |
//! | `keep-autoaugment`, `keep-randaugment` | the base method's keys, `s` (16), `tau` (0.6), `saliency` (vanilla) |
//! | `selective-paste` (after an image-level method) | `s` (required), `tau` (0.6), `saliency` (vanilla) |
//! | `saliency-occlusion` | `n` (1), `s` (56 at 224 px, scaled), `t` (1), `jitter` (16 at 224 px, scaled), `fill` (zero), `saliency` (gradxact:layer3.0.conv1) |
//!
//! `saliency` is any [`SaliencyMethod`]: `vanilla`, `low-res`, `early-loss` or
//! `gradxact:<layer>`. `keep-randaugment:n=2,m=9,s=16` is shorthand for
//! `randaugment:n=2,m=9+selective-paste:s=16`.
//!
//! `fill` of the occlusion methods is `zero` (the mean colour: 0 after
//! normalisation), `random` (per-pixel N(0, 1) after normalisation) or a number (that
//! constant after normalisation). `fill` of AutoAugment/RandAugment is the 8-bit grey
//! level shown where a rotation, shear or translation uncovers the image
//! (torchvision's `fill`, 0 by default). Magnitudes `m` are on the 0–30 scale of
//! [`super::ops::op_argument`]; the RandAugment paper's 0–10 scale maps to it as
//! `m = 3·M`.
//!
//! One image-level method may be followed by one region-level method, e.g.
//! `autoaugment:policy=cifar10+cutout:n=1,s=16` (AutoAugment's CIFAR recipe).
//! Examples: `cutout:n=6,s=56`, `hide-and-seek:g=4,p_keep_patch=0.5`,
//! `randaugment:n=2,m=9`.

use super::ops::AutoAugmentPolicy;
use crate::saliency::SaliencyMethod;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt;

/// How occluded pixels are filled (the spec; the per-image [`super::params::Fill`]
/// adds the noise seed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FillSpec {
    Zero,
    Random,
    Constant(f32),
}

impl FillSpec {
    fn parse(key: &str, v: &str) -> Result<Self> {
        Ok(match v {
            "zero" | "mean" => Self::Zero,
            "random" | "noise" => Self::Random,
            _ => match v.parse::<f32>() {
                Ok(c) if c.is_finite() => Self::Constant(c),
                _ => bail!("{key}: expected zero, random or a number, got {v:?}"),
            },
        })
    }
}

impl fmt::Display for FillSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero => write!(f, "zero"),
            Self::Random => write!(f, "random"),
            Self::Constant(c) => write!(f, "{c}"),
        }
    }
}

/// One augmentation method with its hyper-parameters, validated.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodSpec {
    /// Cutout (DeVries & Taylor; seed 000 §3): `n` squares of side `s`, centres
    /// uniform over the image, clipped at the border.
    Cutout { n: usize, s: usize, fill: FillSpec },
    /// Hide-and-Seek (seed 000 §3): a `g × g` grid, each cell kept with `p_keep_patch`.
    HideAndSeek { g: usize, p_keep_patch: f64, fill: FillSpec },
    /// Random Erasing (Zhong et al.): with probability `p`, one rectangle of area
    /// fraction in `[sl, sh]` and aspect ratio log-uniform in `[r1, r2]`, at most
    /// `attempts` tries.
    RandomErasing { p: f64, sl: f64, sh: f64, r1: f64, r2: f64, attempts: usize, fill: FillSpec },
    /// CutMix (Yun et al.): λ ~ Beta(α, α), a box of area `(1 − λ)·HW` from a partner.
    CutMix { alpha: f64 },
    /// GridMask (Chen et al.): unit `d ∈ [d1, d2]`, kept band ratio `r`, random offsets.
    GridMask { d1: usize, d2: usize, r: f64, fill: FillSpec },
    /// AutoAugment (Cubuk et al. 2019) with a learned policy; `m` replaces every op's
    /// magnitude (seed 003 Table 3 varies it over 6, 12, 18, 24).
    AutoAugment { policy: AutoAugmentPolicy, m: Option<f32>, fill: u8 },
    /// RandAugment (Cubuk et al. 2020): `n` uniformly drawn ops at magnitude `m`.
    RandAugment { n: usize, m: f32, fill: u8 },
    /// Selective-Cut (seed 003 Alg. 1a): `base` (Cutout, Random Erasing or CutMix)
    /// with every cut region drawn among the candidates whose saliency is below the
    /// `tau`-quantile of all candidates' scores. Spelled `keep-cutout`,
    /// `keep-random-erasing`, `keep-cutmix`.
    SelectiveCut { base: Box<MethodSpec>, tau: f64, saliency: SaliencyMethod },
    /// Selective-Paste (seed 003 Alg. 1b): after an image-level method, an `s × s`
    /// region drawn among the candidates whose saliency is above the `tau`-quantile is
    /// pasted back from the clean image. Spelled `selective-paste` after
    /// `autoaugment`/`randaugment`, or `keep-autoaugment` / `keep-randaugment`.
    SelectivePaste { s: usize, tau: f64, saliency: SaliencyMethod },
    /// Saliency-max occlusion (seed 000 §3, Fig. 3): `n` squares of side `s` at the
    /// maxima of the box-filtered saliency map (stride `t`), each jittered by up to
    /// `jitter` pixels per axis and kept inside the image. `s` and `jitter` default to
    /// the paper's 56 and 16 at 224 px, scaled to the image size.
    SaliencyOcclusion {
        n: usize,
        s: Option<usize>,
        t: usize,
        jitter: Option<usize>,
        fill: FillSpec,
        saliency: SaliencyMethod,
    },
}

/// The method names, for error messages and `--help`.
pub const METHOD_NAMES: &str = "none, cutout, hide-and-seek, random-erasing, cutmix, gridmask, autoaugment, randaugment, \
     keep-cutout, keep-random-erasing, keep-cutmix, keep-autoaugment, keep-randaugment, selective-paste, saliency-occlusion";

/// The saliency of the guided methods when `saliency=` is not given: the vanilla
/// gradient of seed 003.
pub const DEFAULT_KEEP_SALIENCY: &str = "vanilla";
/// Seed 000 §4.4 and Fig. 4 take grad×act at ResNet's `layer3.0.conv1`.
pub const DEFAULT_OCCLUSION_SALIENCY: &str = "gradxact:layer3.0.conv1";
/// seed 003 §4: "We set τ to 0.6 for all our experiments".
pub const DEFAULT_TAU: f64 = 0.6;

impl MethodSpec {
    /// `true` for AutoAugment / RandAugment, which act on 8-bit images in the loader.
    pub fn is_image_level(&self) -> bool {
        matches!(self, Self::AutoAugment { .. } | Self::RandAugment { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Cutout { .. } => "cutout",
            Self::HideAndSeek { .. } => "hide-and-seek",
            Self::RandomErasing { .. } => "random-erasing",
            Self::CutMix { .. } => "cutmix",
            Self::GridMask { .. } => "gridmask",
            Self::AutoAugment { .. } => "autoaugment",
            Self::RandAugment { .. } => "randaugment",
            Self::SelectiveCut { base, .. } => match **base {
                Self::Cutout { .. } => "keep-cutout",
                Self::RandomErasing { .. } => "keep-random-erasing",
                _ => "keep-cutmix",
            },
            Self::SelectivePaste { .. } => "selective-paste",
            Self::SaliencyOcclusion { .. } => "saliency-occlusion",
        }
    }

    /// The saliency map the method's sampler needs, if any.
    pub fn saliency(&self) -> Option<&SaliencyMethod> {
        match self {
            Self::SelectiveCut { saliency, .. }
            | Self::SelectivePaste { saliency, .. }
            | Self::SaliencyOcclusion { saliency, .. } => Some(saliency),
            _ => None,
        }
    }

    /// Parses one `name:key=value,…` method.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let (name, args) = match text.split_once(':') {
            Some((n, a)) => (n.trim(), a.trim()),
            None => (text, ""),
        };
        let name = name.to_lowercase().replace('_', "-");
        let mut kv = Args::parse(&name, args)?;
        if let Some(base) = name.strip_prefix("keep-") {
            if matches!(base, "autoaugment" | "randaugment" | "auto-augment" | "rand-augment") {
                bail!("{name} is an image-level method plus selective-paste; write it as the whole spec, e.g. keep-randaugment:n=2,m=9,s=16");
            }
            let tau = kv.f64("tau", Some(DEFAULT_TAU))?;
            let saliency = kv.saliency(DEFAULT_KEEP_SALIENCY)?;
            let base = Self::parse_named(base, kv)?;
            if !matches!(base, Self::Cutout { .. } | Self::RandomErasing { .. } | Self::CutMix { .. }) {
                bail!("{name}: selective-cut applies to cutout, random-erasing and cutmix");
            }
            let m = Self::SelectiveCut { base: Box::new(base), tau, saliency };
            m.validate()?;
            return Ok(m);
        }
        Self::parse_named(&name, kv)
    }

    /// Parses method `name` from its remaining `key=value` pairs.
    fn parse_named(name: &str, mut kv: Args) -> Result<Self> {
        let m = match name {
            "cutout" => {
                let n = kv.usize("n", Some(1))?;
                let s = kv.usize("s", None).context("cutout: s (the side of the squares, in pixels) is required, e.g. cutout:n=1,s=16")?;
                let fill = kv.fill("fill", FillSpec::Zero)?;
                Self::Cutout { n, s, fill }
            }
            "hide-and-seek" | "hideandseek" | "has" => Self::HideAndSeek {
                g: kv.usize("g", Some(4))?,
                p_keep_patch: kv.f64("p_keep_patch", Some(0.5))?,
                fill: kv.fill("fill", FillSpec::Zero)?,
            },
            "random-erasing" | "randomerasing" | "re" => Self::RandomErasing {
                p: kv.f64("p", Some(0.5))?,
                sl: kv.f64("sl", Some(0.02))?,
                sh: kv.f64("sh", Some(0.4))?,
                r1: kv.f64("r1", Some(0.3))?,
                r2: kv.f64("r2", Some(3.3))?,
                attempts: kv.usize("attempts", Some(10))?,
                fill: kv.fill("fill", FillSpec::Random)?,
            },
            "cutmix" => Self::CutMix { alpha: kv.f64("alpha", Some(1.0))? },
            "gridmask" | "grid-mask" => Self::GridMask {
                d1: kv.usize("d1", None).context("gridmask: d1 and d2 (the unit size range, in pixels) are required, e.g. gridmask:d1=96,d2=224,r=0.6")?,
                d2: kv.usize("d2", None).context("gridmask: d2 (the largest unit, in pixels) is required")?,
                r: kv.f64("r", Some(0.6))?,
                fill: kv.fill("fill", FillSpec::Zero)?,
            },
            "autoaugment" | "auto-augment" | "aa" => {
                let policy = match kv.take("policy").as_deref() {
                    None | Some("imagenet") => AutoAugmentPolicy::ImageNet,
                    Some("cifar10") | Some("cifar") => AutoAugmentPolicy::Cifar10,
                    Some(other) => bail!("autoaugment: policy {other:?} is unknown; expected imagenet or cifar10"),
                };
                let m = if kv.has("m") { Some(kv.f64("m", None)? as f32) } else { None };
                Self::AutoAugment { policy, m, fill: kv.u8("fill", 0)? }
            }
            "randaugment" | "rand-augment" | "ra" => {
                Self::RandAugment { n: kv.usize("n", Some(2))?, m: kv.f64("m", Some(9.0))? as f32, fill: kv.u8("fill", 0)? }
            }
            "selective-paste" | "keep-paste" => Self::SelectivePaste {
                s: kv.usize("s", None).context("selective-paste: s (side of the pasted-back region) is required, e.g. s=16 on 32 px images, s=40 on 224 px")?,
                tau: kv.f64("tau", Some(DEFAULT_TAU))?,
                saliency: kv.saliency(DEFAULT_KEEP_SALIENCY)?,
            },
            "saliency-occlusion" | "saliency-max" => Self::SaliencyOcclusion {
                n: kv.usize("n", Some(1))?,
                s: if kv.has("s") { Some(kv.usize("s", None)?) } else { None },
                t: kv.usize("t", Some(1))?,
                jitter: if kv.has("jitter") { Some(kv.usize("jitter", None)?) } else { None },
                fill: kv.fill("fill", FillSpec::Zero)?,
                saliency: kv.saliency(DEFAULT_OCCLUSION_SALIENCY)?,
            },
            "none" => bail!("none cannot be combined with another method"),
            _ => bail!("unknown augmentation {name:?}; expected one of {METHOD_NAMES}"),
        };
        kv.finish()?;
        m.validate()?;
        Ok(m)
    }

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
                if s == 0 {
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
                if s == 0 {
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

    /// Checks the method against the size of the (preprocessed) images.
    pub fn check_image_size(&self, height: usize, width: usize) -> Result<()> {
        match *self {
            Self::SelectiveCut { ref base, .. } => base.check_image_size(height, width),
            Self::SelectivePaste { s, .. } if s > height || s > width => {
                bail!(
                    "selective-paste: s={s} is larger than the {height}×{width} images; expected s <= {}",
                    height.min(width)
                )
            }
            Self::SaliencyOcclusion { s: Some(s), .. } if s > height || s > width => {
                bail!(
                    "saliency-occlusion: s={s} is larger than the {height}×{width} images; expected s <= {}",
                    height.min(width)
                )
            }
            Self::Cutout { s, .. } if s > height || s > width => {
                bail!("cutout: s={s} is larger than the {height}×{width} images; expected s <= {}", height.min(width))
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

impl fmt::Display for MethodSpec {
    /// The canonical form, with every key spelled out; it parses back to `self`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cutout { n, s, fill } => write!(f, "cutout:n={n},s={s},fill={fill}"),
            Self::HideAndSeek { g, p_keep_patch, fill } => {
                write!(f, "hide-and-seek:g={g},p_keep_patch={p_keep_patch},fill={fill}")
            }
            Self::RandomErasing { p, sl, sh, r1, r2, attempts, fill } => {
                write!(f, "random-erasing:p={p},sl={sl},sh={sh},r1={r1},r2={r2},attempts={attempts},fill={fill}")
            }
            Self::CutMix { alpha } => write!(f, "cutmix:alpha={alpha}"),
            Self::GridMask { d1, d2, r, fill } => write!(f, "gridmask:d1={d1},d2={d2},r={r},fill={fill}"),
            Self::AutoAugment { policy, m, fill } => {
                write!(f, "autoaugment:policy={}", policy.name())?;
                if let Some(m) = m {
                    write!(f, ",m={m}")?;
                }
                write!(f, ",fill={fill}")
            }
            Self::RandAugment { n, m, fill } => write!(f, "randaugment:n={n},m={m},fill={fill}"),
            Self::SelectiveCut { base, tau, saliency } => write!(f, "keep-{base},tau={tau},saliency={saliency}"),
            Self::SelectivePaste { s, tau, saliency } => {
                write!(f, "selective-paste:s={s},tau={tau},saliency={saliency}")
            }
            Self::SaliencyOcclusion { n, s, t, jitter, fill, saliency } => {
                write!(f, "saliency-occlusion:n={n}")?;
                if let Some(s) = s {
                    write!(f, ",s={s}")?;
                }
                write!(f, ",t={t}")?;
                if let Some(j) = jitter {
                    write!(f, ",jitter={j}")?;
                }
                write!(f, ",fill={fill},saliency={saliency}")
            }
        }
    }
}

/// A whole augmentation: at most one image-level method (applied first, in the
/// loader) and at most one region-level method (applied to the batch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AugmentSpec {
    pub image: Option<MethodSpec>,
    pub region: Option<MethodSpec>,
}

impl AugmentSpec {
    /// Parses `none`, one method, or `image-method+region-method`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            bail!("empty augmentation spec; expected none or one of {METHOD_NAMES}, e.g. cutout:n=1,s=16");
        }
        if text == "none" {
            return Ok(Self::default());
        }
        let mut spec = Self::default();
        let mut methods = Vec::new();
        for part in text.split('+') {
            let parsed = match keep_image_level(part)? {
                Some((image, paste)) => vec![image, paste],
                None => vec![MethodSpec::parse(part).with_context(|| format!("in {:?}", part.trim()))?],
            };
            methods.extend(parsed);
        }
        for m in methods {
            if m.is_image_level() && spec.region.is_some() {
                bail!("{text:?}: the image-level method must come first (it is applied first), e.g. randaugment:n=2,m=9+cutout:n=1,s=16");
            }
            let slot = if m.is_image_level() { &mut spec.image } else { &mut spec.region };
            if let Some(prev) = slot {
                bail!(
                    "{text:?} combines {} and {}; at most one image-level (autoaugment, randaugment) and one region-level method",
                    prev.name(),
                    m.name()
                );
            }
            *slot = Some(m);
        }
        if matches!(spec.region, Some(MethodSpec::SelectivePaste { .. })) && spec.image.is_none() {
            bail!("{text:?}: selective-paste pastes regions back after an image-level method; put autoaugment or randaugment first, e.g. randaugment:n=2,m=9+selective-paste:s=16");
        }
        Ok(spec)
    }

    /// The saliency map the region-level method needs, if any.
    pub fn saliency(&self) -> Option<&SaliencyMethod> {
        self.region.as_ref().and_then(MethodSpec::saliency)
    }

    pub fn is_none(&self) -> bool {
        self.image.is_none() && self.region.is_none()
    }

    pub fn check_image_size(&self, height: usize, width: usize) -> Result<()> {
        for m in self.image.iter().chain(&self.region) {
            m.check_image_size(height, width)?;
        }
        Ok(())
    }
}

/// Expands `keep-autoaugment:…` / `keep-randaugment:…` (seed 003's KeepAutoAugment
/// and KeepRandAugment) into the image-level method and its selective-paste: the keys
/// `s`, `tau` and `saliency` go to selective-paste (`s` defaults to 16, the paper's
/// CIFAR paste-back length), the others to the image-level method.
fn keep_image_level(part: &str) -> Result<Option<(MethodSpec, MethodSpec)>> {
    let part = part.trim();
    let (name, args) = part.split_once(':').unwrap_or((part, ""));
    let name = name.trim().to_lowercase().replace('_', "-");
    let image_name = match name.as_str() {
        "keep-autoaugment" | "keep-auto-augment" => "autoaugment",
        "keep-randaugment" | "keep-rand-augment" => "randaugment",
        _ => return Ok(None),
    };
    let (mut paste_args, mut image_args, mut has_side) = (vec![], vec![], false);
    for pair in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k).trim();
        has_side |= key == "s";
        if matches!(key, "s" | "tau" | "saliency") {
            paste_args.push(pair);
        } else {
            image_args.push(pair);
        }
    }
    if !has_side {
        paste_args.push("s=16");
    }
    let image =
        MethodSpec::parse(&format!("{image_name}:{}", image_args.join(","))).with_context(|| format!("in {part:?}"))?;
    let paste = MethodSpec::parse(&format!("selective-paste:{}", paste_args.join(",")))
        .with_context(|| format!("in {part:?}"))?;
    Ok(Some((image, paste)))
}

impl fmt::Display for AugmentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.image, &self.region) {
            (None, None) => write!(f, "none"),
            (Some(a), None) | (None, Some(a)) => write!(f, "{a}"),
            (Some(a), Some(b)) => write!(f, "{a}+{b}"),
        }
    }
}

impl std::str::FromStr for AugmentSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// `key=value` pairs of one method, consumed as they are read so that unknown keys
/// can be reported.
struct Args {
    method: String,
    map: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Args {
    fn parse(method: &str, args: &str) -> Result<Self> {
        let mut map = BTreeMap::new();
        for pair in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) =
                pair.split_once('=').with_context(|| format!("{method}: {pair:?} is not key=value, e.g. n=2"))?;
            let k = k.trim().to_lowercase().replace('-', "_");
            if map.insert(k.clone(), v.trim().to_string()).is_some() {
                bail!("{method}: {k} is given twice");
            }
        }
        Ok(Self { method: method.to_string(), map, known: Vec::new() })
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn take(&mut self, key: &'static str) -> Option<String> {
        self.known.push(key);
        self.map.remove(key)
    }

    fn get<T: std::str::FromStr>(&mut self, key: &'static str, default: Option<T>, what: &str) -> Result<T> {
        match self.take(key) {
            Some(v) => v.parse::<T>().map_err(|_| anyhow::anyhow!("{}: {key} must be {what}, got {v:?}", self.method)),
            None => default.with_context(|| format!("{}: {key} is required", self.method)),
        }
    }

    fn usize(&mut self, key: &'static str, default: Option<usize>) -> Result<usize> {
        self.get(key, default, "a non-negative integer")
    }

    fn f64(&mut self, key: &'static str, default: Option<f64>) -> Result<f64> {
        let v: f64 = self.get(key, default, "a number")?;
        if !v.is_finite() {
            bail!("{}: {key} must be a finite number, got {v}", self.method);
        }
        Ok(v)
    }

    fn u8(&mut self, key: &'static str, default: u8) -> Result<u8> {
        self.get(key, Some(default), "an 8-bit grey level 0..=255")
    }

    fn fill(&mut self, key: &'static str, default: FillSpec) -> Result<FillSpec> {
        match self.take(key) {
            Some(v) => FillSpec::parse(&format!("{}: {key}", self.method), &v),
            None => Ok(default),
        }
    }

    fn saliency(&mut self, default: &str) -> Result<SaliencyMethod> {
        let text = self.take("saliency").unwrap_or_else(|| default.to_string());
        SaliencyMethod::parse(&text).with_context(|| format!("{}: saliency", self.method))
    }

    fn finish(self) -> Result<()> {
        if let Some(k) = self.map.keys().next() {
            bail!("{}: unknown key {k:?}; expected {}", self.method, self.known.join(", "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_parse_and_print_back() {
        for s in [
            "cutout:n=6,s=56",
            "hide-and-seek:g=4,p_keep_patch=0.5",
            "randaugment:n=2,m=9",
            "random-erasing:p=0.5,fill=0.25",
            "cutmix:alpha=1",
            "gridmask:d1=96,d2=224,r=0.6",
            "autoaugment:policy=cifar10,m=24",
            "autoaugment:policy=cifar10+cutout:n=1,s=16",
            "keep-cutout:n=1,s=16",
            "keep-cutout:s=16,tau=0.4,saliency=low-res",
            "keep-random-erasing:p=0.5",
            "keep-cutmix:alpha=1,saliency=early-loss",
            "keep-randaugment:n=2,m=9,s=16",
            "keep-autoaugment:policy=cifar10,tau=0.6,saliency=vanilla",
            "randaugment:n=3,m=15+selective-paste:s=8",
            "saliency-occlusion:s=56,jitter=16,saliency=gradxact:layer3.0.conv1",
            "saliency-occlusion",
        ] {
            let spec = AugmentSpec::parse(s).unwrap();
            let again = AugmentSpec::parse(&spec.to_string()).unwrap();
            assert_eq!(spec, again, "{s} -> {spec}");
        }
        assert_eq!(
            AugmentSpec::parse("cutout:n=6,s=56").unwrap().region,
            Some(MethodSpec::Cutout { n: 6, s: 56, fill: FillSpec::Zero })
        );
        assert!(AugmentSpec::parse("none").unwrap().is_none());
        let keep = AugmentSpec::parse("keep-randaugment:n=2,m=9,s=16").unwrap();
        assert_eq!(keep, AugmentSpec::parse("randaugment:n=2,m=9+selective-paste:s=16,tau=0.6").unwrap());
        assert_eq!(keep.saliency(), Some(&SaliencyMethod::Vanilla));
        let cut = AugmentSpec::parse("keep-cutout:s=16").unwrap().region.unwrap();
        assert_eq!(
            cut,
            MethodSpec::SelectiveCut {
                base: Box::new(MethodSpec::Cutout { n: 1, s: 16, fill: FillSpec::Zero }),
                tau: 0.6,
                saliency: SaliencyMethod::Vanilla
            }
        );
        assert_eq!(cut.name(), "keep-cutout");
        let re = AugmentSpec::parse("random-erasing").unwrap().region.unwrap();
        assert_eq!(
            re,
            MethodSpec::RandomErasing {
                p: 0.5,
                sl: 0.02,
                sh: 0.4,
                r1: 0.3,
                r2: 3.3,
                attempts: 10,
                fill: FillSpec::Random
            }
        );
    }

    fn err(s: &str) -> String {
        format!("{:#}", AugmentSpec::parse(s).unwrap_err())
    }

    #[test]
    fn bad_specs_get_errors_naming_the_field() {
        assert!(
            err("cutout:n=0,s=8").contains("n (number of squares) must be at least 1"),
            "{}",
            err("cutout:n=0,s=8")
        );
        assert!(err("cutout:n=2").contains("s (the side of the squares"));
        assert!(err("hide-and-seek:p_keep_patch=1.5").contains("p_keep_patch must be in [0, 1], got 1.5"));
        assert!(err("random-erasing:p=-0.1").contains("p must be in [0, 1]"));
        assert!(err("random-erasing:sl=0.5,sh=0.1").contains("sl <= sh"));
        assert!(err("cutmix:alpha=0").contains("alpha"));
        assert!(err("randaugment:m=31").contains("m must be in [0, 30]"));
        assert!(err("randaugment:n=0").contains("n (ops per image)"));
        assert!(err("cutout:n=1,s=8,size=3").contains("unknown key \"size\""));
        assert!(err("cutout:n=x,s=8").contains("n must be a non-negative integer"));
        assert!(err("blur:k=3").contains("unknown augmentation \"blur\""));
        assert!(err("cutout:s=8+hide-and-seek").contains("at most one"));
        assert!(err("cutout:s=8+randaugment").contains("must come first"));
        assert!(err("gridmask:d1=10").contains("d2"));
        assert!(err("autoaugment:policy=svhn").contains("policy"));
        assert!(err("cutout:n=1,s=8,fill=grey").contains("fill: expected zero, random or a number"));
        assert!(err("selective-paste:s=8").contains("after an image-level method"));
        assert!(err("keep-hide-and-seek").contains("selective-cut applies to cutout, random-erasing and cutmix"));
        assert!(err("keep-cutout:s=8,tau=1.5").contains("tau must be in [0, 1], got 1.5"));
        assert!(err("keep-cutout:s=8,saliency=smoothgrad").contains("unknown saliency method"));
        assert!(err("saliency-occlusion:t=0").contains("t (stride of the box filter)"));
        assert!(err("keep-randaugment:n=2,m=99").contains("m must be in [0, 30]"));
    }

    #[test]
    fn sizes_are_checked_against_the_images() {
        let s = AugmentSpec::parse("cutout:n=1,s=56").unwrap();
        let e = format!("{:#}", s.check_image_size(32, 32).unwrap_err());
        assert!(e.contains("s=56 is larger than the 32×32 images"), "{e}");
        assert!(s.check_image_size(224, 224).is_ok());
        assert!(AugmentSpec::parse("hide-and-seek:g=40").unwrap().check_image_size(28, 28).is_err());
        assert!(AugmentSpec::parse("gridmask:d1=24,d2=64").unwrap().check_image_size(32, 32).is_err());
    }
}
