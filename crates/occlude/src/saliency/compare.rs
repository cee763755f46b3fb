//! Two networks side by side on the test images where they disagree: seed 000 Fig. 4
//! ("saliency visualizations comparing standard vs. occlusion-augmented ResNet50s
//! (layer3.0.conv1)", §4.2 *Visualizations*).
//!
//! Both checkpoints are evaluated on the same evaluation split (the first one's, or
//! another dataset of the same kind); the figure shows the images where the second
//! network (`b`, the occlusion-trained one in the paper) is right and the first
//! (`a`, the baseline) is wrong, as the paper selects them — in test-set order, not
//! picked by hand. Each image gets two rows (input, map, overlay): `a`'s map, then
//! `b`'s, each titled with the ground truth and that network's top prediction. Each
//! map explains that network's **own top prediction** (the figure asks what each
//! network looked at to decide), with the saliency method given (the paper's is
//! grad×act at `layer3.0.conv1`, `gradxact:layer3.0.conv1` here).
//!
//! The report also counts the disagreements the other way (`a` right, `b` wrong), so a
//! reader sees how selective the figure is.

use super::render::{heatmaps_png, Heatmap};
use super::{compute_host, SaliencyMethod, Target};
use crate::data::{DataSplits, DatasetSpec, Loader, LoaderConfig};
use crate::models::params::load_named;
use crate::models::Network;
use crate::train::checkpoint;
use crate::train::evaluate::{eval_loader, load_checkpoint, to_device};
use crate::train::RunConfig;
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to compare.
#[derive(Clone, Debug)]
pub struct CompareRequest {
    /// The reference network (the paper: the baseline).
    pub a: PathBuf,
    /// The network whose correct answers are shown (the paper: occlusion-trained).
    pub b: PathBuf,
    /// Names in titles and the report.
    pub names: [String; 2],
    pub method: SaliencyMethod,
    /// Images shown (at most).
    pub count: usize,
    /// Evaluate on this dataset instead of `a`'s evaluation split.
    pub data: Option<DatasetSpec>,
    pub out: PathBuf,
}

/// What the comparison found (printed as JSON by the CLI).
#[derive(Clone, Debug, Serialize)]
pub struct CompareReport {
    pub names: [String; 2],
    pub samples: usize,
    /// Top-1 of each network on the split.
    pub top1: [f64; 2],
    /// Test images where `b` is right and `a` wrong (the figure's selection).
    pub b_right_a_wrong: usize,
    /// And the other way round.
    pub a_right_b_wrong: usize,
    /// Test indices shown, in order.
    pub shown: Vec<usize>,
    pub method: String,
    pub out: PathBuf,
}

/// Test indices where `b` is right and `a` wrong, in order, at most `count`; and the
/// two disagreement counts `(b right a wrong, a right b wrong)`.
pub fn disagreements(pred_a: &[usize], pred_b: &[usize], labels: &[usize], count: usize) -> (Vec<usize>, usize, usize) {
    let (mut shown, mut ba, mut ab) = (Vec::new(), 0, 0);
    for (i, ((&a, &b), &y)) in pred_a.iter().zip(pred_b).zip(labels).enumerate() {
        if b == y && a != y {
            ba += 1;
            if shown.len() < count {
                shown.push(i);
            }
        } else if a == y && b != y {
            ab += 1;
        }
    }
    (shown, ba, ab)
}

/// Top-1 class and its probability, per image.
type Predictions = Vec<(usize, f32)>;

/// Top-1 class and its probability of every evaluation image, and the labels.
fn predictions<B: Backend>(
    model: &Network<B>,
    loader: &Loader,
    device: &B::Device,
) -> Result<(Predictions, Vec<usize>)> {
    let (mut preds, mut labels) = (Vec::new(), Vec::new());
    for batch in loader.epoch(0, 0) {
        let mut batch = batch?;
        let images = std::mem::take(&mut batch.images);
        let (x, _) = to_device::<B>(&batch, images, device);
        let probs = burn::tensor::activation::softmax(model.forward(x, false), 1);
        let k = probs.dims()[1];
        let host: Vec<f32> = probs.into_data().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for p in host.chunks(k) {
            let (j, &q) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((0, &0.0));
            preds.push((j, q));
        }
        labels.extend_from_slice(&batch.labels);
    }
    Ok((preds, labels))
}

