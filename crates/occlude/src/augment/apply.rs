//! The batched apply: a slice of per-image [`RegionParams`] turned into pixels on
//! the device in one pass.
//!
//! The parameters are first *rendered* on the host into one boolean mask (which
//! pixels change) plus, where needed, the fill values (random or constant fills)
//! or the partner permutation (CutMix). The device then does a single
//! `mask_fill` / `mask_where` over the `N × C × H × W` batch — never a loop over
//! images. Rendering costs `O(N·H·W)` byte writes; the mask is rendered at full
//! `N × C × H × W` because the CPU backend's broadcast of an `N × 1 × H × W` mask
//! takes a strided copy that is slower than writing the bytes.
//!
//! [`apply_host`] is an independent per-pixel implementation (via
//! [`RegionParams::covers`]) used by the tests as a second backend.

use super::params::{Fill, RegionParams};
use anyhow::{bail, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Where the replaced pixels of a batch take their values from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Nothing is replaced.
    Nothing,
    /// 0 (the mean colour) everywhere it is replaced.
    Zero,
    /// Per-pixel values (`N × C × H × W`; meaningful where the mask is set): random
    /// and constant fills.
    Values(Vec<f32>),
    /// Pixels of another image of the batch (`partner[i]`; `i` for untouched images).
    Partner(Vec<usize>),
    /// Selective-Paste: the base is the augmented view and replaced pixels come from
    /// the clean view (untouched images are entirely clean).
    Clean,
}

/// A batch of parameters rendered on the host.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub dims: [usize; 4],
    /// `N × C × H × W`, `true` where the pixel is replaced.
    pub mask: Vec<bool>,
    pub source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fill,
    Mix,
    Paste,
}

fn kind(p: &RegionParams) -> Option<Kind> {
    match p {
        RegionParams::Keep => None,
        RegionParams::Erase { .. } | RegionParams::HideAndSeek { .. } | RegionParams::GridMask { .. } => {
            Some(Kind::Fill)
        }
        RegionParams::Mix { .. } => Some(Kind::Mix),
        RegionParams::Paste { .. } => Some(Kind::Paste),
    }
}

