//! The training loop, the same for every [`Task`]: SGD or Adam with the configured schedule,
//! evaluation every epoch, metrics, plots and atomic checkpoints, resumable at any
//! epoch or checkpointed step, stopped cleanly by Ctrl-C.

use super::checkpoint::{self, RunState};
use super::metrics::EpochSums;
use super::optimizer::Optimizer;
use super::schedule;
use super::task::{StepInfo, Task};
use super::{Interrupted, RunConfig, RunPaths, TrainOptions};
use crate::models::params::load_named;
use crate::report::{self, EpochMetrics, Summary};
use crate::rng::{derive_seed, Stream};
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

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

/// Reads the checkpoint a run is initialised from (`train.init_from`), refusing one
/// that this run would overwrite.
fn read_init_source(source: &Path, paths: &RunPaths) -> Result<(PathBuf, checkpoint::Checkpoint)> {
    let ours = paths.checkpoint();
    let same = |a: &Path, b: &Path| a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b);
    if same(source, &ours) {
        bail!(
            "train.init_from {}: that is this run's own checkpoint, which the run would overwrite; \
             fine-tune into another output directory",
            source.display()
        );
    }
    let ck = checkpoint::load(source).with_context(|| format!("train.init_from {}", source.display()))?;
    Ok((source.to_path_buf(), ck))
}

/// Trains the task `build` makes (called once the output directory is known to be
/// usable) as `cfg` describes, returning the run's summary.
pub fn run<B, T, F>(cfg: &RunConfig, device: &B::Device, opts: &TrainOptions, build: F) -> Result<Summary>
where
    B: AutodiffBackend,
    T: Task<B>,
    F: FnOnce() -> Result<T>,
{
    let paths = RunPaths::new(&cfg.output_dir);
    let config_toml = cfg.to_toml()?;
    // Read before the output directory is touched: a bad source leaves it as it was.
    let init = match &cfg.train.init_from {
        Some(source) if !opts.resume => Some(read_init_source(source, &paths)?),
        _ => None,
    };
    prepare_output(&paths, &config_toml, opts)?;
    let mut task = build()?;

    B::seed(device, derive_seed(cfg.seed, Stream::Init, 0, 0, 0));
    let mut model = task.init_model(device)?;
    if let Some((source, ck)) = init {
        let there = RunConfig::from_toml_str(&ck.config_toml, None).map(|c| c.model.arch).unwrap_or_default();
        model = load_named(model, ck.model).with_context(|| {
            format!(
                "train.init_from {}: its network ({there}) does not fit this run's ({}) tensor for tensor",
                source.display(),
                cfg.model.arch
            )
        })?;
        if !opts.quiet {
            eprintln!(
                "initialised from {} ({there}, epoch {} of its run); fresh optimiser and schedule",
                source.display(),
                ck.state.epoch
            );
        }
    }
    let mut sgd = Optimizer::<B>::new(&cfg.optimizer);
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
        sgd.load_state(ck.momentum, device).context("restoring the optimiser's state from the checkpoint")?;
        state = ck.state;
        state.partial = state.partial.upgraded();
        task.restore(&state.task).context("restoring the task's state from the checkpoint")?;
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
    task.write_files(&paths.dir)?;

    let steps_per_epoch = task.steps_per_epoch();
    let log_every = cfg.train.log_every_steps;
    let mut eval_samples = None;
    let save = |model: &T::Model, sgd: &Optimizer<B>, state: &mut RunState, task: &T| -> Result<()> {
        state.task = task.state()?;
        checkpoint::save(&paths.checkpoint(), model, sgd, state, &config_toml)
    };

    for epoch in state.epoch..cfg.epochs {
        let bar = progress_bar(steps_per_epoch, epoch, cfg.epochs, opts.quiet);
        bar.set_position(state.batch as u64);
        let mut sums = std::mem::take(&mut state.partial);
        let mut seen_images = 0usize;
        let started = Instant::now();
        let mut pending = PendingLog::<B::InnerBackend>::default();
        // The last step's rate, should no step be left in this epoch (a run interrupted
        // after an epoch's last batch and resumed).
        let mut lr = schedule::learning_rate(
            &cfg.schedule,
            cfg.optimizer.lr,
            state.step.saturating_sub(1),
            steps_per_epoch,
            cfg.epochs,
        );
        let flush = |pending: &mut PendingLog<B::InnerBackend>, sums: &mut EpochSums| {
            pending.flush(sums).map_err(|step| {
                anyhow::anyhow!(
                    "training loss became non-finite at step {step} (epoch {}); stopped before writing non-finite weights. The last good checkpoint, if any, is kept at {}",
                    epoch + 1,
                    paths.checkpoint().display()
                )
            })
        };
        for batch in task.batches(epoch, state.batch) {
            let batch = batch?;
            lr = schedule::learning_rate(&cfg.schedule, cfg.optimizer.lr, state.step, steps_per_epoch, cfg.epochs);
            let at =
                StepInfo { epoch, step: state.step, steps_per_epoch, total_steps: steps_per_epoch * cfg.epochs, lr };
            let out = task.step(&model, batch, at)?;
            let grads = out.loss.backward();
            task.after_backward(&grads)?;
            let grads = GradientsParams::from_grads(grads, &model);
            model = sgd.step(lr, model, grads);
            seen_images += out.images;
            pending.steps.push(PendingStep {
                step: state.step + 1,
                loss: out.loss.detach().inner(),
                correct: out.correct,
                scored: out.scored,
                images: out.images,
                metrics: out.metrics,
            });
            state.step += 1;
            state.batch += 1;
            bar.inc(1);
            if state.step % log_every == 0 {
                flush(&mut pending, &mut sums)?;
                let secs = started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "loss {:.4}  {:.0} img/s  lr {:.4}",
                    sums.loss(),
                    seen_images as f64 / secs.max(1e-9),
                    lr
                ));
            }
            let every = cfg.train.checkpoint_every_steps;
            let interrupted = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
            if interrupted || (every > 0 && state.step % every == 0 && state.batch < steps_per_epoch) {
                flush(&mut pending, &mut sums)?;
                state.partial = sums.clone();
                state.partial_seconds += started.elapsed().as_secs_f64();
                save(&model, &sgd, &mut state, &task)?;
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
        flush(&mut pending, &mut sums)?;
        bar.finish_and_clear();
        let train_seconds = state.partial_seconds + started.elapsed().as_secs_f64();
        let eval = task.evaluate(&model.valid(), epoch)?;
        let mut extra = sums.metric_means();
        for (name, v) in eval.metrics {
            if extra.insert(name.clone(), v).is_some() {
                bail!("the task reports {name:?} both per step and at evaluation");
            }
        }
        let m = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: sums.loss(),
            train_top1: sums.top1(),
            test_loss: eval.loss,
            test_top1: eval.top1,
            test_top5: eval.top5,
            train_seconds,
            images_per_second: sums.images as f64 / train_seconds.max(1e-9),
            extra,
        };
        if !opts.quiet {
            let extra: String = m.extra.iter().map(|(k, v)| format!("  {k} {v:.4}")).collect();
            eprintln!(
                "epoch {:>3}/{}  train loss {:.4} top-1 {:.2}%  |  test loss {:.4} top-1 {:.2}% top-5 {:.2}%  |  {:.1}s, {:.0} img/s{}",
                m.epoch, cfg.epochs, m.train_loss, 100.0 * m.train_top1, m.test_loss, 100.0 * m.test_top1,
                100.0 * m.test_top5, m.train_seconds, m.images_per_second, if extra.is_empty() { String::new() } else { format!("  |{extra}") }
            );
        }
        state.history.push(m);
        state.elapsed_seconds += train_seconds;
        state.epoch = epoch + 1;
        state.batch = 0;
        state.partial = EpochSums::default();
        state.partial_seconds = 0.0;
        save(&model, &sgd, &mut state, &task)?;
        crate::io::write_json_atomic(&paths.state(), &state)?;
        report::write_metrics(&paths.metrics(), &state.history)?;
        report::plot::training_curves(&paths.curves(), &format!("{} — {}", cfg.name, cfg.model.arch), &state.history)?;
        eval_samples = Some(eval.samples);
    }
    let eval_samples = match eval_samples {
        Some(n) => n,
        // Resumed after the last epoch: nothing was evaluated in this process.
        None => task.evaluate(&model.valid(), cfg.epochs - 1)?.samples,
    };
    finish(cfg, opts, &paths, &state, eval_samples, task.bad_images_skipped())
}

