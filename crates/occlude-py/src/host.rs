//! The apply on the host: occlude's renderer ([`render`]) for the masks, then the
//! pixels mixed in plain loops. It follows training's
//! [`occlude::augment::draws::apply_draws`] stage by stage.

use anyhow::{bail, Result};
use occlude::augment::apply::{render, Rendered, Source};
use occlude::augment::draws::split_stages;
use occlude::augment::params::RegionParams;

/// `draws` (one list of stages per image) applied to the `N × C × H × W` batch
/// `clean`: the region-level stage on the view (`augmented` when given, `clean`
/// otherwise), then selective-paste from `clean`.
pub fn apply_draws(
    clean: &[f32],
    augmented: Option<&[f32]>,
    dims: [usize; 4],
    draws: &[Vec<RegionParams>],
) -> Result<Vec<f32>> {
    let expected: usize = dims.iter().product();
    if clean.len() != expected || augmented.is_some_and(|a| a.len() != expected) {
        bail!("the buffers do not hold a batch of {dims:?}");
    }
    let (region, paste) = split_stages(draws)?;
    let mut images = match (augmented, &paste) {
        (Some(aug), _) => aug.to_vec(),
        (None, Some(_)) => bail!("selective-paste needs the image-level view A(x) of the images (augmented=…)"),
        (None, None) => clean.to_vec(),
    };
    if let Some(region) = region {
        mix(&mut images, &render(&region, dims)?, clean);
    }
    if let Some(paste) = paste {
        mix(&mut images, &render(&paste, dims)?, clean);
    }
    Ok(images)
}

/// Replaces the pixels of `x` that `r` masks with the values its source names.
fn mix(x: &mut [f32], r: &Rendered, clean: &[f32]) {
    let per_image = r.dims[1..].iter().product::<usize>();
    let masked = r.mask.iter().enumerate().filter(|(_, &m)| m).map(|(k, _)| k);
    match &r.source {
        Source::Nothing => {}
        Source::Zero => masked.for_each(|k| x[k] = 0.0),
        Source::Values(values) => masked.for_each(|k| x[k] = values[k]),
        Source::Clean => masked.for_each(|k| x[k] = clean[k]),
        Source::Partner(partner) => {
            let before = x.to_vec();
            for k in masked {
                let (i, at) = (k / per_image, k % per_image);
                x[k] = before[partner[i] * per_image + at];
            }
        }
    }
}
