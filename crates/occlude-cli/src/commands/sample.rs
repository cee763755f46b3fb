//! `occlude sample`: the parameters an augmentation spec draws, one JSON line per draw.

use anyhow::{bail, Context, Result};
use clap::Args;
use occlude::augment::draws::{read_saliency_map, sample_lines};
use occlude::augment::spec::AugmentSpec;
use std::io::Write;
use std::path::PathBuf;

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
    let lines = sample_lines(&spec, h, w, map.as_deref(), args.count, args.seed)
        .with_context(|| format!("--augment {:?}", args.augment))?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
