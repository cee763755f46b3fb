//! occlude from your own burn code: a model defined here (not one of occlude's),
//! trained from this file's own loop with KeepCutout (seed 003 Alg. 1a, guided by
//! grad×act saliency at the model's `conv2`, seed 000 Eq. 1) and Hide-and-Seek
//! (seed 000 §3), in joint training: every step sees the clean batch and both copies.
//! occlude supplies the samplers, the saliency maps and the batched apply; the model
//! only implements [`SaliencyModel`] (two methods) to name the layers grad×act reads.
//!
//! `cargo run --release --example own_model` (one epoch of the built-in
//! Fashion-MNIST subset); `crates/occlude/tests/own_model.rs` runs one step.
use anyhow::{Context, Result};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{loss::CrossEntropyLossConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::{activation::relu, module::max_pool2d, TensorData};
use occlude::augment::apply::apply_batch;
use occlude::augment::sample::{sample_batch, sampler_for, BatchContext};
use occlude::augment::spec::AugmentSpec;
use occlude::backend::CpuAutodiff as B;
use occlude::data::{load_dataset, DatasetKind, DatasetSpec, Loader, LoaderConfig};
use occlude::saliency::{compute_model_host, SaliencyModel, TapHook, Target};

#[derive(Module, Debug)]
pub struct SmallCnn<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    head: Linear<B>,
}

impl<B: Backend> SmallCnn<B> {
    pub fn new(channels: usize, classes: usize, device: &B::Device) -> Self {
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
        Self { conv1: conv(channels, 16), conv2: conv(16, 32), head: LinearConfig::new(32, classes).init(device) }
    }
}

/// All occlude needs: the forward pass, every named layer's activation through `hook`.
impl<B: Backend> SaliencyModel<B> for SmallCnn<B> {
    fn forward_tapped(&self, x: Tensor<B, 4>, hook: &mut dyn TapHook<B>) -> Tensor<B, 2> {
        let a = hook.tap("conv1", relu(self.conv1.forward(x)));
        let a = hook.tap("conv2", relu(self.conv2.forward(max_pool2d(a, [2, 2], [2, 2], [0, 0], [1, 1], false))));
        let [n, c, _, _] = a.dims();
        self.head.forward(a.mean_dim(3).mean_dim(2).reshape([n, c]))
    }
    fn tap_names(&self) -> Vec<String> {
        vec!["conv1".into(), "conv2".into()]
    }
}

/// What one step did: its loss, and how many values KeepCutout and Hide-and-Seek changed.
#[derive(Debug)]
pub struct Step(pub f32, pub [usize; 2]);

/// Trains `steps` steps (at most one epoch) and reports each.
pub fn train(steps: usize) -> Result<Vec<Step>> {
    let (device, seed) = (Default::default(), 0);
    let data = load_dataset(&DatasetSpec::new(DatasetKind::Embedded, None))?;
    let config = LoaderConfig { shuffle: true, drop_last: true, ..LoaderConfig::eval(64, 1) };
    let loader = Loader::new(data.train.clone(), data.train_preprocess.clone(), config)?;
    let keep_spec = AugmentSpec::parse("keep-cutout:s=14,saliency=gradxact:conv2")?;
    let method = keep_spec.saliency().context("keep-cutout reads a saliency map")?.clone();
    let sampler = |s: &AugmentSpec| sampler_for(s.region.as_ref().expect("a region method")).expect("a sampler");
    let (keep, hide) = (sampler(&keep_spec), sampler(&AugmentSpec::parse("hide-and-seek:g=4")?));
    let mut model = SmallCnn::<B>::new(data.channels, data.num_classes, &device);
    let (mut optim, loss_fn) = (SgdConfig::new().init(), CrossEntropyLossConfig::new().init(&device));
    let mut report = Vec::new();
    for (step, batch) in loader.epoch(0, 0).take(steps).enumerate() {
        let b = batch?;
        let [n, _, h, w] = b.dims;
        let x = Tensor::<B, 4>::from_data(TensorData::new(b.images.clone(), b.dims), &device);
        let labels: Vec<i64> = b.labels.iter().map(|&y| y as i64).collect();
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), &device);
        // Draws from (seed, epoch, dataset index, copy): reproducible, batch-independent.
        let ctx = BatchContext::new(seed, 0, step, b.indices.clone(), vec![0; n], h, w);
        // KeepCutout: the maps of the clean batch (on a frozen copy), then squares of low saliency.
        let maps = compute_model_host(&model, x.clone(), Target::Label(y.clone()), &method)?.to_vecs();
        let cut = apply_batch(x.clone(), None, &sample_batch(keep.as_ref(), &ctx, 0.0, Some(&maps)))?;
        let hidden = apply_batch(x.clone(), None, &sample_batch(hide.as_ref(), &ctx, 0.0, None))?;
        let changed = [&cut, &hidden].map(|a| a.clone().not_equal(x.clone()).int().sum().into_scalar() as usize);
        let logits = model.forward_tapped(Tensor::cat(vec![x, cut, hidden], 0), &mut ());
        let loss = loss_fn.forward(logits, Tensor::cat(vec![y.clone(), y.clone(), y], 0));
        report.push(Step(loss.clone().into_scalar(), changed));
        model = optim.step(0.05, model.clone(), GradientsParams::from_grads(loss.backward(), &model));
    }
    Ok(report)
}

#[allow(dead_code)] // the test includes this file as a module and calls `train`
fn main() -> Result<()> {
    for (i, s) in train(usize::MAX)?.iter().enumerate().filter(|(i, _)| i % 20 == 0) {
        println!("step {i}: loss {:.3}, values changed by KeepCutout and Hide-and-Seek {:?}", s.0, s.1);
    }
    Ok(())
}
