//! `occlude demo`: the built-in configuration — KeepCutout guided by low-resolution
//! saliency — on the built-in data, and pictures of what it did.
//!
//! Why KeepCutout with `saliency=low-res` (seed 003 Alg. 1a, §3.1) rather than joint
//! Hide-and-Seek (seed 000 §3): joint training doubles every batch, so in the same
//! wall time the demo trains half the epochs, while the low-resolution saliency pass
//! (a quarter of the pixels, input gradient only, on a frozen copy) adds a fraction
//! of a step. It also shows what is particular to occlude — saliency choosing where
//! to cut — in `preview.png`; Hide-and-Seek's grid needs no model. Why `s=8` and
//! `p_keep_image = 0.5` rather than the paper's 16/32 of the side on every image: six
//! epochs of ResNet-8 underfit (training accuracy stays below test accuracy), so a
//! stronger regulariser only costs accuracy here. Measured once on the shared 2-core
//! machine (top-1, CPU seconds): none 84.7 % / 96 s; this 83.7 % / 103 s; `s=8` on
//! every image 82.5 % / 120 s; `s=14` 80.4 % / 122 s; joint Hide-and-Seek `g=4`,
//! 3 epochs 77.8 % / 87 s; joint KeepCutout `s=14`, 3 epochs 78.8 % / 109 s.

use super::train::{train, RunFlags};
use crate::common::encode_png;
use anyhow::{Context, Result};

use occlude::augment::preview::{preview_with_model, PreviewOptions};
use occlude::augment::spec::AugmentSpec;
use occlude::backend::CpuAutodiff;
use occlude::report::Summary;
use occlude::saliency::{gallery, SaliencyMethod};
use occlude::train::RunConfig;
use std::path::{Path, PathBuf};

const DEMO_CONFIG: &str = include_str!("../../../../configs/demo.toml");

/// Train a small ResNet with KeepCutout on the Fashion-MNIST subset built into occlude (a few
/// minutes on a CPU); writes curves.png, preview.png and saliency.png beside the metrics
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the results
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Number of epochs (the built-in config uses 6)
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Also train the baseline (no augmentation) with the same seed, in OUT/baseline, and print
    /// both accuracies side by side (takes about twice as long)
    #[arg(long)]
    pub compare: bool,
    /// Train and test on this many images per class instead of the whole subset (for tests)
    #[arg(long, hide = true)]
    pub per_class: Option<usize>,
    #[command(flatten)]
    pub run: RunFlags,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { out, epochs, compare, per_class, run } = args;
    let mut cfg = RunConfig::from_toml_str(DEMO_CONFIG, None).context("the built-in demo config")?;
    cfg.output_dir = out;
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    if let Some(k) = per_class {
        (cfg.data.train_per_class, cfg.data.test_per_class) = (Some(k), Some(k));
    }
    cfg.validate()?;
    let flags = || RunFlags { device: run.device, quiet: run.quiet };
    let baseline = if compare {
        let mut base = cfg.clone();
        base.name = format!("{}-baseline", cfg.name);
        base.augment.method = "none".into();
        base.augment.p_keep_image = 0.0;
        base.output_dir = cfg.output_dir.join("baseline");
        eprintln!(
            "occlude demo --compare: first the baseline (no augmentation), writing {}",
            base.output_dir.display()
        );
        Some(train(&base, flags(), false, true)?)
    } else {
        None
    };
    eprintln!(
        "occlude demo: {} with {} on the built-in Fashion-MNIST subset, {} epochs, writing {}",
        cfg.model.arch,
        method_label(&cfg),
        cfg.epochs,
        cfg.output_dir.display()
    );
    // The demo owns its output directory: a second run starts over.
    let summary = train(&cfg, flags(), false, true)?;
    let dir = &cfg.output_dir;
    pictures(&cfg).context("drawing the demo's pictures")?;
    println!(
        "demo finished: test top-1 {:.2}% top-5 {:.2}% on {} images, {:.0} s, {:.0} img/s; results in {}",
        100.0 * summary.top1,
        100.0 * summary.top5,
        summary.eval_samples,
        summary.wall_seconds,
        summary.images_per_second,
        dir.display()
    );
    if let Some(base) = &baseline {
        println!("{}", comparison(base, &summary, &cfg));
    }
    let show = |name: &str| dir.join(name).display().to_string();
    println!("open {}  (originals; with KeepCutout; saliency maps, cut squares in cyan)", show("preview.png"));
    println!("open {}  (saliency maps of test images under the trained model)", show("saliency.png"));
    println!("open {}  (loss and accuracy per epoch)", show("curves.png"));
    println!(
        "next, a paper table (seed 003 Table 6: the cost of Cutout vs KeepCutout with vanilla, low-res and \
         early-loss saliency): occlude bench epoch --config configs/experiments/keepaugment-table6.toml"
    );
    Ok(())
}

/// The augmentation, with the share of images it leaves alone when there is one.
fn method_label(cfg: &RunConfig) -> String {
    match cfg.augment.p_keep_image {
        p if p > 0.0 => format!("{} (p_keep_image {p})", cfg.augment.method),
        _ => cfg.augment.method.clone(),
    }
}

/// The two accuracies side by side.
fn comparison(base: &Summary, method: &Summary, cfg: &RunConfig) -> String {
    format!(
        "same seed ({}), {} epochs:  baseline (none) top-1 {:.2}%  |  {} top-1 {:.2}%  ({:+.2} points); {:.0} s vs {:.0} s",
        cfg.seed,
        cfg.epochs,
        100.0 * base.top1,
        method_label(cfg),
        100.0 * method.top1,
        100.0 * (method.top1 - base.top1),
        base.wall_seconds,
        method.wall_seconds
    )
}

/// `preview.png` (the augmentation as trained, with the trained model's saliency
/// choosing the regions) and `saliency.png` (test images), beside the metrics;
/// `curves.png` is the training loop's.
fn pictures(cfg: &RunConfig) -> Result<()> {
    let dir = &cfg.output_dir;
    let device = Default::default();
    let (_, model) =
        occlude::saliency::explain::load_model::<CpuAutodiff>(&dir.join("checkpoint.safetensors"), &device)?;
    let splits = occlude::data::load_dataset(&cfg.data)?;
    let spec = AugmentSpec::parse(&cfg.augment.method).context("augment.method")?;
    let opts = PreviewOptions { count: 8, seed: cfg.seed, ..Default::default() };
    let (grid, _) = preview_with_model(&spec, &splits, &opts, Some(&model))?;
    write(&dir.join("preview.png"), &encode_png(image::DynamicImage::ImageRgb8(grid))?)?;
    // Full-resolution vanilla gradients: sharper than the low-res maps training used.
    let test = gallery::one_per_class(&splits, 4);
    let png = gallery::gallery_png(&model, &splits, &test, &SaliencyMethod::Vanilla, &device)?;
    write(&dir.join("saliency.png"), &png)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    occlude::io::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}
