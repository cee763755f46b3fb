//! The training loop: SGD over augmented batches, evaluation every epoch, metrics,
//! plots and atomic checkpoints, resumable at any epoch or checkpointed step.

pub mod checkpoint;
pub mod config;
pub mod loss;
pub mod metrics;
pub mod schedule;
pub mod sgd;

pub use config::RunConfig;

use crate::augment::{AugmentInput, AugmentPlan, Targets};
use crate::data::{load_dataset, DataSplits, HostBatch, Loader, LoaderConfig};
use crate::models::params::load_named;
use crate::models::{Ctx, Network};
use crate::report::{self, EpochMetrics, Summary};
use crate::rng::{derive_seed, Stream};
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use checkpoint::RunState;
use metrics::{topk_correct, Tally};
use sgd::{Sgd, SgdConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How `occlude train` treats an existing output directory and the terminal.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue from the checkpoint in the output directory.
    pub resume: bool,
    /// Start over even if the output directory holds another run.
    pub force: bool,
    /// No progress bar or per-epoch lines.
    pub quiet: bool,
    /// Name of the device, for the summary.
    pub device_name: String,
    /// When set (by a Ctrl-C handler), the run stops after the current step and
    /// writes a checkpoint; [`Interrupted`] is returned.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The error returned when a run stopped on request after writing a checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("interrupted after step {step} (epoch {epoch}, batch {batch}); checkpoint written to {path}; continue with --resume")]
pub struct Interrupted {
    pub step: usize,
    pub epoch: usize,
    pub batch: usize,
    pub path: PathBuf,
}

/// Files of a run directory.
pub struct RunPaths {
    pub dir: PathBuf,
}

impl RunPaths {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.json")
    }
    pub fn curves(&self) -> PathBuf {
        self.dir.join("curves.png")
    }
}

fn workers(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    }
}

/// Builds the evaluation loader of a dataset.
pub fn eval_loader(splits: &DataSplits, batch_size: usize, workers_: usize) -> Result<Loader> {
    Loader::new(splits.test.clone(), splits.eval_preprocess.clone(), LoaderConfig::eval(batch_size, workers(workers_)))
}

/// Uploads a host batch's images and labels.
pub fn to_device<B: Backend>(
    batch: &HostBatch,
    images: Vec<f32>,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let x = Tensor::from_data(TensorData::new(images, batch.dims), device);
    let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
    let y = Tensor::from_data(TensorData::new(labels, [batch.labels.len()]), device);
    (x, y)
}

/// Loss, top-1 and top-5 of `model` (running batch-norm statistics) on a loader.
pub fn evaluate<B: Backend>(model: &Network<B>, loader: &Loader, device: &B::Device) -> Result<Tally> {
    let mut tally = Tally::default();
    let classes = loader.dataset().num_classes();
    for batch in loader.epoch(0, 0) {
        let mut batch = batch?;
        let images = std::mem::take(&mut batch.images);
        let (x, y) = to_device::<B>(&batch, images, device);
        let logits = model.forward(x, false);
        let loss = loss::cross_entropy(logits.clone(), &Targets::Hard(y), 0.0);
        let n = batch.len();
        let host: Vec<f32> = logits.into_data().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let l: f32 = loss.into_scalar().elem();
        tally.loss_sum += l as f64 * n as f64;
        tally.top1 += topk_correct(&host, classes, &batch.labels, 1);
        tally.top5 += topk_correct(&host, classes, &batch.labels, 5.min(classes));
        tally.count += n;
    }
    Ok(tally)
}

/// Checks that `dir` may receive this run's output.
fn prepare_output(paths: &RunPaths, config_toml: &str, opts: &TrainOptions) -> Result<()> {
    let existing_config = std::fs::read_to_string(paths.config()).ok();
    let has_checkpoint = paths.checkpoint().exists();
    if opts.resume {
        if !has_checkpoint {
            bail!("--resume: no checkpoint at {}", paths.checkpoint().display());
        }
        return Ok(());
    }
    if opts.force {
        for p in [paths.checkpoint(), paths.state(), paths.metrics(), paths.summary(), paths.curves()] {
            let _ = std::fs::remove_file(p);
        }
        return Ok(());
    }
    match existing_config {
        Some(c) if c != config_toml => bail!(
            "{} holds a different run (its config.toml differs); choose another output_dir, or pass --force to overwrite it",
            paths.dir.display()
        ),
        _ if has_checkpoint => bail!(
            "{} already holds a checkpoint of this run; pass --resume to continue it or --force to start over",
            paths.dir.display()
        ),
        _ => Ok(()),
    }
}