/// `b`'s network, built for `a`'s dataset (same input channels and classes required).
fn load_second<B: Backend>(path: &Path, splits: &DataSplits, device: &B::Device) -> Result<Network<B>> {
    let ck = checkpoint::load(path)?;
    let cfg = RunConfig::from_toml_str(&ck.config_toml, None)
        .with_context(|| format!("{}: the configuration stored in the checkpoint is invalid", path.display()))?;
    let model: Network<B> = cfg.model.init(splits.channels, splits.num_classes, device)?;
    load_named(model, ck.model).with_context(|| {
        format!(
            "loading {} for {} input channels and {} classes (the first checkpoint's dataset)",
            path.display(),
            splits.channels,
            splits.num_classes
        )
    })
}

/// Runs the comparison and writes the figure (PNG) to `req.out`.
pub fn compare<B: AutodiffBackend>(req: &CompareRequest, device: &B::Device) -> Result<CompareReport> {
    if req.count == 0 {
        bail!("saliency comparison: count must be at least 1");
    }
    let (_, splits, a) = load_checkpoint::<B>(&req.a, req.data.clone(), device)?;
    let b = load_second::<B>(&req.b, &splits, device)?;
    for (net, path) in [(&a, &req.a), (&b, &req.b)] {
        req.method.check(net).with_context(|| format!("{}: --method {}", path.display(), req.method))?;
    }
    let loader = eval_loader(&splits, 256, 0)?;
    let (pa, labels) = predictions(&a.valid(), &loader, device)?;
    let (pb, _) = predictions(&b.valid(), &loader, device)?;
    let ids = |p: &[(usize, f32)]| p.iter().map(|q| q.0).collect::<Vec<_>>();
    let (shown, ba, ab) = disagreements(&ids(&pa), &ids(&pb), &labels, req.count);
    let acc =
        |p: &[(usize, f32)]| p.iter().zip(&labels).filter(|(q, &y)| q.0 == y).count() as f64 / labels.len() as f64;
    let report = CompareReport {
        names: req.names.clone(),
        samples: labels.len(),
        top1: [acc(&pa), acc(&pb)],
        b_right_a_wrong: ba,
        a_right_b_wrong: ab,
        shown: shown.clone(),
        method: req.method.to_string(),
        out: req.out.clone(),
    };
    if shown.is_empty() {
        bail!(
            "saliency comparison: no test image where {} is right and {} wrong; nothing to draw",
            req.names[1],
            req.names[0]
        );
    }
    let png = figure(&[&a, &b], &[&pa, &pb], &splits, &shown, req, device)?;
    crate::io::write_atomic(&req.out, &png).with_context(|| format!("writing {}", req.out.display()))?;
    Ok(report)
}

