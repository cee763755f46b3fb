//! `occlude`: the command-line front end. Every command is a thin wrapper over the
//! `occlude` library.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use occlude::backend::DeviceKind;
use occlude::data::{DatasetKind, DatasetSpec};
use occlude::train::{RunConfig, TrainOptions};
use std::path::PathBuf;

const DEMO_CONFIG: &str = include_str!("../../../configs/demo.toml");

#[derive(Parser)]
#[command(
    name = "occlude",
    version,
    about = "Train image classifiers with occlusion and saliency-guided data augmentation",
    long_about = "Train image classifiers with occlusion and saliency-guided data augmentation.\n\n\
        occlude implements the methods of two papers: Occlusions for Effective Data Augmentation \
        (Hide-and-Seek, Cutout, saliency-max occlusion, joint training, batch augmentation) and \
        KeepAugment (Selective-Cut, Selective-Paste). Start with `occlude demo`; then describe a \
        run in a TOML file (see configs/) and start it with `occlude train --config FILE`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small ResNet on the Fashion-MNIST subset built into occlude (a few minutes on a CPU)
    Demo {
        /// Where to write the results
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        /// Number of epochs (the built-in config uses 6)
        #[arg(long)]
        epochs: Option<usize>,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Train a model as described by a TOML run configuration
    Train {
        /// The run configuration (see configs/ for examples)
        #[arg(long, short)]
        config: PathBuf,
        /// Dataset directory (overrides data.path)
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output directory (overrides output_dir)
        #[arg(long)]
        out: Option<PathBuf>,
        /// Number of epochs (overrides epochs)
        #[arg(long)]
        epochs: Option<usize>,
        /// Random seed (overrides seed)
        #[arg(long)]
        seed: Option<u64>,
        /// Continue the run from the checkpoint in its output directory
        #[arg(long)]
        resume: bool,
        /// Overwrite an output directory that holds another run
        #[arg(long)]
        force: bool,
        /// Override any field: --set optimizer.lr=0.05 --set augment.method=\"cutout:n=1,s=16\"
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Replace undecodable images instead of failing (ImageFolder); the count is reported
        #[arg(long)]
        skip_bad_images: bool,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Evaluate a checkpoint: top-1 and top-5 on its evaluation split (or another dataset)
    Eval {
        /// A checkpoint.safetensors written by `occlude train`
        #[arg(long)]
        checkpoint: PathBuf,
        /// Evaluate on this dataset directory instead (same kind as in training)
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        /// cpu or cuda
        #[arg(long, default_value = "cpu")]
        device: DeviceKind,
    },
    /// Dataset utilities
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// List the model architectures
    Models,
    /// Measure speed (prints one JSON line per measurement)
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time training steps (forward, backward, SGD update) on random data
    TrainStep {
        /// Architecture (see `occlude models`)
        #[arg(long, default_value = "resnet20")]
        model: String,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Input as CxHxW
        #[arg(long, default_value = "3x32x32")]
        input: String,
        #[arg(long, default_value_t = 10)]
        classes: usize,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Backend: flex (default CPU), ndarray (needs --features ndarray), cuda (needs --features cuda)
        #[arg(long, default_value = "flex")]
        backend: String,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Write a class-balanced subset of an MNIST-style directory (how the embedded subset was made)
    Subset {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1000)]
        train_per_class: usize,
        #[arg(long, default_value_t = 200)]
        test_per_class: usize,
    },
}