/// The kind shared by the non-`Keep` parameters of a batch.
fn batch_kind(params: &[RegionParams]) -> Result<Option<Kind>> {
    let mut found = None;
    for p in params {
        match (found, kind(p)) {
            (_, None) => {}
            (None, k) => found = k,
            (Some(a), Some(b)) if a != b => {
                bail!("one batch mixes {a:?} and {b:?} parameters; a batch takes one kind (plus Keep)")
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Checks every parameter against the batch: rectangles inside the image, grids of
/// the right size, partners inside the batch.
pub fn validate(params: &[RegionParams], n: usize, h: usize, w: usize) -> Result<()> {
    if params.len() != n {
        bail!("{} parameter sets for a batch of {n} images", params.len());
    }
    for (i, p) in params.iter().enumerate() {
        let bad_rect = |r: &super::params::Rect| !r.fits(h, w);
        match p {
            RegionParams::Keep => {}
            RegionParams::Erase { rects, .. } | RegionParams::Paste { rects } => {
                if let Some(r) = rects.iter().find(|r| bad_rect(r)) {
                    bail!("image {i}: rectangle {r:?} is outside the {h}×{w} image");
                }
            }
            RegionParams::HideAndSeek { grid, .. } => {
                if grid.grid == 0 || grid.hidden.len() != grid.grid * grid.grid {
                    bail!(
                        "image {i}: a {}×{} grid needs {} flags, got {}",
                        grid.grid,
                        grid.grid,
                        grid.grid * grid.grid,
                        grid.hidden.len()
                    );
                }
            }
            RegionParams::GridMask { grid, .. } => {
                if grid.unit == 0 {
                    bail!("image {i}: GridMask unit must be at least 1");
                }
            }
            RegionParams::Mix { rect, partner, .. } => {
                if bad_rect(rect) {
                    bail!("image {i}: rectangle {rect:?} is outside the {h}×{w} image");
                }
                if *partner >= n {
                    bail!("image {i}: partner {partner} is outside the batch of {n}");
                }
            }
        }
    }
    Ok(())
}

/// Renders the parameters of an `N × C × H × W` batch.
pub fn render(params: &[RegionParams], dims: [usize; 4]) -> Result<Rendered> {
    let [n, c, h, w] = dims;
    validate(params, n, h, w)?;
    let kind = batch_kind(params)?;
    let plane = h * w;
    let mut mask = vec![false; n * c * plane];
    let Some(kind) = kind else {
        return Ok(Rendered { dims, mask, source: Source::Nothing });
    };
    for (i, p) in params.iter().enumerate() {
        let m = &mut mask[i * c * plane..(i * c + 1) * plane];
        match p {
            RegionParams::Keep => {
                if kind == Kind::Paste {
                    m.fill(true);
                }
            }
            RegionParams::Erase { rects, .. } | RegionParams::Paste { rects } => {
                for r in rects {
                    for y in r.top..r.bottom() {
                        m[y * w + r.left..y * w + r.right()].fill(true);
                    }
                }
            }
            RegionParams::Mix { rect: r, .. } => {
                for y in r.top..r.bottom() {
                    m[y * w + r.left..y * w + r.right()].fill(true);
                }
            }
            RegionParams::HideAndSeek { grid, .. } => {
                for r in grid.hidden_rects(h, w) {
                    for y in r.top..r.bottom() {
                        m[y * w + r.left..y * w + r.right()].fill(true);
                    }
                }
            }
            RegionParams::GridMask { grid, .. } => {
                for y in 0..h {
                    if (y + grid.unit - grid.offset_y % grid.unit) % grid.unit < grid.keep {
                        continue;
                    }
                    for x in 0..w {
                        m[y * w + x] = grid.occludes(y, x);
                    }
                }
            }
        }
        // The same plane for every channel.
        let (first, rest) = mask[i * c * plane..(i + 1) * c * plane].split_at_mut(plane);
        for ch in rest.chunks_mut(plane) {
            ch.copy_from_slice(first);
        }
    }
    let source = match kind {
        Kind::Paste => Source::Clean,
        Kind::Mix => Source::Partner(
            params
                .iter()
                .enumerate()
                .map(|(i, p)| if let RegionParams::Mix { partner, .. } = p { *partner } else { i })
                .collect(),
        ),
        Kind::Fill => {
            if params.iter().all(|p| matches!(p.fill(), None | Some(Fill::Zero))) {
                Source::Zero
            } else {
                Source::Values(fill_values(params, &mask, dims))
            }
        }
    };
    Ok(Rendered { dims, mask, source })
}

/// The fill value of every replaced pixel (0 elsewhere). Random fills draw N(0, 1)
/// values from their seed over the replaced pixels in channel, row, column order.
fn fill_values(params: &[RegionParams], mask: &[bool], dims: [usize; 4]) -> Vec<f32> {
    let [_, c, h, w] = dims;
    let per_image = c * h * w;
    let mut values = vec![0.0f32; mask.len()];
    for (i, p) in params.iter().enumerate() {
        let range = i * per_image..(i + 1) * per_image;
        let (v, m) = (&mut values[range.clone()], &mask[range]);
        match p.fill() {
            Some(Fill::Constant { value }) => {
                for (v, _) in v.iter_mut().zip(m).filter(|(_, &m)| m) {
                    *v = value;
                }
            }
            Some(Fill::Random { seed }) => {
                let mut rng = crate::rng::Rng::seed_from_u64(seed);
                for (v, _) in v.iter_mut().zip(m).filter(|(_, &m)| m) {
                    *v = StandardNormal.sample(&mut rng);
                }
            }
            _ => {}
        }
    }
    values
}

/// Applies `params` to the batch `x` (`N × C × H × W`, normalised) in one pass on
/// its device. `augmented` is the augmented view `A(x)` of the same crops, needed by
/// [`RegionParams::Paste`].
pub fn apply_batch<B: Backend>(
    x: Tensor<B, 4>,
    augmented: Option<Tensor<B, 4>>,
    params: &[RegionParams],
) -> Result<Tensor<B, 4>> {
    let dims = x.dims();
    let rendered = render(params, dims)?;
    apply_rendered(x, augmented, rendered)
}

/// The device half of [`apply_batch`].
pub fn apply_rendered<B: Backend>(
    x: Tensor<B, 4>,
    augmented: Option<Tensor<B, 4>>,
    r: Rendered,
) -> Result<Tensor<B, 4>> {
    let device = x.device();
    let dims = r.dims;
    if x.dims() != dims {
        bail!("the batch is {:?} but the parameters were rendered for {dims:?}", x.dims());
    }
    let any = r.mask.iter().any(|&m| m);
    let paste = r.source == Source::Clean;
    let mask = |m: Vec<bool>| Tensor::<B, 4, Bool>::from_data(TensorData::new(m, dims), &device);
    Ok(match r.source {
        Source::Nothing => x,
        _ if !any && !paste => x,
        Source::Zero => x.mask_fill(mask(r.mask), 0.0),
        Source::Values(v) => {
            let values = Tensor::<B, 4>::from_data(TensorData::new(v, dims), &device);
            x.mask_where(mask(r.mask), values)
        }
        Source::Partner(perm) => {
            let idx: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
            let partner = x.clone().select(0, Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [dims[0]]), &device));
            x.mask_where(mask(r.mask), partner)
        }
        Source::Clean => {
            let Some(aug) = augmented else {
                bail!("Selective-Paste / image-level parameters need the augmented view of the batch");
            };
            if aug.dims() != dims {
                bail!("the augmented view is {:?} but the batch is {dims:?}", aug.dims());
            }
            if !any {
                aug
            } else {
                aug.mask_where(mask(r.mask), x)
            }
        }
    })
}

/// The training targets of a batch with label mixing: row `i` is
/// `λ_i · onehot(y_i) + (1 − λ_i) · onehot(y_partner)` (CutMix, Yun et al. 2019
/// Eq. 1). `None` when no parameter mixes labels.
pub fn soft_targets(params: &[RegionParams], labels: &[usize], classes: usize) -> Option<Vec<f32>> {
    if !params.iter().any(|p| matches!(p, RegionParams::Mix { .. })) {
        return None;
    }
    let mut q = vec![0.0f32; labels.len() * classes];
    for (i, p) in params.iter().enumerate() {
        let row = &mut q[i * classes..(i + 1) * classes];
        match p {
            RegionParams::Mix { partner, lambda, .. } => {
                row[labels[i]] += *lambda as f32;
                row[labels[*partner]] += (1.0 - *lambda) as f32;
            }
            _ => row[labels[i]] = 1.0,
        }
    }
    Some(q)
}

/// A straightforward per-pixel host implementation of [`apply_batch`], independent
/// of the renderer (it asks [`RegionParams::covers`] pixel by pixel). For tests and
/// previews of a few images.
pub fn apply_host(x: &[f32], augmented: Option<&[f32]>, dims: [usize; 4], params: &[RegionParams]) -> Result<Vec<f32>> {
    let [n, c, h, w] = dims;
    validate(params, n, h, w)?;
    batch_kind(params)?;
    let per_image = c * h * w;
    let mut out = x.to_vec();
    for (i, p) in params.iter().enumerate() {
        let mut rng = match p.fill() {
            Some(Fill::Random { seed }) => Some(crate::rng::Rng::seed_from_u64(seed)),
            _ => None,
        };
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    let at = i * per_image + (ch * h + y) * w + xx;
                    let covered = p.covers(y, xx, h, w);
                    out[at] = match p {
                        RegionParams::Keep => x[at],
                        RegionParams::Paste { .. } => {
                            let aug = augmented.expect("Paste needs the augmented view");
                            if covered {
                                x[at]
                            } else {
                                aug[at]
                            }
                        }
                        _ if !covered => x[at],
                        RegionParams::Mix { partner, .. } => x[partner * per_image + (ch * h + y) * w + xx],
                        _ => match p.fill() {
                            Some(Fill::Constant { value }) => value,
                            Some(Fill::Random { .. }) => StandardNormal.sample(rng.as_mut().expect("seeded")),
                            _ => 0.0,
                        },
                    };
                }
            }
        }
    }
    Ok(out)
}
