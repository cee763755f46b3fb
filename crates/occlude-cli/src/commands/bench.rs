//! `occlude bench`: speed measurements, one JSON line each.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use occlude::augment::spec::AugmentSpec;
use occlude::saliency::SaliencyMethod;
use std::path::PathBuf;

/// Measure speed (prints one JSON line per measurement)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand)]
pub enum BenchCommand {
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
        /// Add a saliency pass to every step: none, vanilla, low-res, early-loss (trains the early
        /// head too) or gradxact:<layer>; the maps are read back to the host as in training
        #[arg(long, default_value = "none")]
        saliency: String,
    },
    /// Train one configuration once per augmentation and compare training throughput (seed 003 Table 6)
    #[command(long_about = "Train the run configuration once per augmentation spec (same data, model, seed, \
        schedule) and print one JSON line per run: training images/s, training time, the time ratio to the \
        first spec, and top-1. A spec with saliency=early-loss trains the model with the early head.\n\n\
        Example: occlude bench epoch --config configs/experiments/keepaugment-table6.toml")]
    Epoch {
        /// The run configuration
        #[arg(long, short)]
        config: PathBuf,
        /// Augmentation specs to compare, the first is the baseline (default: Cutout and KeepCutout with
        /// vanilla, low-res and early-loss saliency, side 14)
        #[arg(long = "augment", value_name = "SPEC")]
        augments: Vec<String>,
        /// Number of epochs (overrides epochs)
        #[arg(long)]
        epochs: Option<usize>,
        /// Where the runs are written
        #[arg(long, default_value = "runs/bench-epoch")]
        out: PathBuf,
        /// Backend: flex (default CPU) or cuda (needs --features cuda)
        #[arg(long, default_value = "flex")]
        backend: String,
    },
    /// Time the augmentation of a random batch: drawing parameters, rendering, device apply
    #[command(long_about = "Time the augmentation of a random batch, one JSON line per method and batch \
        size. Times are milliseconds per batch: sample_ms (drawing the parameters), render_ms \
        (building the mask), device_ms (upload and masked select), image_ops_ms (AutoAugment / \
        RandAugment ops on one loader thread) and apply_ms (sample + render + device).\n\n\
        Example: occlude bench augment --method cutout:n=1,s=16 --method hide-and-seek:g=4 --batch 64,128")]
    Augment {
        /// Augmentation spec to time; repeat for several (e.g. --method cutout:n=1,s=16 --method cutmix)
        #[arg(long = "method", value_name = "SPEC", default_value = "cutout:n=1,s=16")]
        methods: Vec<String>,
        /// Batch size; several are separated by commas (64,128)
        #[arg(long, value_delimiter = ',', default_value = "128")]
        batch: Vec<usize>,
        /// Input as CxHxW
        #[arg(long, default_value = "3x32x32")]
        input: String,
        /// Untimed batches first
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Timed batches (the times are their average)
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Backend: flex (default CPU), ndarray (needs --features ndarray), cuda (needs --features cuda)
        #[arg(long, default_value = "flex")]
        backend: String,
    },
}

