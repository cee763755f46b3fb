//! The loop with a task of its own: what a task reports reaches `metrics.jsonl` and
//! the summary, its state survives an interruption, and a resumed run reproduces the
//! uninterrupted one.

use super::runner::run;
use super::task::{Batches, Evaluation, StepInfo, StepOutput, Task};
use super::{checkpoint, Interrupted, RunConfig, TrainOptions};
use crate::augment::Targets;
use crate::backend::CpuAutodiff;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type A = CpuAutodiff;

#[derive(Module, Debug)]
pub struct Toy<B: Backend> {
    lin: Linear<B>,
}

/// Four 3-d points per batch, three batches per epoch, drawn from `(epoch, batch)`.
fn toy_batch(epoch: usize, batch: usize) -> (Vec<f32>, Vec<i64>) {
    let x: Vec<f32> = (0..12).map(|i| (((epoch * 7 + batch * 5 + i * 3) % 11) as f32 - 5.0) / 5.0).collect();
    let y = (0..4).map(|i| (x[i * 3] > x[i * 3 + 1]) as i64).collect();
    (x, y)
}

/// A task unlike classification: its own batches, an extra per-step metric, an
/// evaluation without loss or top-5, a state of its own and a file in the run
/// directory.
struct ToyTask {
    chosen: Vec<usize>,
    stop: Option<(usize, Arc<AtomicBool>)>,
}

impl Task<A> for ToyTask {
    type Model = Toy<A>;
    type Batch = (Vec<f32>, Vec<i64>);

    fn init_model(&self, device: &<A as burn::tensor::backend::BackendTypes>::Device) -> anyhow::Result<Toy<A>> {
        // Fixed weights, not the backend's random stream, which tests running in
        // parallel in this process share.
        let mut lin = LinearConfig::new(3, 2).init(device);
        let w = Tensor::<A, 2>::from_floats([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], device);
        lin.weight = burn::module::Param::from_tensor(w);
        lin.bias = Some(burn::module::Param::from_tensor(Tensor::from_floats([0.05, -0.05], device)));
        Ok(Toy { lin })
    }

    fn steps_per_epoch(&self) -> usize {
        3
    }

    fn batches(&self, epoch: usize, start: usize) -> Batches<Self::Batch> {
        Box::new((start..3).map(move |b| Ok(toy_batch(epoch, b))))
    }

    fn step(&mut self, model: &Toy<A>, (x, y): Self::Batch, at: StepInfo) -> anyhow::Result<StepOutput<A>> {
        let device = Default::default();
        let x = Tensor::<A, 2>::from_data(TensorData::new(x, [4, 3]), &device);
        let y = Tensor::<A, 1, Int>::from_data(TensorData::new(y, [4]), &device);
        let logits = model.lin.forward(x);
        let loss = super::loss::cross_entropy(logits.clone(), &Targets::Hard(y.clone()), 0.0);
        let correct = logits.detach().argmax(1).reshape([4]).equal(y).int().sum();
        if let Some((step, flag)) = &self.stop {
            if at.step + 1 == *step {
                flag.store(true, Ordering::SeqCst);
            }
        }
        let index = Tensor::<<A as AutodiffBackend>::InnerBackend, 1>::from_floats([at.step as f32], &device);
        Ok(StepOutput {
            loss: loss.clone(),
            images: 4,
            correct: correct.inner(),
            scored: 4,
            metrics: vec![("double_loss".into(), loss.detach().inner().mul_scalar(2.0)), ("step_index".into(), index)],
        })
    }

    fn evaluate(
        &mut self,
        model: &Toy<<A as AutodiffBackend>::InnerBackend>,
        epoch: usize,
    ) -> anyhow::Result<Evaluation> {
        let w: f32 = model.lin.weight.val().sum().into_scalar();
        Ok(Evaluation {
            loss: f64::NAN,
            top1: 0.5,
            top5: f64::NAN,
            samples: 7,
            metrics: BTreeMap::from([("probe".to_string(), 10.0 * epoch as f64 + w as f64)]),
        })
    }

    fn state(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::json!({ "chosen": self.chosen }))
    }

    fn restore(&mut self, state: &serde_json::Value) -> anyhow::Result<()> {
        self.chosen = serde_json::from_value(state["chosen"].clone())?;
        Ok(())
    }

    fn write_files(&self, dir: &Path) -> anyhow::Result<()> {
        crate::io::write_json_atomic(&dir.join("chosen.json"), &self.chosen)
    }
}

fn config(dir: &Path) -> RunConfig {
    let toml = format!(
        "epochs = 2\noutput_dir = \"{}\"\n[data]\nkind = \"embedded\"\n[model]\narch = \"resnet8\"\n\
         [optimizer]\nlr = 0.1\n[train]\ncheckpoint_every_steps = 1\nlog_every_steps = 2\n",
        dir.display()
    );
    RunConfig::from_toml_str(&toml, None).unwrap()
}

