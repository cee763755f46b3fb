//! A whole augmentation: the chain image-level → region-level → selective-paste.

use super::{MethodSpec, METHOD_NAMES};
use crate::saliency::{BnStats, SaliencyMethod};
use anyhow::{bail, Context, Result};
use std::fmt;

/// A whole augmentation, in the order it is applied (see the module documentation of
/// [`super`]): at most one image-level method (in the loader), at most one
/// region-level method (on the batch, over the image-level view), and at most one
/// selective-paste (last: a region of the original pasted back over the result).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AugmentSpec {
    pub image: Option<MethodSpec>,
    pub region: Option<MethodSpec>,
    /// Always [`MethodSpec::SelectivePaste`] when present, and then `image` is too.
    pub paste: Option<MethodSpec>,
}

impl AugmentSpec {
    /// Parses `none`, one method, or a chain of methods joined by `+`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            bail!("empty augmentation spec; expected none or one of {METHOD_NAMES}, e.g. cutout:n=1,s=16");
        }
        if text == "none" {
            return Ok(Self::default());
        }
        let mut spec = Self::default();
        // Whether `selective-paste` was written out (it must then come last), as
        // opposed to implied by keep-autoaugment / keep-randaugment.
        let mut explicit_paste = false;
        for part in text.split('+') {
            let (image, paste, explicit) = match keep_image_level(part)? {
                Some((image, paste)) => (Some(image), Some(paste), false),
                None => {
                    let m = MethodSpec::parse(part).with_context(|| format!("in {:?}", part.trim()))?;
                    match m {
                        MethodSpec::SelectivePaste { .. } => (None, Some(m), true),
                        m if m.is_image_level() => (Some(m), None, false),
                        m => {
                            if explicit_paste {
                                bail!("{text:?}: selective-paste comes last (it pastes the original back over everything before it), e.g. autoaugment:policy=cifar10+cutout:s=16+selective-paste");
                            }
                            if let Some(prev) = &spec.region {
                                bail!(
                                    "{text:?} combines {} and {}; at most one region-level method (plus one image-level method before it and one selective-paste after it)",
                                    prev.name(),
                                    m.name()
                                );
                            }
                            spec.region = Some(m);
                            continue;
                        }
                    }
                }
            };
            if let Some(image) = image {
                if let Some(prev) = &spec.image {
                    bail!(
                        "{text:?} combines {} and {}; at most one image-level method (autoaugment, randaugment)",
                        prev.name(),
                        image.name()
                    );
                }
                if spec.region.is_some() || spec.paste.is_some() {
                    bail!("{text:?}: the image-level method must come first (it is applied first), e.g. randaugment:n=2,m=9+cutout:n=1,s=16");
                }
                spec.image = Some(image);
            }
            if let Some(paste) = paste {
                if spec.paste.is_some() {
                    bail!("{text:?} has selective-paste twice (keep-autoaugment and keep-randaugment include one); at most one");
                }
                spec.paste = Some(paste);
                explicit_paste |= explicit;
            }
        }
        spec.check_chain(text)?;
        Ok(spec)
    }

    /// The rules across methods.
    fn check_chain(&self, text: &str) -> Result<()> {
        if self.paste.is_some() && self.image.is_none() {
            bail!("{text:?}: selective-paste pastes regions back after an image-level method; put autoaugment or randaugment first, e.g. randaugment:n=2,m=9+selective-paste:s=16");
        }
        if let (Some(region), Some(_)) = (&self.region, &self.paste) {
            if region.mixes_labels() {
                bail!(
                    "{text:?}: selective-paste cannot follow {}: pasting the original back over the partner's region would leave the label weight λ wrong",
                    region.name()
                );
            }
            let guide = |m: &MethodSpec| m.saliency().map(|s| (s.clone(), m.saliency_bn()));
            if let (Some(a), Some(b)) = (guide(region), self.paste.as_ref().and_then(guide)) {
                if a != b {
                    bail!(
                        "{text:?}: one saliency map per image serves the whole chain, but {} uses saliency={} and selective-paste saliency={}{}; give both the same saliency (and saliency_bn)",
                        region.name(),
                        a.0,
                        b.0,
                        if a.0 == b.0 { " with a different saliency_bn" } else { "" }
                    );
                }
            }
        }
        Ok(())
    }

    /// The methods present, in the order they are applied.
    pub fn methods(&self) -> impl Iterator<Item = &MethodSpec> {
        self.image.iter().chain(&self.region).chain(&self.paste)
    }

    /// The saliency map the chain's saliency-guided methods sample from, if any (one
    /// for the whole chain: [`parse`](Self::parse) checks that they agree).
    pub fn saliency(&self) -> Option<&SaliencyMethod> {
        self.region.as_ref().and_then(MethodSpec::saliency).or_else(|| self.paste.as_ref()?.saliency())
    }

    /// The batch-norm statistics of the saliency pass (the default when no method uses
    /// saliency).
    pub fn saliency_bn(&self) -> BnStats {
        self.region
            .as_ref()
            .and_then(MethodSpec::saliency_bn)
            .or_else(|| self.paste.as_ref()?.saliency_bn())
            .unwrap_or_default()
    }

    pub fn is_none(&self) -> bool {
        self.image.is_none() && self.region.is_none() && self.paste.is_none()
    }

    /// Checks every size given against the images (see
    /// [`MethodSpec::check_image_size`]).
    pub fn check_image_size(&self, height: usize, width: usize) -> Result<()> {
        self.methods().try_for_each(|m| m.check_image_size(height, width))
    }
}

/// Expands `keep-autoaugment:…` / `keep-randaugment:…` (seed 003's KeepAutoAugment
/// and KeepRandAugment) into the image-level method and its selective-paste: the keys
/// `s`, `tau`, `saliency` and `saliency_bn` go to selective-paste (`s` defaults to
/// [`super::default_side`]), the others to the image-level method.
fn keep_image_level(part: &str) -> Result<Option<(MethodSpec, MethodSpec)>> {
    let part = part.trim();
    let (name, args) = part.split_once(':').unwrap_or((part, ""));
    let name = name.trim().to_lowercase().replace('_', "-");
    let image_name = match name.as_str() {
        "keep-autoaugment" | "keep-auto-augment" => "autoaugment",
        "keep-randaugment" | "keep-rand-augment" => "randaugment",
        _ => return Ok(None),
    };
    let (mut paste_args, mut image_args) = (vec![], vec![]);
    for pair in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k).trim().to_lowercase().replace('-', "_");
        if matches!(key.as_str(), "s" | "tau" | "saliency" | "saliency_bn") {
            paste_args.push(pair);
        } else {
            image_args.push(pair);
        }
    }
    let image =
        MethodSpec::parse(&format!("{image_name}:{}", image_args.join(","))).with_context(|| format!("in {part:?}"))?;
    let paste = MethodSpec::parse(&format!("selective-paste:{}", paste_args.join(",")))
        .with_context(|| format!("in {part:?}"))?;
    Ok(Some((image, paste)))
}

impl fmt::Display for AugmentSpec {
    /// The canonical form: the methods in the order they are applied, joined by `+`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return write!(f, "none");
        }
        for (k, m) in self.methods().enumerate() {
            if k > 0 {
                write!(f, "+")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for AugmentSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}