/// The two rows per image of the figure.
fn figure<B: AutodiffBackend>(
    nets: &[&Network<B>; 2],
    preds: &[&[(usize, f32)]; 2],
    splits: &DataSplits,
    shown: &[usize],
    req: &CompareRequest,
    device: &B::Device,
) -> Result<Vec<u8>> {
    let loader = Loader::new(splits.test.clone(), splits.eval_preprocess.clone(), LoaderConfig::eval(shown.len(), 1))?;
    let order: Vec<(usize, usize)> = shown.iter().map(|&i| (i, 0)).collect();
    let host = loader.make_batch(&order, 0, 0).context("the test images of the comparison")?;
    let [n, c, h, w] = host.dims;
    let names = splits.test.class_names();
    let mut maps = Vec::new();
    for (net, p) in nets.iter().zip(preds) {
        let (x, _) = to_device::<B>(&host, host.images.clone(), device);
        let own: Vec<i64> = shown.iter().map(|&i| p[i].0 as i64).collect();
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(own, [n]), device);
        maps.push(compute_host(*net, x, Target::Label(y), &req.method)?);
    }
    let mut rows = Vec::with_capacity(2 * n);
    for (k, &i) in shown.iter().enumerate() {
        for m in 0..2 {
            let (pred, prob) = preds[m][i];
            let verdict = if pred == host.labels[k] { "right" } else { "wrong" };
            rows.push(Heatmap {
                image: &host.images[k * c * h * w..(k + 1) * c * h * w],
                channels: c,
                height: h,
                width: w,
                normalization: &splits.eval_preprocess.normalization,
                map: maps[m].map(k),
                title: format!(
                    "test #{i}: {} · {} predicts {} ({:.0}%, {verdict}) · {}",
                    names[host.labels[k]],
                    req.names[m],
                    names[pred],
                    100.0 * prob,
                    req.method
                ),
            });
        }
    }
    heatmaps_png(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff as A;
    use crate::train::checkpoint::RunState;
    use crate::train::sgd::{Sgd, SgdConfig};

    fn write_checkpoint(dir: &Path, name: &str, seed: u64) -> PathBuf {
        let toml = format!(
            "name = \"{name}\"\nepochs = 1\noutput_dir = \"{}\"\n[data]\nkind = \"embedded\"\ntest_per_class = 4\n[model]\narch = \"resnet8\"\n",
            dir.display()
        );
        let cfg = RunConfig::from_toml_str(&toml, None).unwrap();
        A::seed(&Default::default(), seed);
        let model = cfg.model.init::<A>(1, 10, &Default::default()).unwrap();
        let sgd = Sgd::<A>::new(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 0.0 });
        let path = dir.join(format!("{name}.safetensors"));
        checkpoint::save(&path, &model, &sgd, &RunState::default(), &cfg.to_toml().unwrap()).unwrap();
        path
    }

    #[test]
    fn draws_two_rows_per_disagreement_and_refuses_when_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (write_checkpoint(dir.path(), "a", 1), write_checkpoint(dir.path(), "b", 2));
        let req = |b: &PathBuf| CompareRequest {
            a: a.clone(),
            b: b.clone(),
            names: ["baseline".into(), "occluded".into()],
            method: "gradxact:layer3.0.conv1".parse().unwrap(),
            count: 3,
            data: None,
            out: dir.path().join("fig4.png"),
        };
        // A network never disagrees with itself.
        let e = compare::<A>(&req(&a), &Default::default()).unwrap_err().to_string();
        assert!(e.contains("no test image where occluded is right and baseline wrong"), "{e}");
        assert!(!dir.path().join("fig4.png").exists());
        // Two random networks: the figure has two rows (title + 28·7 px panel + gap) per image shown.
        match compare::<A>(&req(&b), &Default::default()) {
            Ok(r) => {
                assert_eq!(r.samples, 40);
                assert!(!r.shown.is_empty() && r.shown.len() <= 3 && r.shown.len() <= r.b_right_a_wrong);
                let png = image::open(dir.path().join("fig4.png")).unwrap();
                assert_eq!(png.height() as usize, 2 * r.shown.len() * (28 + 196 + 8));
            }
            Err(e) => assert!(e.to_string().contains("nothing to draw"), "{e}"),
        }
        // A method the network cannot compute is refused up front.
        let mut bad = req(&b);
        bad.method = "gradxact:layer9".parse().unwrap();
        let e = format!("{:#}", compare::<A>(&bad, &Default::default()).unwrap_err());
        assert!(e.contains("layer9"), "{e}");
    }

    #[test]
    fn shows_where_b_is_right_and_a_wrong_in_order_and_counts_both_ways() {
        let labels = [0, 1, 2, 3, 4, 5, 6];
        let a = [0, 9, 2, 9, 9, 5, 9]; // wrong at 1, 3, 4, 6
        let b = [9, 1, 2, 3, 9, 9, 6]; // wrong at 0, 4, 5
        let (shown, ba, ab) = disagreements(&a, &b, &labels, 10);
        assert_eq!(shown, vec![1, 3, 6]);
        assert_eq!((ba, ab), (3, 2)); // a right, b wrong: 0 and 5; 4 both wrong
        let (first, ba2, ab2) = disagreements(&a, &b, &labels, 2);
        assert_eq!(first, vec![1, 3], "at most count, in test order");
        assert_eq!((ba2, ab2), (3, 2), "counts do not depend on count");
    }
}
