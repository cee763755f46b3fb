//! `occlude demo`: the built-in configuration on the built-in data.

use super::train::{train, RunFlags};
use anyhow::{Context, Result};

use occlude::train::RunConfig;
use std::path::PathBuf;

const DEMO_CONFIG: &str = include_str!("../../../../configs/demo.toml");

/// Train a small ResNet on the Fashion-MNIST subset built into occlude (a few minutes on a CPU)
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the results
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Number of epochs (the built-in config uses 6)
    #[arg(long)]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub run: RunFlags,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { out, epochs, run } = args;
    let mut cfg = RunConfig::from_toml_str(DEMO_CONFIG, None).context("the built-in demo config")?;
    cfg.output_dir = out;
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    cfg.validate()?;
    eprintln!(
        "occlude demo: {} on the built-in Fashion-MNIST subset, {} epochs, writing {}",
        cfg.model.arch,
        cfg.epochs,
        cfg.output_dir.display()
    );
    // The demo owns its output directory: a second run starts over.
    let summary = train(&cfg, run, false, true)?;
    println!(
        "demo finished: test top-1 {:.2}% top-5 {:.2}% on {} images, {:.0} s, {:.0} img/s; results in {}",
        100.0 * summary.top1,
        100.0 * summary.top5,
        summary.eval_samples,
        summary.wall_seconds,
        summary.images_per_second,
        cfg.output_dir.display()
    );
    Ok(())
}