pub fn exec(args: Args) -> Result<()> {
    match args.command {
        BenchCommand::TrainStep { model, batch, input, classes, warmup, steps, backend, saliency } => {
            let dims = parse_chw(&input)?;
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
            let saliency = match saliency.as_str() {
                "none" => None,
                m => Some(SaliencyMethod::parse(m).context("--saliency")?),
            };
            let result = bench_train_step(&cfg, &backend, saliency.as_ref())?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        BenchCommand::Epoch { config, augments, epochs, out, backend } => {
            let mut cfg = occlude::train::config::RunConfig::load(&config)?;
            if let Some(e) = epochs {
                cfg.epochs = e;
            }
            let augments = if augments.is_empty() {
                [
                    "cutout:n=1,s=14",
                    "keep-cutout:n=1,s=14",
                    "keep-cutout:n=1,s=14,saliency=low-res",
                    "keep-cutout:n=1,s=14,saliency=early-loss",
                ]
                .map(String::from)
                .to_vec()
            } else {
                augments
            };
            use occlude::bench::epoch_time;
            let results = match backend.as_str() {
                "flex" | "cpu" => epoch_time::<occlude::backend::CpuAutodiff>(
                    &cfg,
                    &augments,
                    &out,
                    &Default::default(),
                    "cpu (flex)",
                )?,
                #[cfg(feature = "cuda")]
                "cuda" => {
                    epoch_time::<occlude::backend::CudaAutodiff>(&cfg, &augments, &out, &Default::default(), "cuda")?
                }
                other => {
                    bail!("--backend {other:?}: not available in this build (flex always; cuda needs --features cuda)")
                }
            };
            for r in results {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        BenchCommand::Augment { methods, batch, input, warmup, steps, backend } => {
            let [channels, height, width] = parse_chw(&input)?;
            if steps == 0 || batch.contains(&0) {
                bail!("--batch and --steps must be at least 1");
            }
            let specs = methods
                .iter()
                .map(|m| AugmentSpec::parse(m).with_context(|| format!("--method {m:?}")))
                .collect::<Result<Vec<_>>>()?;
            for spec in specs {
                for &batch in &batch {
                    let cfg = occlude::augment::bench::AugmentBench {
                        spec: spec.clone(),
                        batch,
                        channels,
                        height,
                        width,
                        warmup,
                        iters: steps,
                    };
                    let result = bench_augment(&cfg, &backend).with_context(|| format!("--method {spec}"))?;
                    println!("{}", serde_json::to_string(&result)?);
                }
            }
            Ok(())
        }
    }
}

fn bench_train_step(
    cfg: &occlude::bench::StepBench,
    backend: &str,
    saliency: Option<&SaliencyMethod>,
) -> Result<occlude::bench::StepBenchResult> {
    use occlude::bench::train_step_with_saliency as step;
    match backend {
        "flex" | "cpu" => step::<occlude::backend::CpuAutodiff>(cfg, saliency, &Default::default()),
        #[cfg(feature = "ndarray")]
        "ndarray" => step::<occlude::backend::NdArrayAutodiff>(cfg, saliency, &Default::default()),
        #[cfg(feature = "cuda")]
        "cuda" => step::<occlude::backend::CudaAutodiff>(cfg, saliency, &Default::default()),
        other => bail!("--backend {other:?}: not available in this build (flex always; ndarray and cuda need --features ndarray / cuda)"),
    }
}

/// Parses `CxHxW` (e.g. `3x32x32`).
fn parse_chw(input: &str) -> Result<[usize; 3]> {
    input
        .split('x')
        .map(|d| d.trim().parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()
        .and_then(|d| <[usize; 3]>::try_from(d).ok())
        .filter(|d| d.iter().all(|&v| v > 0))
        .with_context(|| format!("--input {input:?}: expected CxHxW, e.g. 3x32x32"))
}

fn bench_augment(
    cfg: &occlude::augment::bench::AugmentBench,
    backend: &str,
) -> Result<occlude::augment::bench::AugmentBenchResult> {
    use occlude::augment::bench::augment_apply;
    match backend {
        "flex" | "cpu" => augment_apply::<occlude::backend::CpuBackend>(cfg, &Default::default()),
        // The library names no plain ndarray backend; the autodiff wrapper records nothing here.
        #[cfg(feature = "ndarray")]
        "ndarray" => augment_apply::<occlude::backend::NdArrayAutodiff>(cfg, &Default::default()),
        #[cfg(feature = "cuda")]
        "cuda" => augment_apply::<occlude::backend::CudaBackend>(cfg, &Default::default()),
        other => bail!("--backend {other:?}: not available in this build (flex always; ndarray and cuda need --features ndarray / cuda)"),
    }
}
