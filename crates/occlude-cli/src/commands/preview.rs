//! `occlude preview`: originals and their augmentation side by side, made by the
//! training loader and batched apply.

use crate::common::encode_png;
use anyhow::{bail, Context, Result};

use occlude::augment::spec::{AugmentSpec, METHOD_NAMES};
use occlude::data::{DatasetKind, DatasetSpec};
use occlude::train::RunConfig;
use std::path::{Path, PathBuf};

/// Draw a grid of training samples: originals (top row) and their augmentation (bottom row)
#[derive(clap::Args)]
#[command(long_about = "Draw a grid of training samples: originals on the top row and the same crops \
    augmented on the bottom row, made by the same loader and batched apply as training.\n\n\
    The dataset is the Fashion-MNIST subset built into occlude unless --data or --config says \
    otherwise. A JSON description of every column (dataset index, label, image ops, occlusion \
    parameters) is printed on stdout.\n\n\
    Example: occlude preview --augment cutout:n=1,s=8 --out grid.png")]
pub struct Args {
    /// Augmentation spec, as augment.method in a run config: e.g. cutout:n=1,s=16,
    /// hide-and-seek:g=4, randaugment:n=2,m=9+cutout:n=1,s=16 (default: the config's augment.method)
    #[arg(long)]
    pub augment: Option<String>,
    /// Take the dataset, augmentation and seed from this run configuration (flags override them)
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Dataset directory (overrides data.path of --config); without --config its kind is
    /// --kind, or recognised from the files in it
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Dataset kind: embedded, fashion-mnist, cifar10, cifar100, image-folder
    /// (default: embedded, or recognised from the --data directory)
    #[arg(long)]
    pub kind: Option<String>,
    /// Where to write the grid PNG
    #[arg(long)]
    pub out: PathBuf,
    /// Number of samples (columns)
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// Random seed of the shuffle, crops and augmentation draws (default: the config's seed, or 0)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Epoch whose draws are shown (draws differ from epoch to epoch)
    #[arg(long, default_value_t = 0)]
    pub epoch: usize,
    /// Checkpoint whose saliency guides saliency-guided methods (keep-*, saliency-occlusion); adds a
    /// row of saliency maps with the chosen regions outlined
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { augment, config, data, kind, out, count, seed, epoch, checkpoint } = args;
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let (spec_text, data_spec, cfg_seed) = preview_inputs(augment, config.as_deref(), data, kind.as_deref())?;
    let spec = AugmentSpec::parse(&spec_text).with_context(|| format!("--augment {spec_text:?}"))?;
    let splits = occlude::data::load_dataset(&data_spec)?;
    let opts = occlude::augment::preview::PreviewOptions {
        count,
        seed: seed.unwrap_or(cfg_seed),
        epoch,
        ..Default::default()
    };
    let model = match &checkpoint {
        Some(path) => {
            Some(occlude::saliency::explain::load_model::<occlude::backend::CpuAutodiff>(path, &Default::default())?.1)
        }
        None => None,
    };
    let (grid, samples) = occlude::augment::preview::preview_with_model(&spec, &splits, &opts, model.as_ref())?;
    let (width, height) = grid.dimensions();
    occlude::io::write_atomic(&out, &encode_png(image::DynamicImage::ImageRgb8(grid))?)?;
    let result = serde_json::json!({
        "out": out,
        "augment": spec.to_string(),
        "dataset": data_spec.kind,
        "seed": opts.seed,
        "epoch": epoch,
        "width": width,
        "height": height,
        "samples": samples,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// The augmentation spec, dataset and seed of `occlude preview`: from `--config` when
/// given, overridden by the flags; otherwise the flags alone (embedded data by default).
fn preview_inputs(
    augment: Option<String>,
    config: Option<&Path>,
    data: Option<PathBuf>,
    kind: Option<&str>,
) -> Result<(String, DatasetSpec, u64)> {
    let kind = kind.map(parse_kind).transpose()?;
    if let Some(path) = config {
        let cfg = RunConfig::parse_file(path)?;
        let mut spec = cfg.data.clone();
        if let Some(k) = kind {
            spec.kind = k;
        }
        if let Some(d) = data {
            spec.path = Some(d);
        }
        spec.validate().with_context(|| format!("{}: invalid configuration", path.display()))?;
        return Ok((augment.unwrap_or(cfg.augment.method), spec, cfg.seed));
    }
    let augment = augment.with_context(|| {
        format!("--augment: required without --config (one of {METHOD_NAMES}, e.g. cutout:n=1,s=16)")
    })?;
    let spec = match (kind, data) {
        (Some(k), d) => DatasetSpec::new(k, d),
        (None, None) => DatasetSpec::new(DatasetKind::Embedded, None),
        (None, Some(d)) => DatasetSpec::new(detect_kind(&d)?, Some(d)),
    };
    Ok((augment, spec, 0))
}

fn parse_kind(s: &str) -> Result<DatasetKind> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| anyhow::anyhow!("--kind {s:?}: expected one of {}", DatasetKind::NAMES))
}

/// Recognises a dataset directory by its files.
fn detect_kind(dir: &Path) -> Result<DatasetKind> {
    if !dir.is_dir() {
        bail!("--data {}: not a directory", dir.display());
    }
    let has = |names: &[&str]| {
        names.iter().any(|n| {
            [dir.to_path_buf(), dir.join("cifar-10-batches-bin"), dir.join("cifar-100-binary")]
                .iter()
                .any(|d| d.join(n).exists())
        })
    };
    Ok(if has(&["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]) {
        DatasetKind::FashionMnist
    } else if has(&["data_batch_1.bin"]) {
        DatasetKind::Cifar10
    } else if has(&["train.bin"]) {
        DatasetKind::Cifar100
    } else if dir.join("train").is_dir() {
        DatasetKind::ImageFolder
    } else {
        bail!(
            "--data {}: cannot tell the dataset kind from its files; pass --kind ({})",
            dir.display(),
            DatasetKind::NAMES
        )
    })
}
