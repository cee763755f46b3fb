//! `occlude train`: a run described by a TOML configuration, resumable, stopped
//! cleanly by Ctrl-C.

use anyhow::{Context, Result};

use occlude::backend::DeviceKind;
use occlude::report::Summary;
use occlude::train::{RunConfig, TrainOptions};
use std::path::PathBuf;

/// Train a model as described by a TOML run configuration
#[derive(clap::Args)]
pub struct Args {
    /// The run configuration (see configs/ for examples)
    #[arg(long, short)]
    pub config: PathBuf,
    /// Dataset directory (overrides data.path)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory (overrides output_dir)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Number of epochs (overrides epochs)
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Random seed (overrides seed)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the run from the checkpoint in its output directory
    #[arg(long)]
    pub resume: bool,
    /// Overwrite an output directory that holds another run
    #[arg(long)]
    pub force: bool,
    /// Override any field: --set optimizer.lr=0.05 --set augment.method=\"cutout:n=1,s=16\"
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Start from the weights of another run's checkpoint, with a fresh optimiser and schedule
    /// (fine-tuning, seed 000 §4.3; sets train.init_from). The architectures must match
    #[arg(long, value_name = "CHECKPOINT")]
    pub init_from: Option<PathBuf>,
    /// Replace undecodable images instead of failing (ImageFolder); the count is reported
    #[arg(long)]
    pub skip_bad_images: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

/// Device and verbosity of a training command.
#[derive(clap::Args)]
pub struct RunFlags {
    /// cpu or cuda (cuda needs a build with --features cuda)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceKind,
    /// No progress bar or per-epoch lines
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { config, data, out, epochs, seed, resume, force, set, init_from, skip_bad_images, run } = args;
    let mut cfg = RunConfig::parse_file(&config)?;
    if let Some(d) = data {
        cfg.data.path = Some(d);
    }
    if let Some(o) = out {
        cfg.output_dir = o;
    }
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    if let Some(s) = seed {
        cfg.seed = s;
    }
    if let Some(p) = init_from {
        cfg.train.init_from = Some(p);
    }
    if skip_bad_images {
        cfg.data.skip_bad_images = true;
    }
    let cfg = cfg.with_overrides(&set)?;
    cfg.validate().with_context(|| format!("{}: invalid configuration", config.display()))?;
    let summary = train(&cfg, run, resume, force)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// A flag raised by the first Ctrl-C (SIGINT): the run then stops after its current
/// step and writes a checkpoint. A second Ctrl-C exits at once. One flag per process,
/// so that every run of a sweep sees the same one.
fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FLAG: std::sync::OnceLock<std::sync::Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let raised = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if raised.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current step and writing a checkpoint (Ctrl-C again to abort)");
        });
        flag
    })
    .clone()
}

/// Trains `cfg` on the device the flags name, stopping cleanly on Ctrl-C.
pub fn train(cfg: &RunConfig, flags: RunFlags, resume: bool, force: bool) -> Result<Summary> {
    let opts = TrainOptions {
        resume,
        force,
        quiet: flags.quiet,
        device_name: format!("{:?}", flags.device).to_lowercase(),
        stop: Some(interrupt_flag()),
    };
    match flags.device {
        DeviceKind::Cpu => occlude::train::train::<occlude::backend::CpuAutodiff>(cfg, &Default::default(), &opts),
        DeviceKind::Cuda => cuda_train(cfg, &opts),
    }
}

#[cfg(feature = "cuda")]
fn cuda_train(cfg: &RunConfig, opts: &TrainOptions) -> Result<Summary> {
    occlude::train::train::<occlude::backend::CudaAutodiff>(cfg, &Default::default(), opts)
}

#[cfg(not(feature = "cuda"))]
fn cuda_train(_: &RunConfig, _: &TrainOptions) -> Result<Summary> {
    anyhow::bail!(crate::common::NO_CUDA)
}