/// Trains the run `cfg` describes on `device`, returning its summary.
pub fn train<B: AutodiffBackend>(cfg: &RunConfig, device: &B::Device, opts: &TrainOptions) -> Result<Summary> {
    let paths = RunPaths::new(&cfg.output_dir);
    let config_toml = cfg.to_toml()?;
    prepare_output(&paths, &config_toml, opts)?;
    let plan = AugmentPlan::from_config(&cfg.augment)?;
    let splits = load_dataset(&cfg.data).context("loading data")?;
    let train_loader = Loader::new(
        splits.train.clone(),
        splits.train_preprocess.clone(),
        LoaderConfig {
            batch_size: cfg.optimizer.batch_size,
            workers: workers(cfg.loader.workers),
            prefetch: cfg.loader.prefetch,
            shuffle: true,
            // The last incomplete batch is dropped: a tiny batch would give noisy
            // batch-norm statistics. The order is reshuffled every epoch, so the
            // dropped samples differ from epoch to epoch.
            drop_last: splits.train.len() >= cfg.optimizer.batch_size,
            copies: plan.loader_copies(),
            passes: plan.loader_passes(),
            seed: cfg.seed,
            image_ops: plan.loader_image_ops(),
        },
    )?;
    let eval_bs = if cfg.loader.eval_batch_size > 0 { cfg.loader.eval_batch_size } else { cfg.optimizer.batch_size };
    let test_loader = eval_loader(&splits, eval_bs, cfg.loader.workers)?;

    B::seed(device, derive_seed(cfg.seed, Stream::Init, 0, 0, 0));
    let mut model: Network<B> = cfg.model.init(splits.channels, splits.num_classes, device)?;
    let mut sgd = Sgd::<B>::new(SgdConfig {
        momentum: cfg.optimizer.momentum,
        nesterov: cfg.optimizer.nesterov,
        weight_decay: cfg.optimizer.weight_decay,
    });
    let mut state = RunState::default();
    if opts.resume {
        let ck = checkpoint::load(&paths.checkpoint())?;
        if ck.config_toml != config_toml {
            bail!(
                "--resume: the checkpoint in {} was written with a different configuration; run with the same config (see {})",
                paths.dir.display(),
                paths.config().display()
            );
        }
        model = load_named(model, ck.model).context("loading checkpoint weights")?;
        sgd.load_state(ck.momentum, device);
        state = ck.state;
        if !opts.quiet {
            eprintln!(
                "resuming {} at epoch {} batch {} (step {})",
                paths.dir.display(),
                state.epoch + 1,
                state.batch,
                state.step
            );
        }
    }
    std::fs::create_dir_all(&paths.dir).with_context(|| format!("creating {}", paths.dir.display()))?;
    crate::io::write_atomic(&paths.config(), config_toml.as_bytes())?;

    let mut augment = plan.build::<B>();
    let steps_per_epoch = train_loader.batches_per_epoch();
    let classes = splits.num_classes;
    let early = model.has_early_head();
    let log_every = cfg.train.log_every_steps;
    // Stochastic layers draw from (seed, step); schedules see step / total steps.
    let total_steps = steps_per_epoch * cfg.epochs;
    let ctx_at = |seed: u64, step: usize| Ctx::train_at(seed, step, total_steps);

    for epoch in state.epoch..cfg.epochs {
        let bar = progress_bar(steps_per_epoch, epoch, cfg.epochs, opts.quiet);
        bar.set_position(state.batch as u64);
        let mut tally = state.partial;
        let mut seen_images = 0usize;
        let started = Instant::now();
        let mut pending = PendingLog::<B::InnerBackend>::default();
        let mut lr = 0.0;
        let flush = |pending: &mut PendingLog<B::InnerBackend>, tally: &mut Tally| {
            pending.flush(tally).map_err(|step| {
                anyhow::anyhow!(
                    "training loss became non-finite at step {step} (epoch {}); stopped before writing non-finite weights. The last good checkpoint, if any, is kept at {}",
                    epoch + 1,
                    paths.checkpoint().display()
                )
            })
        };
        for batch in train_loader.epoch(epoch, state.batch) {
            let mut batch = batch?;
            let images = std::mem::take(&mut batch.images);
            let (x, y) = to_device::<B>(&batch, images, device);
            let step_batch = augment.apply(AugmentInput {
                host: &batch,
                images: x,
                labels: y,
                model: &model,
                epoch,
                num_classes: classes,
                seed: cfg.seed,
            })?;
            let n = step_batch.images.dims()[0];
            lr = schedule::learning_rate(&cfg.schedule, cfg.optimizer.lr, state.step, steps_per_epoch, cfg.epochs);
            let (logits, early_logits) =
                model.forward_with(step_batch.images, &mut ctx_at(cfg.seed, state.step).with_early_head(early));
            let mut loss = loss::cross_entropy(logits.clone(), &step_batch.targets, cfg.train.label_smoothing);
            if let Some(e) = early_logits {
                let head = loss::cross_entropy(e, &step_batch.targets, cfg.train.label_smoothing);
                loss = loss + head.mul_scalar(cfg.train.early_loss_weight);
            }
            let hard = match &step_batch.targets {
                Targets::Hard(y) => y.clone(),
                Targets::Soft(q) => q.clone().argmax(1).reshape([n]),
            };
            let correct = logits.detach().argmax(1).reshape([n]).equal(hard).int().sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = sgd.step(lr, model, grads);
            pending.push(state.step + 1, loss.detach().inner(), correct.inner(), n);
            seen_images += n;
            state.step += 1;
            state.batch += 1;
            bar.inc(1);
            if state.step % log_every == 0 {
                flush(&mut pending, &mut tally)?;
                let secs = started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "loss {:.4}  {:.0} img/s  lr {:.4}",
                    tally.loss(),
                    seen_images as f64 / secs.max(1e-9),
                    lr
                ));
            }
            let every = cfg.train.checkpoint_every_steps;
            let interrupted = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
            if interrupted || (every > 0 && state.step % every == 0 && state.batch < steps_per_epoch) {
                flush(&mut pending, &mut tally)?;
                state.partial = tally;
                state.partial_seconds += started.elapsed().as_secs_f64();
                checkpoint::save(&paths.checkpoint(), &model, &sgd, &state, &config_toml)?;
                state.partial_seconds -= started.elapsed().as_secs_f64();
            }
            if interrupted {
                bar.abandon();
                return Err(Interrupted {
                    step: state.step,
                    epoch: epoch + 1,
                    batch: state.batch,
                    path: paths.checkpoint(),
                }
                .into());
            }
        }
        flush(&mut pending, &mut tally)?;
        bar.finish_and_clear();
        let train_seconds = state.partial_seconds + started.elapsed().as_secs_f64();
        let test = evaluate(&model.valid(), &test_loader, device)?;
        let images_total = tally.count as f64;
        let m = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: tally.loss(),
            train_top1: tally.top1(),
            test_loss: test.loss(),
            test_top1: test.top1(),
            test_top5: test.top5(),
            train_seconds,
            images_per_second: images_total / train_seconds.max(1e-9),
        };
        if !opts.quiet {
            eprintln!(
                "epoch {:>3}/{}  train loss {:.4} top-1 {:.2}%  |  test loss {:.4} top-1 {:.2}% top-5 {:.2}%  |  {:.1}s, {:.0} img/s",
                m.epoch, cfg.epochs, m.train_loss, 100.0 * m.train_top1, m.test_loss, 100.0 * m.test_top1,
                100.0 * m.test_top5, m.train_seconds, m.images_per_second
            );
        }
        state.history.push(m);
        state.elapsed_seconds += train_seconds;
        state.epoch = epoch + 1;
        state.batch = 0;
        state.partial = Tally::default();
        state.partial_seconds = 0.0;
        checkpoint::save(&paths.checkpoint(), &model, &sgd, &state, &config_toml)?;
        crate::io::write_json_atomic(&paths.state(), &state)?;
        report::write_metrics(&paths.metrics(), &state.history)?;
        report::plot::training_curves(&paths.curves(), &format!("{} — {}", cfg.name, cfg.model.arch), &state.history)?;
    }

    let last = state.history.last().context("no epoch was trained")?;
    let total_images: f64 = state.history.iter().map(|m| m.images_per_second * m.train_seconds).sum();
    let summary = Summary {
        name: cfg.name.clone(),
        model: cfg.model.arch.clone(),
        dataset: format!("{:?}", cfg.data.kind),
        augment: cfg.augment.method.clone(),
        paradigm: cfg.augment.paradigm.clone(),
        epochs: state.history.len(),
        top1: last.test_top1,
        top5: last.test_top5,
        test_loss: last.test_loss,
        eval_samples: splits.test.len(),
        wall_seconds: state.elapsed_seconds,
        images_per_second: total_images / state.elapsed_seconds.max(1e-9),
        device: opts.device_name.clone(),
        seed: cfg.seed,
        bad_images_skipped: splits.train.bad_images_skipped() + splits.test.bad_images_skipped(),
    };
    report::write_summary(&paths.summary(), &summary)?;
    Ok(summary)
}

