//! The augmentation spec syntax shared by TOML (`augment.method`) and the command
//! line (`--augment`).
//!
//! ```text
//! spec    := "none" | method ("+" method)*
//! method  := name (":" key "=" value ("," key "=" value)*)?
//! ```
//!
//! | method | keys (defaults) |
//! |---|---|
//! | `cutout` | `n` (1) squares of side `s` (16 at 32 px, 40 at 224 px: [`default_side`]), `fill` (zero) |
//! | `hide-and-seek` | `g` (4), `p_keep_patch` (0.5), `fill` (zero) |
//! | `random-erasing` | `p` (0.5), `sl` (0.02), `sh` (0.4), `r1` (0.3), `r2` (3.3), `attempts` (10), `fill` (random) |
//! | `cutmix` | `alpha` (1.0) |
//! | `gridmask` | `d1`, `d2` (required), `r` (0.6), `fill` (zero) |
//! | `autoaugment` | `policy` (imagenet \| cifar10), `m` (the policy's own magnitudes), `fill` (0) |
//! | `randaugment` | `n` (2), `m` (9), `fill` (0) |
//! | `keep-cutout`, `keep-random-erasing`, `keep-cutmix` | the base method's keys, `tau` (0.6), `saliency` (vanilla), `saliency_bn` (running) |
//! | `keep-autoaugment`, `keep-randaugment` | the base method's keys, `s` (16 at 32 px, 40 at 224 px), `tau` (0.6), `saliency` (vanilla), `saliency_bn` (running) |
//! | `selective-paste` (last, after an image-level method) | `s` (16 at 32 px, 40 at 224 px), `tau` (0.6), `saliency` (vanilla), `saliency_bn` (running) |
//! | `saliency-occlusion` | `n` (1), `s` (56 at 224 px, scaled), `t` (1), `jitter` (16 at 224 px, scaled), `fill` (zero), `saliency` (gradxact:layer3.0.conv1), `saliency_bn` (running) |
//!
//! Sizes left out are resolved against the images when sampling: `s` of `cutout`,
//! `keep-cutout` and `selective-paste` by [`default_side`] (seed 003 §4: 16 on CIFAR,
//! 40 on ImageNet; linear in `min(H, W)` between, the nearer anchor's share outside),
//! `s` and `jitter` of `saliency-occlusion` in proportion to seed 000's 56 and 16 at
//! 224 px. A size given that does not fit the images is an error naming the method and
//! the key ([`AugmentSpec::check_image_size`]).
//!
//! `saliency` is any [`SaliencyMethod`]: `vanilla`, `low-res`, `early-loss`,
//! `gradxact:<layer>` or `reuse` (no saliency pass: the training step's own input
//! gradient from the image's previous visit, [`super::keep::reuse`]); `saliency_bn` is the batch-norm statistics of the saliency pass,
//! `running` or `batch` ([`BnStats`]; see [`crate::saliency`]).
//!
//! `fill` of the occlusion methods is `zero` (the mean colour: 0 after
//! normalisation), `random` (per-pixel N(0, 1) after normalisation) or a number (that
//! constant after normalisation). `fill` of AutoAugment/RandAugment is the 8-bit grey
//! level shown where a rotation, shear or translation uncovers the image
//! (torchvision's `fill`, 0 by default). Magnitudes `m` are on the 0–30 scale of
//! [`super::ops::op_argument`]; the RandAugment paper's 0–10 scale maps to it as
//! `m = 3·M`.
//!
//! # Chains
//!
//! Methods joined by `+` are applied in this order, at most one of each:
//!
//! 1. an image-level method (`autoaugment`, `randaugment`: in the loader);
//! 2. a region-level method (any other, but `selective-paste`), applied to the
//!    image-level view;
//! 3. `selective-paste`, which pastes a region of the *original* image back over the
//!    result (seed 003 Eq. 3 with `A` = everything before it).
//!
//! `keep-autoaugment:…` / `keep-randaugment:…` stand for steps 1 and 3, wherever the
//! region method is written: `keep-autoaugment:policy=cifar10+cutout` is
//! `autoaugment:policy=cifar10+cutout+selective-paste`, seed 003's KeepAutoAugment in
//! AutoAugment's CIFAR setting (which appends Cutout-16 to the policy), and
//! `autoaugment:policy=cifar10+cutout` is its baseline. The canonical form
//! ([`fmt::Display`]) writes the steps out in order. A chain computes one saliency map
//! per image, so its saliency-guided steps must agree on `saliency` and `saliency_bn`;
//! `selective-paste` cannot follow a label-mixing method (`cutmix`, `keep-cutmix`),
//! whose λ would no longer be the partner's share of the pixels.
//!
//! Examples: `cutout:n=6,s=56`, `hide-and-seek:g=4,p_keep_patch=0.5`,
//! `randaugment:n=2,m=9`, `keep-cutout:tau=0.6`, `keep-randaugment:n=2,m=9,s=16`.

mod args;
mod chain;
mod check;

