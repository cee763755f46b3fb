//! The cost of a saliency pass relative to a training step (the seed-003 Table 6
//! question, per step): ResNet-20 (with the early head), CIFAR-sized random batches.
//!
//! ```text
//! cargo run --release -p occlude --example saliency_cost -- [batch] [rounds]
//! ```
//!
//! Each round times, interleaved, one training step alone (forward, cross-entropy plus
//! 0.3 × early-head loss, backward, SGD update) and each saliency method alone on the
//! same batch; medians over rounds are reported, and the ratio
//! `(step + saliency) / step`. One JSON line per measurement.

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, TensorData};
use occlude::augment::Targets;
use occlude::backend::CpuAutodiff;
use occlude::models::{Ctx, ModelConfig, Network};
use occlude::saliency::{compute, SaliencyMethod, Target};
use occlude::train::loss::cross_entropy;
use occlude::train::sgd::{Sgd, SgdConfig};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run<B: AutodiffBackend>(batch: usize, rounds: usize) -> anyhow::Result<()> {
    let device = B::Device::default();
    B::seed(&device, 0);
    let mut cfg = ModelConfig::new("resnet20");
    cfg.early_head = true;
    let mut model: Network<B> = cfg.init(3, 10, &device)?;
    let mut sgd = Sgd::<B>::new(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4 });
    let x = Tensor::<B, 4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let labels: Vec<i64> = (0..batch).map(|i| (i % 10) as i64).collect();
    let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let targets = Targets::Hard(y.clone());
    let methods: Vec<SaliencyMethod> =
        ["vanilla", "low-res", "early-loss", "gradxact:layer1.0.conv1", "gradxact:layer3.0.conv1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();

    let mut step = |model: Network<B>, early: bool| {
        let (logits, e) = model.forward_with(x.clone(), &mut Ctx::train().with_early_head(early));
        let mut loss = cross_entropy(logits, &targets, 0.0);
        if let Some(e) = e {
            loss = loss + cross_entropy(e, &targets, 0.0).mul_scalar(0.3);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        sgd.step(0.01, model, grads)
    };
    let sync = || B::sync(&device).map_err(|e| anyhow::anyhow!("{e:?}"));

    // Warm-up.
    model = step(model, true);
    for m in &methods {
        compute(&model, x.clone(), Target::Label(y.clone()), m)?;
    }
    sync()?;

    let mut plain = Vec::new();
    let mut with_head = Vec::new();
    let mut sal: Vec<Vec<f64>> = vec![Vec::new(); methods.len()];
    for _ in 0..rounds {
        let t = Instant::now();
        model = step(model, false);
        sync()?;
        plain.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        model = step(model, true);
        sync()?;
        with_head.push(t.elapsed().as_secs_f64());
        for (m, times) in methods.iter().zip(sal.iter_mut()) {
            let t = Instant::now();
            let maps = compute(&model, x.clone(), Target::Label(y.clone()), m)?;
            B::InnerBackend::sync(&device).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            drop(maps);
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let step_s = median(plain);
    let head_s = median(with_head);
    let backend = B::name(&device);
    println!(
        "{{\"bench\":\"train-step\",\"backend\":\"{backend}\",\"arch\":\"resnet20\",\"batch\":{batch},\"ms\":{:.1},\"early_head\":false}}",
        1e3 * step_s
    );
    println!(
        "{{\"bench\":\"train-step\",\"backend\":\"{backend}\",\"arch\":\"resnet20\",\"batch\":{batch},\"ms\":{:.1},\"early_head\":true,\"ratio_to_plain_step\":{:.3}}}",
        1e3 * head_s,
        head_s / step_s
    );
    for (m, times) in methods.iter().zip(sal) {
        let s = median(times);
        // The early-loss method needs the head in training, so its step is the
        // step with the head.
        let base = if *m == SaliencyMethod::EarlyLoss { head_s } else { step_s };
        println!(
            "{{\"bench\":\"saliency\",\"backend\":\"{backend}\",\"method\":\"{m}\",\"batch\":{batch},\"ms\":{:.1},\"ratio_to_step\":{:.3},\"step_plus_saliency_over_plain_step\":{:.3}}}",
            1e3 * s,
            s / step_s,
            (base + s) / step_s
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let batch = args.get(1).map_or(Ok(128), |s| s.parse())?;
    let rounds = args.get(2).map_or(Ok(5), |s| s.parse())?;
    run::<CpuAutodiff>(batch, rounds)
}