/// Writes and returns the summary of a finished run.
fn finish(
    cfg: &RunConfig,
    opts: &TrainOptions,
    paths: &RunPaths,
    state: &RunState,
    eval_samples: usize,
    bad_images_skipped: usize,
) -> Result<Summary> {
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
        eval_samples,
        wall_seconds: state.elapsed_seconds,
        images_per_second: total_images / state.elapsed_seconds.max(1e-9),
        device: opts.device_name.clone(),
        seed: cfg.seed,
        bad_images_skipped,
        extra: last.extra.clone(),
    };
    report::write_summary(&paths.summary(), &summary)?;
    Ok(summary)
}

/// Per-step reports still on the device: reading them back every step would
/// synchronise a GPU each step, so they are read in groups.
struct PendingLog<B: Backend> {
    steps: Vec<PendingStep<B>>,
}

struct PendingStep<B: Backend> {
    /// 1-based step number.
    step: usize,
    loss: Tensor<B, 1>,
    correct: Tensor<B, 1, Int>,
    scored: usize,
    images: usize,
    metrics: Vec<(String, Tensor<B, 1>)>,
}

impl<B: Backend> Default for PendingLog<B> {
    fn default() -> Self {
        Self { steps: Vec::new() }
    }
}

impl<B: Backend> PendingLog<B> {
    /// Adds the pending steps to `sums`; on a non-finite loss returns its step number.
    fn flush(&mut self, sums: &mut EpochSums) -> std::result::Result<(), usize> {
        for PendingStep { step, loss, correct, scored, images, metrics } in self.steps.drain(..) {
            let l = loss.into_scalar().elem::<f32>() as f64;
            if !l.is_finite() {
                return Err(step);
            }
            let correct = correct.into_scalar().elem::<i64>() as usize;
            let metrics: Vec<(String, f64)> =
                metrics.into_iter().map(|(k, v)| (k, v.into_scalar().elem::<f32>() as f64)).collect();
            sums.add(l, correct, scored, images, &metrics);
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