/// Per-step losses and correct counts still on the device: reading them back every
/// step would synchronise a GPU each step, so they are read in groups.
struct PendingLog<B: Backend> {
    steps: Vec<PendingStep<B>>,
}

struct PendingStep<B: Backend> {
    /// 1-based step number.
    step: usize,
    loss: Tensor<B, 1>,
    correct: Tensor<B, 1, Int>,
    images: usize,
}

impl<B: Backend> Default for PendingLog<B> {
    fn default() -> Self {
        Self { steps: Vec::new() }
    }
}

impl<B: Backend> PendingLog<B> {
    fn push(&mut self, step: usize, loss: Tensor<B, 1>, correct: Tensor<B, 1, Int>, n: usize) {
        self.steps.push(PendingStep { step, loss, correct, images: n });
    }

    /// Adds the pending steps to `tally`; on a non-finite loss returns its step number.
    fn flush(&mut self, tally: &mut Tally) -> std::result::Result<(), usize> {
        for PendingStep { step, loss, correct, images: n } in self.steps.drain(..) {
            let l = loss.into_scalar().elem::<f32>() as f64;
            if !l.is_finite() {
                return Err(step);
            }
            tally.loss_sum += l * n as f64;
            tally.top1 += correct.into_scalar().elem::<i64>() as usize;
            tally.count += n;
        }
        Ok(())
    }
}

fn progress_bar(len: usize, epoch: usize, epochs: usize, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "epoch {}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ETA {{eta}}",
            epoch + 1
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Rebuilds the model stored in a checkpoint (with the configuration saved inside it)
/// and evaluates it on its evaluation split, or on `data` when given.
pub fn evaluate_checkpoint<B: Backend>(
    checkpoint_path: &Path,
    data: Option<crate::data::DatasetSpec>,
    batch_size: usize,
    device: &B::Device,
) -> Result<(RunConfig, Tally)> {
    let ck = checkpoint::load(checkpoint_path)?;
    let cfg = RunConfig::from_toml_str(&ck.config_toml, None).with_context(|| {
        format!("{}: the configuration stored in the checkpoint is invalid", checkpoint_path.display())
    })?;
    let spec = data.unwrap_or_else(|| cfg.data.clone());
    let splits = load_dataset(&spec)?;
    let model: Network<B> = cfg.model.init(splits.channels, splits.num_classes, device)?;
    let model = load_named(model, ck.model).with_context(|| format!("loading {}", checkpoint_path.display()))?;
    let loader = eval_loader(&splits, batch_size, 0)?;
    Ok((cfg, evaluate(&model, &loader, device)?))
}