fn metrics_without_times(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("train_seconds");
            v.as_object_mut().unwrap().remove("images_per_second");
            v
        })
        .collect()
}

#[test]
fn a_task_reports_its_own_metrics_and_its_state_survives_an_interruption() {
    let tmp = tempfile::tempdir().unwrap();
    let quiet = TrainOptions { quiet: true, ..Default::default() };
    let device = Default::default();

    let reference = tmp.path().join("reference");
    let task = || Ok(ToyTask { chosen: vec![3, 1, 4], stop: None });
    let summary = run::<A, _, _>(&config(&reference), &device, &quiet, task).unwrap();
    let lines = metrics_without_times(&reference);
    assert_eq!(lines.len(), 2);
    for (e, line) in lines.iter().enumerate() {
        let extra = &line["extra"];
        let double = extra["double_loss"].as_f64().unwrap();
        assert!((double - 2.0 * line["train_loss"].as_f64().unwrap()).abs() < 1e-6, "{line}");
        // Steps 0, 1, 2 then 3, 4, 5, each weighted by its 4 scored predictions.
        assert_eq!(extra["step_index"].as_f64().unwrap(), 1.0 + 3.0 * e as f64, "{line}");
        assert!(extra["probe"].as_f64().unwrap() >= 10.0 * e as f64 - 10.0, "{line}");
        assert!(line["test_loss"].is_null() && line["test_top5"].is_null(), "{line}");
        assert_eq!(line["test_top1"], 0.5);
    }
    assert_eq!(summary.eval_samples, 7);
    assert!(summary.test_loss.is_nan() && summary.extra.contains_key("probe"));
    let read = crate::report::read_summary(&reference.join("summary.json")).unwrap();
    assert!((read.extra["probe"] - summary.extra["probe"]).abs() < 1e-12);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["task"]["chosen"], serde_json::json!([3, 1, 4]));

    // Interrupted after step 4 (mid epoch 2), then resumed by a task that has not
    // chosen anything: it gets its choice back from the checkpoint.
    let resumed = tmp.path().join("resumed");
    let flag = Arc::new(AtomicBool::new(false));
    let opts = TrainOptions { stop: Some(flag.clone()), ..quiet.clone() };
    let task = || Ok(ToyTask { chosen: vec![3, 1, 4], stop: Some((4, flag.clone())) });
    let err = run::<A, _, _>(&config(&resumed), &device, &opts, task).unwrap_err();
    let interrupted = err.downcast_ref::<Interrupted>().expect("an interruption");
    assert_eq!((interrupted.step, interrupted.epoch, interrupted.batch), (4, 2, 1));
    let ck = checkpoint::load(&resumed.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.state.task["chosen"], serde_json::json!([3, 1, 4]));
    assert_eq!(ck.state.partial.count, 4);

    let resume = TrainOptions { resume: true, ..quiet };
    let task = || Ok(ToyTask { chosen: vec![], stop: None });
    let summary2 = run::<A, _, _>(&config(&resumed), &device, &resume, task).unwrap();
    // Restored before the task wrote its files.
    let chosen: Vec<usize> =
        serde_json::from_str(&std::fs::read_to_string(resumed.join("chosen.json")).unwrap()).unwrap();
    assert_eq!(chosen, [3, 1, 4]);
    assert_eq!(metrics_without_times(&resumed), lines, "the resumed run reproduces the uninterrupted one");
    assert_eq!(summary2.extra, summary.extra);
}

#[test]
fn a_run_interrupted_after_an_epochs_last_batch_resumes_with_that_epochs_learning_rate() {
    // Stopped after step 3, the last batch of epoch 1: the resumed process has no
    // batch left in that epoch, yet records the rate its last step used.
    let tmp = tempfile::tempdir().unwrap();
    let quiet = TrainOptions { quiet: true, ..Default::default() };
    let device = Default::default();
    let reference = tmp.path().join("reference");
    run::<A, _, _>(&config(&reference), &device, &quiet, || Ok(ToyTask { chosen: vec![], stop: None })).unwrap();
    let resumed = tmp.path().join("resumed");
    let flag = Arc::new(AtomicBool::new(false));
    let opts = TrainOptions { stop: Some(flag.clone()), ..quiet.clone() };
    let task = || Ok(ToyTask { chosen: vec![], stop: Some((3, flag.clone())) });
    run::<A, _, _>(&config(&resumed), &device, &opts, task).unwrap_err();
    let resume = TrainOptions { resume: true, ..quiet };
    run::<A, _, _>(&config(&resumed), &device, &resume, || Ok(ToyTask { chosen: vec![], stop: None })).unwrap();
    let (a, b) = (metrics_without_times(&resumed), metrics_without_times(&reference));
    assert!(b[0]["lr"].as_f64().unwrap() > 0.0);
    assert_eq!(a, b);
}