use super::ops::AutoAugmentPolicy;
pub use super::sample::default_side;
use crate::saliency::{BnStats, SaliencyMethod};
use anyhow::{bail, Context, Result};
use args::Args;
pub use chain::AugmentSpec;
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
    pub(crate) fn parse(key: &str, v: &str) -> Result<Self> {
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
    /// Cutout (DeVries & Taylor; seed 000 §3): `n` squares of side `s` (default
    /// [`default_side`]), centres uniform over the image, clipped at the border.
    Cutout { n: usize, s: Option<usize>, fill: FillSpec },
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
    SelectiveCut { base: Box<MethodSpec>, tau: f64, saliency: SaliencyMethod, bn: BnStats },
    /// Selective-Paste (seed 003 Alg. 1b): after an image-level method, an `s × s`
    /// region (default [`default_side`]) drawn among the candidates whose saliency is
    /// above the `tau`-quantile is pasted back from the clean image. Spelled
    /// `selective-paste` last in a chain after `autoaugment`/`randaugment`, or
    /// `keep-autoaugment` / `keep-randaugment`.
    SelectivePaste { s: Option<usize>, tau: f64, saliency: SaliencyMethod, bn: BnStats },
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
        bn: BnStats,
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

    /// The batch-norm statistics of the saliency pass, for saliency-guided methods.
    pub fn saliency_bn(&self) -> Option<BnStats> {
        match *self {
            Self::SelectiveCut { bn, .. } | Self::SelectivePaste { bn, .. } | Self::SaliencyOcclusion { bn, .. } => {
                Some(bn)
            }
            _ => None,
        }
    }

    /// Whether the method mixes labels (CutMix, KeepCutMix).
    pub fn mixes_labels(&self) -> bool {
        match self {
            Self::CutMix { .. } => true,
            Self::SelectiveCut { base, .. } => base.mixes_labels(),
            _ => false,
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
            let bn = kv.bn()?;
            let base = Self::parse_named(base, kv)?;
            if !matches!(base, Self::Cutout { .. } | Self::RandomErasing { .. } | Self::CutMix { .. }) {
                bail!("{name}: selective-cut applies to cutout, random-erasing and cutmix");
            }
            let m = Self::SelectiveCut { base: Box::new(base), tau, saliency, bn };
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
                let s = kv.opt_usize("s")?;
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
                s: kv.opt_usize("s")?,
                tau: kv.f64("tau", Some(DEFAULT_TAU))?,
                saliency: kv.saliency(DEFAULT_KEEP_SALIENCY)?,
                bn: kv.bn()?,
            },
            "saliency-occlusion" | "saliency-max" => Self::SaliencyOcclusion {
                n: kv.usize("n", Some(1))?,
                s: kv.opt_usize("s")?,
                t: kv.usize("t", Some(1))?,
                jitter: kv.opt_usize("jitter")?,
                fill: kv.fill("fill", FillSpec::Zero)?,
                saliency: kv.saliency(DEFAULT_OCCLUSION_SALIENCY)?,
                bn: kv.bn()?,
            },
            "none" => bail!("none cannot be combined with another method"),
            _ => bail!("unknown augmentation {name:?}; expected one of {METHOD_NAMES}"),
        };
        kv.finish()?;
        m.validate()?;
        Ok(m)
    }
}

impl fmt::Display for MethodSpec {
    /// The canonical form, with every key spelled out; it parses back to `self`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cutout { n, s, fill } => {
                write!(f, "cutout:n={n}")?;
                if let Some(s) = s {
                    write!(f, ",s={s}")?;
                }
                write!(f, ",fill={fill}")
            }
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
            Self::SelectiveCut { base, tau, saliency, bn } => {
                write!(f, "keep-{base},tau={tau},saliency={saliency}")?;
                write_bn(f, *bn)
            }
            Self::SelectivePaste { s, tau, saliency, bn } => {
                write!(f, "selective-paste:")?;
                if let Some(s) = s {
                    write!(f, "s={s},")?;
                }
                write!(f, "tau={tau},saliency={saliency}")?;
                write_bn(f, *bn)
            }
            Self::SaliencyOcclusion { n, s, t, jitter, fill, saliency, bn } => {
                write!(f, "saliency-occlusion:n={n}")?;
                if let Some(s) = s {
                    write!(f, ",s={s}")?;
                }
                write!(f, ",t={t}")?;
                if let Some(j) = jitter {
                    write!(f, ",jitter={j}")?;
                }
                write!(f, ",fill={fill},saliency={saliency}")?;
                write_bn(f, *bn)
            }
        }
    }
}

/// `,saliency_bn=…` unless it is the default (running statistics), so that specs
/// written before the key existed print as they did.
fn write_bn(f: &mut fmt::Formatter<'_>, bn: BnStats) -> fmt::Result {
    if bn == BnStats::default() {
        Ok(())
    } else {
        write!(f, ",saliency_bn={bn}")
    }
}

#[cfg(test)]
mod tests;
