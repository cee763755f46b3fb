//! `occlude`: the command-line front end. Every command is a thin wrapper over the
//! `occlude` library.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use occlude::augment::params::{ImageOp, OpKind};
use occlude::augment::spec::{AugmentSpec, METHOD_NAMES};
use occlude::backend::DeviceKind;
use occlude::data::{DatasetKind, DatasetSpec, ImageU8};
use occlude::saliency::SaliencyMethod;
use occlude::train::{RunConfig, TrainOptions};
use std::path::{Path, PathBuf};

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
    /// Apply one AutoAugment / RandAugment op to an 8-bit image (PNG in, PNG out)
    #[command(long_about = "Apply one AutoAugment / RandAugment image op to an 8-bit image, deterministically.\n\n\
        The ops follow PIL's ImageOps / ImageEnhance semantics as torchvision applies them, so the \
        output can be compared pixel by pixel with Python. Greyscale and RGB images are kept as \
        they are (alpha is dropped); the result is written as PNG. A JSON report on stdout gives \
        the PIL argument the magnitude maps to (e.g. the solarize threshold).\n\n\
        Example: occlude augment --op solarize --magnitude 15 --input in.png --output out.png")]
    Augment {
        /// The op: identity, autocontrast, equalize, invert, rotate, solarize, color, posterize, contrast,
        /// brightness, sharpness, shear-x, shear-y, translate-x, translate-y
        #[arg(long)]
        op: String,
        /// Magnitude on the 0–30 scale (30 = AutoAugment's largest distortion; the RandAugment paper's
        /// M on 0–10 is 3·M). Required for ops that use it; autocontrast, equalize, invert and identity
        /// ignore it
        #[arg(long)]
        magnitude: Option<f32>,
        /// Direction of a signed op (rotate, color, contrast, brightness, sharpness, shear-*,
        /// translate-*): + (default) or - (write --sign=- or --sign -)
        #[arg(long, allow_hyphen_values = true)]
        sign: Option<String>,
        /// Grey level (0–255) of the pixels a rotation, shear or translation uncovers
        #[arg(long, default_value_t = 0)]
        fill: u8,
        /// The image to transform (PNG or JPEG, 8-bit greyscale or RGB)
        #[arg(long)]
        input: PathBuf,
        /// Where to write the result (always PNG)
        #[arg(long)]
        output: PathBuf,
    },
    /// Draw a grid of training samples: originals (top row) and their augmentation (bottom row)
    #[command(long_about = "Draw a grid of training samples: originals on the top row and the same crops \
        augmented on the bottom row, made by the same loader and batched apply as training.\n\n\
        The dataset is the Fashion-MNIST subset built into occlude unless --data or --config says \
        otherwise. A JSON description of every column (dataset index, label, image ops, occlusion \
        parameters) is printed on stdout.\n\n\
        Example: occlude preview --augment cutout:n=1,s=8 --out grid.png")]
    Preview {
        /// Augmentation spec, as augment.method in a run config: e.g. cutout:n=1,s=16,
        /// hide-and-seek:g=4, randaugment:n=2,m=9+cutout:n=1,s=16 (default: the config's augment.method)
        #[arg(long)]
        augment: Option<String>,
        /// Take the dataset, augmentation and seed from this run configuration (flags override them)
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Dataset directory (overrides data.path of --config); without --config its kind is
        /// --kind, or recognised from the files in it
        #[arg(long)]
        data: Option<PathBuf>,
        /// Dataset kind: embedded, fashion-mnist, cifar10, cifar100, image-folder
        /// (default: embedded, or recognised from the --data directory)
        #[arg(long)]
        kind: Option<String>,
        /// Where to write the grid PNG
        #[arg(long)]
        out: PathBuf,
        /// Number of samples (columns)
        #[arg(long, default_value_t = 8)]
        count: usize,
        /// Random seed of the shuffle, crops and augmentation draws (default: the config's seed, or 0)
        #[arg(long)]
        seed: Option<u64>,
        /// Epoch whose draws are shown (draws differ from epoch to epoch)
        #[arg(long, default_value_t = 0)]
        epoch: usize,
        /// Checkpoint whose saliency guides saliency-guided methods (keep-*, saliency-occlusion); adds a
        /// row of saliency maps with the chosen regions outlined
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Saliency map of one image under a trained checkpoint (heat-map PNG, optional raw .npy)
    #[command(long_about = "Compute the saliency map of one image under a trained checkpoint: which pixels \
        the network's decision depends on.\n\n\
        The image is preprocessed as the run's evaluation images are (resized and centre-cropped \
        if its size differs). The heat map is written as a PNG (input, map, overlay); --raw writes \
        the map's values (H×W float32) as a NumPy .npy file. A JSON report (prediction, class \
        explained, map statistics) is printed on stdout.\n\n\
        Example: occlude saliency --checkpoint runs/demo/checkpoint.safetensors --input shoe.png \
        --method vanilla --out map.png --raw map.npy")]
    Saliency {
        /// A checkpoint.safetensors written by `occlude train`
        #[arg(long)]
        checkpoint: PathBuf,
        /// The image to explain (PNG or JPEG)
        #[arg(long)]
        input: PathBuf,
        /// Class whose logit is explained (default: the class with the largest logit)
        #[arg(long)]
        label: Option<usize>,
        /// vanilla, gradxact:<layer> (e.g. gradxact:layer3.0.conv1), low-res, or early-loss
        /// (needs a model trained with model.early_head = true)
        #[arg(long, default_value = "vanilla")]
        method: String,
        /// Where to write the heat-map PNG
        #[arg(long)]
        out: PathBuf,
        /// Also write the raw map (H×W float32) as a .npy file
        #[arg(long)]
        raw: Option<PathBuf>,
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
            command: BenchCommand::TrainStep { model, batch, input, classes, warmup, steps, backend, saliency },
        } => {
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
        Command::Bench { command: BenchCommand::Epoch { config, augments, epochs, out } } => {
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
            let results = occlude::bench::epoch_time::<occlude::backend::CpuAutodiff>(
                &cfg,
                &augments,
                &out,
                &Default::default(),
                "cpu (flex)",
            )?;
            for r in results {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Augment { methods, batch, input, warmup, steps, backend } } => {
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
        Command::Augment { op, magnitude, sign, fill, input, output } => {
            let report = augment_file(&op, magnitude, sign.as_deref(), fill, &input, &output)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Preview { augment, config, data, kind, out, count, seed, epoch, checkpoint } => {
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
                Some(path) => Some(
                    occlude::saliency::explain::load_model::<occlude::backend::CpuAutodiff>(path, &Default::default())?
                        .1,
                ),
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
        Command::Saliency { checkpoint, input, label, method, out, raw, device } => {
            let method = SaliencyMethod::parse(&method).context("--method")?;
            let req = occlude::saliency::explain::ExplainRequest { checkpoint, input, label, method, out, raw };
            let report = match device {
                DeviceKind::Cpu => {
                    occlude::saliency::explain::explain::<occlude::backend::CpuAutodiff>(&req, &Default::default())?
                }
                DeviceKind::Cuda => cuda_explain(&req)?,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Models => {
            for row in occlude::models::catalog()? {
                println!("{}", row.display());
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

/// The names of every op, for messages.
fn op_names() -> String {
    OpKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

/// What `op_argument` means for an op, for the report.
fn argument_meaning(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Solarize => "threshold: values >= it are inverted",
        OpKind::Posterize => "bits kept",
        OpKind::Rotate => "degrees, counter-clockwise",
        OpKind::ShearX | OpKind::ShearY => "shear factor",
        OpKind::TranslateX | OpKind::TranslateY => "pixels",
        OpKind::Brightness | OpKind::Color | OpKind::Contrast | OpKind::Sharpness => "enhance factor",
        OpKind::Identity | OpKind::AutoContrast | OpKind::Equalize | OpKind::Invert => "none",
    }
}

/// `occlude augment`: one op on one image file.
fn augment_file(
    op: &str,
    magnitude: Option<f32>,
    sign: Option<&str>,
    fill: u8,
    input: &Path,
    output: &Path,
) -> Result<serde_json::Value> {
    let kind = OpKind::parse(op).with_context(|| format!("--op {op:?}: unknown op; expected one of {}", op_names()))?;
    let negative = match sign {
        None => false,
        Some(s) if !kind.signed() => {
            let signed: Vec<&str> = OpKind::ALL.iter().filter(|k| k.signed()).map(|k| k.name()).collect();
            bail!("--sign {s:?}: {} has no direction; only {} take --sign", kind.name(), signed.join(", "))
        }
        Some("+" | "pos" | "positive") => false,
        Some("-" | "neg" | "negative") => true,
        Some(s) => bail!("--sign {s:?}: expected + or -"),
    };
    let magnitude = match (magnitude, kind.has_magnitude()) {
        (Some(m), _) if !(0.0..=30.0).contains(&m) => {
            bail!("--magnitude {m}: must be in [0, 30] (the 0–30 scale; the RandAugment paper's M on 0–10 is 3·M)")
        }
        (Some(m), true) => m,
        (None, true) => bail!("--magnitude: {} needs a magnitude in [0, 30], e.g. --magnitude 15", kind.name()),
        (m, false) => {
            if m.is_some_and(|m| m != 0.0) {
                eprintln!("note: {} takes no magnitude; --magnitude is ignored", kind.name());
            }
            0.0
        }
    };
    let (img, mut notes) = read_image_u8(input)?;
    let image_op = ImageOp::new(kind, magnitude, negative);
    let out = occlude::augment::ops::apply_op(&img, &image_op, fill);
    occlude::io::write_atomic(output, &encode_png(to_dynamic(&out)?)?)?;
    if output.extension().is_some_and(|e| !e.eq_ignore_ascii_case("png")) {
        notes.push(format!("{} was written as PNG", output.display()));
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    Ok(serde_json::json!({
        "op": kind.name(),
        "magnitude": magnitude,
        "negative": negative,
        "argument": occlude::augment::ops::op_argument(&image_op, img.width, img.height),
        "argument_meaning": argument_meaning(kind),
        "fill": fill,
        "input": input,
        "output": output,
        "channels": img.channels,
        "height": img.height,
        "width": img.width,
        "notes": notes,
    }))
}

/// Decodes an 8-bit greyscale or RGB image file (alpha dropped) as a `C×H×W` image.
fn read_image_u8(path: &Path) -> Result<(ImageU8, Vec<String>)> {
    use image::ColorType;
    let mut notes = Vec::new();
    let img = occlude::saliency::explain::decode_image(path, &mut notes)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let color = img.color();
    match color {
        ColorType::L8 | ColorType::La8 => Ok((ImageU8::new(1, h, w, img.to_luma8().into_raw()), notes)),
        ColorType::Rgb8 | ColorType::Rgba8 => Ok((ImageU8::from_rgb8(&img.to_rgb8()), notes)),
        other => bail!(
            "{}: a {other:?} image; the ops work on 8-bit greyscale or RGB images (convert it first)",
            path.display()
        ),
    }
}

/// A `C×H×W` image (1 or 3 channels) as an `image` crate image.
fn to_dynamic(img: &ImageU8) -> Result<image::DynamicImage> {
    let (w, h) = (img.width as u32, img.height as u32);
    let n = img.height * img.width;
    let built = match img.channels {
        1 => image::GrayImage::from_raw(w, h, img.data.clone()).map(image::DynamicImage::ImageLuma8),
        3 => {
            let data = (0..n).flat_map(|i| (0..3).map(move |c| img.data[c * n + i])).collect();
            image::RgbImage::from_raw(w, h, data).map(image::DynamicImage::ImageRgb8)
        }
        c => bail!("cannot write a {c}-channel image as PNG"),
    };
    built.context("image buffer size")
}

fn encode_png(img: image::DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png).context("encoding PNG")?;
    Ok(bytes.into_inner())
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

#[cfg(feature = "cuda")]
fn cuda_explain(req: &occlude::saliency::explain::ExplainRequest) -> Result<occlude::saliency::explain::ExplainReport> {
    occlude::saliency::explain::explain::<occlude::backend::CudaAutodiff>(req, &Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda_explain(_: &occlude::saliency::explain::ExplainRequest) -> Result<occlude::saliency::explain::ExplainReport> {
    bail!("this occlude was built without CUDA support; rebuild with `cargo build --release --features cuda`")
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
