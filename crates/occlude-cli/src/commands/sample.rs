//! `occlude sample`: the parameters an augmentation spec draws, one JSON line per draw.

use anyhow::{bail, Context, Result};
use clap::Args;
use occlude::augment::draws::{apply_draws_cpu, draw_lines, read_saliency_map, sample_draws};
use occlude::augment::params::RegionParams;
use occlude::augment::spec::AugmentSpec;
use occlude::saliency::npy;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Print the region-level parameters an augmentation draws, one JSON line per draw
#[derive(Args, Debug)]
#[command(long_about = "Print the region-level parameters an augmentation spec draws, one JSON line per draw, \
    to inspect, audit or replay them.\n\n\
    Draw k is what training draws for dataset index k (copy 0, epoch 0) in a batch of --count images of \
    --size with seed --seed. A line is the parameters of one image: e.g. {\"kind\":\"erase\",\"rects\":\
    [{\"top\":3,\"left\":0,\"height\":16,\"width\":9}],\"fill\":{\"kind\":\"zero\"}}; for a chain with a \
    region-level method and selective-paste, a JSON array of the two in the order they are applied.\n\n\
    Saliency-guided methods (keep-*, selective-paste, saliency-occlusion) sample every draw from the map \
    given by --saliency: a 2-D H×W float32 .npy, e.g. from `occlude saliency --raw`. On a constant map \
    every keep-* method draws exactly what its base method draws.\n\n\
    Sizes left out of the spec follow the images: s of cutout, keep-cutout and selective-paste \
    (keep-autoaugment, keep-randaugment) is 16 at 32 px and 40 at 224 px (seed 003 §4), linear in \
    min(H, W) between (12 + L/8), L/2 below 32 px and 40·L/224 above 224 px; saliency-occlusion's s and \
    jitter are seed 000's 56 and 16 at 224 px, scaled.\n\n\
    With --apply IMAGES.npy --output OUT.npy the draws are also applied to a batch of --count images \
    (N×C×H×W float32, normalised) by training's batched apply, and the result written as .npy.\n\n\
    Example: occlude sample --augment keep-cutout --size 32x32 --saliency map.npy --count 4")]
pub struct SampleArgs {
    /// Augmentation spec, as augment.method in a run config (e.g. keep-cutout:s=16,
    /// keep-autoaugment:policy=cifar10+cutout:s=16)
    #[arg(long)]
    augment: String,
    /// Image size as HxW (after preprocessing), e.g. 32x32
    #[arg(long)]
    size: String,
    /// Saliency map for saliency-guided methods: a 2-D H×W float32 .npy
    #[arg(long, value_name = "MAP.npy")]
    saliency: Option<PathBuf>,
    /// Number of draws
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// Random seed (as the run config's seed)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also apply the draws to these images, as training does: a --count×C×H×W float32 .npy
    /// (normalised images; fill 0 is the mean colour), written to --output
    #[arg(long, value_name = "IMAGES.npy", requires = "output")]
    apply: Option<PathBuf>,
    /// The image-level view A(x) of the --apply images (same shape), which selective-paste needs
    #[arg(long, value_name = "AUGMENTED.npy", requires = "apply")]
    augmented: Option<PathBuf>,
    /// Where --apply writes the images (a .npy of the same shape)
    #[arg(long, value_name = "OUT.npy", requires = "apply")]
    output: Option<PathBuf>,
}

/// Parses `HxW` (e.g. `32x32`).
fn parse_size(text: &str) -> Result<(usize, usize)> {
    text.split_once(['x', 'X'])
        .and_then(|(h, w)| Some((h.trim().parse::<usize>().ok()?, w.trim().parse::<usize>().ok()?)))
        .filter(|&(h, w)| h > 0 && w > 0)
        .with_context(|| format!("--size {text:?}: expected HxW with both at least 1, e.g. 32x32"))
}

pub fn exec(args: SampleArgs) -> Result<()> {
    let spec = AugmentSpec::parse(&args.augment).with_context(|| format!("--augment {:?}", args.augment))?;
    let (h, w) = parse_size(&args.size)?;
    let map = match (&args.saliency, spec.saliency()) {
        (Some(path), _) => Some(read_saliency_map(path, h, w).context("--saliency")?),
        (None, Some(method)) => bail!(
            "--augment {:?} samples from a saliency map ({method} saliency in training): give --saliency MAP.npy, \
             a 2-D {h}×{w} float32 .npy (e.g. from occlude saliency --raw)",
            args.augment
        ),
        (None, None) => None,
    };
    let draws = sample_draws(&spec, h, w, map.as_deref(), args.count, args.seed)
        .with_context(|| format!("--augment {:?}", args.augment))?;
    let lines = draw_lines(&draws)?;
    if let (Some(input), Some(output)) = (&args.apply, &args.output) {
        apply_file(&draws, input, args.augmented.as_deref(), output, (args.count, h, w))?;
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Reads an `N × C × H × W` float32 `.npy` for `--apply` / `--augmented`.
fn read_images(path: &Path, flag: &str, (n, h, w): (usize, usize, usize)) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("{flag}: reading {}", path.display()))?;
    let (shape, values) = npy::decode_f32(&bytes).with_context(|| format!("{flag} {}", path.display()))?;
    match shape[..] {
        [sn, _, sh, sw] if (sn, sh, sw) == (n, h, w) => Ok((shape, values)),
        _ => bail!("{flag} {}: shape {shape:?}; expected {n}×C×{h}×{w} (--count × channels × --size)", path.display()),
    }
}

/// `--apply`: the draws applied to the images in `input`, written to `output`.
fn apply_file(
    draws: &[Vec<RegionParams>],
    input: &Path,
    augmented: Option<&Path>,
    output: &Path,
    nhw: (usize, usize, usize),
) -> Result<()> {
    let (shape, clean) = read_images(input, "--apply", nhw)?;
    let view = match augmented {
        Some(path) => {
            let (aug_shape, values) = read_images(path, "--augmented", nhw)?;
            if aug_shape != shape {
                bail!("--augmented {}: shape {aug_shape:?}, but --apply's is {shape:?}", path.display());
            }
            Some(values)
        }
        None => None,
    };
    let dims: [usize; 4] = shape.clone().try_into().expect("4-D");
    let out = apply_draws_cpu(clean, view, dims, draws).context("--apply")?;
    npy::write_f32(output, &shape, &out).with_context(|| format!("--output {}", output.display()))
}