#[derive(Args)]
struct RunFlags {
    /// cpu or cuda (cuda needs a build with --features cuda)
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
    /// No progress bar or per-epoch lines
    #[arg(long, short)]
    quiet: bool,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        if let Some(i) = e.downcast_ref::<occlude::train::Interrupted>() {
            eprintln!("{i}");
            std::process::exit(130);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// A flag raised by the first Ctrl-C (SIGINT): the run then stops after its current
/// step and writes a checkpoint. A second Ctrl-C exits at once.
fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if raised.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing the current step and writing a checkpoint (Ctrl-C again to abort)");
    });
    flag
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { out, epochs, run } => {
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
        Command::Train { config, data, out, epochs, seed, resume, force, set, skip_bad_images, run } => {
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
            if skip_bad_images {
                cfg.data.skip_bad_images = true;
            }
            let cfg = cfg.with_overrides(&set)?;
            cfg.validate().with_context(|| format!("{}: invalid configuration", config.display()))?;
            let summary = train(&cfg, run, resume, force)?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Eval { checkpoint, data, batch_size, device } => {
            if batch_size == 0 {
                bail!("--batch-size must be at least 1");
            }
            let override_spec = |kind: DatasetKind| data.clone().map(|d| DatasetSpec::new(kind, Some(d)));
            let (cfg, tally) = match device {
                DeviceKind::Cpu => {
                    let kind = peek_kind(&checkpoint)?;
                    occlude::train::evaluate_checkpoint::<occlude::backend::CpuBackend>(
                        &checkpoint,
                        override_spec(kind),
                        batch_size,
                        &Default::default(),
                    )?
                }
                DeviceKind::Cuda => cuda_eval(&checkpoint, override_spec(peek_kind(&checkpoint)?), batch_size)?,
            };
            let result = serde_json::json!({
                "checkpoint": checkpoint,
                "model": cfg.model.arch,
                "samples": tally.count,
                "loss": tally.loss(),
                "top1": tally.top1(),
                "top5": tally.top5(),
            });
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        Command::Data { command: DataCommand::Subset { from, out, train_per_class, test_per_class } } => {
            occlude::data::embedded::write_subset(&from, &out, train_per_class, test_per_class)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::TrainStep { model, batch, input, classes, warmup, steps, backend },
        } => {
            let dims: Vec<usize> = input
                .split('x')
                .map(|d| d.parse::<usize>())
                .collect::<std::result::Result<_, _>>()
                .ok()
                .filter(|d: &Vec<usize>| d.len() == 3 && d.iter().all(|&v| v > 0))
                .with_context(|| format!("--input {input:?}: expected CxHxW, e.g. 3x32x32"))?;
            if batch == 0 || steps == 0 {
                bail!("--batch and --steps must be at least 1");
            }
            let cfg = occlude::bench::StepBench {
                arch: model,
                batch,
                channels: dims[0],
                height: dims[1],
                width: dims[2],
                classes,
                warmup_steps: warmup,
                steps,
            };
            let result = bench_train_step(&cfg, &backend)?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        Command::Models => {
            for (name, about) in occlude::models::ARCHITECTURES {
                println!("{name:16} {about}");
            }
            Ok(())
        }
    }
}

fn bench_train_step(cfg: &occlude::bench::StepBench, backend: &str) -> Result<occlude::bench::StepBenchResult> {
    use occlude::bench::train_step;
    match backend {
        "flex" | "cpu" => train_step::<occlude::backend::CpuAutodiff>(cfg, &Default::default()),
        #[cfg(feature = "ndarray")]
        "ndarray" => train_step::<occlude::backend::NdArrayAutodiff>(cfg, &Default::default()),
        #[cfg(feature = "cuda")]
        "cuda" => train_step::<occlude::backend::CudaAutodiff>(cfg, &Default::default()),
        other => bail!("--backend {other:?}: not available in this build (flex always; ndarray and cuda need --features ndarray / cuda)"),
    }
}

/// The dataset kind stored in a checkpoint's configuration.
fn peek_kind(checkpoint: &std::path::Path) -> Result<DatasetKind> {
    Ok(occlude::train::checkpoint::load(checkpoint)
        .and_then(|ck| RunConfig::from_toml_str(&ck.config_toml, None))?
        .data
        .kind)
}

fn train(cfg: &RunConfig, flags: RunFlags, resume: bool, force: bool) -> Result<occlude::report::Summary> {
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
fn cuda_train(cfg: &RunConfig, opts: &TrainOptions) -> Result<occlude::report::Summary> {
    occlude::train::train::<occlude::backend::CudaAutodiff>(cfg, &Default::default(), opts)
}

#[cfg(feature = "cuda")]
fn cuda_eval(
    checkpoint: &std::path::Path,
    data: Option<DatasetSpec>,
    batch_size: usize,
) -> Result<(RunConfig, occlude::train::metrics::Tally)> {
    occlude::train::evaluate_checkpoint::<occlude::backend::CudaBackend>(
        checkpoint,
        data,
        batch_size,
        &Default::default(),
    )
}

#[cfg(not(feature = "cuda"))]
fn cuda_train(_: &RunConfig, _: &TrainOptions) -> Result<occlude::report::Summary> {
    bail!("this occlude was built without CUDA support; rebuild with `cargo build --release --features cuda`")
}

#[cfg(not(feature = "cuda"))]
fn cuda_eval(
    _: &std::path::Path,
    _: Option<DatasetSpec>,
    _: usize,
) -> Result<(RunConfig, occlude::train::metrics::Tally)> {
    bail!("this occlude was built without CUDA support; rebuild with `cargo build --release --features cuda`")
}
