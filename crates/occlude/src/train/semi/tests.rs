//! UDA checks: the loss against hand-computed values, the fixed target, the max-logit
//! saliency of the strong view, the labelled subset and both streams across resume.

use super::loss::{consistency_loss, sharpened_log_target, supervised_loss, tsa_threshold};
use super::subset::LabelledSplit;
use super::*;
use crate::augment::AugmentPlan;
use crate::backend::CpuAutodiff;
use crate::data::{load_dataset, DatasetKind, DatasetSpec};
use crate::saliency::{self, BnStats, SaliencyMaps, SaliencyMethod, Target};
use crate::train::{runner, TrainOptions};
use burn::tensor::{Distribution, TensorData};
use std::sync::atomic::AtomicBool;

type A = CpuAutodiff;

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn t2(rows: &[[f32; 3]]) -> Tensor<A, 2> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), 3]), &Default::default())
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().elem::<f32>() as f64
}

#[test]
fn sharpening_and_masking_match_hand_computed_values() {
    let weak = [[3.0f32, 0.0, 0.0], [0.5, 0.4, 0.3]];
    let strong = [[1.0f32, 2.0, 0.0], [0.0, 0.0, 1.0]];
    let (t, beta) = (0.4, 0.8);
    // Sharpened target of row 0: softmax(z / T).
    let q0 = softmax(&[3.0 / t, 0.0, 0.0]);
    let got: Vec<f32> = sharpened_log_target(t2(&weak), t).exp().into_data().convert::<f32>().into_vec().unwrap();
    for (g, w) in got[..3].iter().zip(&q0) {
        assert!((*g as f64 - w).abs() < 1e-6, "{got:?} {q0:?}");
    }
    // Row 0 is confident (0.909 > 0.8), row 1 is not (0.37): mask [1, 0].
    assert!(softmax(&[3.0, 0.0, 0.0])[0] > beta && softmax(&[0.5, 0.4, 0.3])[0] < beta);
    let p0 = softmax(&[1.0, 2.0, 0.0]);
    let kl0: f64 = q0.iter().zip(&p0).map(|(q, p)| q * (q.ln() - p.ln())).sum();
    let (loss, rate) = consistency_loss(t2(&weak), t2(&strong), t, beta);
    let (loss, rate) = (scalar(loss), scalar(rate));
    assert!((loss - kl0 / 2.0).abs() < 1e-5, "{loss} vs {}", kl0 / 2.0);
    assert!((rate - 0.5).abs() < 1e-7, "{rate}");
    // Without a threshold both rows count.
    let q1 = softmax(&[0.5 / t, 0.4 / t, 0.3 / t]);
    let p1 = softmax(&[0.0, 0.0, 1.0]);
    let kl1: f64 = q1.iter().zip(&p1).map(|(q, p)| q * (q.ln() - p.ln())).sum();
    let (all, rate) = consistency_loss(t2(&weak), t2(&strong), t, 0.0);
    assert!((scalar(all) - (kl0 + kl1) / 2.0).abs() < 1e-5 && scalar(rate) == 1.0);
}

#[test]
fn the_consistency_target_has_no_gradient() {
    let device = Default::default();
    let weak = Tensor::<A, 2>::random([4, 5], Distribution::Normal(0.0, 2.0), &device).require_grad();
    let strong = Tensor::<A, 2>::random([4, 5], Distribution::Normal(0.0, 2.0), &device).require_grad();
    let (loss, _) = consistency_loss(weak.clone(), strong.clone(), 0.4, 0.0);
    let grads = loss.backward();
    let to_strong = strong.grad(&grads).expect("the strong view gets a gradient");
    assert!(scalar(to_strong.abs().sum()) > 1e-4);
    let to_weak = weak.grad(&grads).map(|g| scalar(g.abs().sum())).unwrap_or(0.0);
    assert_eq!(to_weak, 0.0, "the weak view's prediction must be held fixed");
}

#[test]
fn training_signal_annealing_thresholds_and_masking() {
    let k = 10;
    assert_eq!(tsa_threshold(Tsa::None, 5, 10, k), None);
    let near = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-12, "{a:?} {b}");
    near(tsa_threshold(Tsa::Linear, 0, 100, k), 0.1);
    near(tsa_threshold(Tsa::Linear, 50, 100, k), 0.5 * 0.9 + 0.1);
    near(tsa_threshold(Tsa::Linear, 100, 100, k), 1.0);
    near(tsa_threshold(Tsa::Log, 50, 100, k), (1.0 - (-2.5f64).exp()) * 0.9 + 0.1);
    near(tsa_threshold(Tsa::Exp, 50, 100, k), (-2.5f64).exp() * 0.9 + 0.1);
    // Row 0's correct-class probability (0.909) is above η = 0.5: left out.
    let logits = t2(&[[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    let labels = Tensor::<A, 1, Int>::from_ints([0, 0], &Default::default());
    let ce1 = -softmax(&[0.0, 1.0, 0.0])[0].ln();
    let ce0 = -softmax(&[3.0, 0.0, 0.0])[0].ln();
    let (l, kept) = supervised_loss(logits.clone(), labels.clone(), Some(0.5));
    assert!((scalar(l) - ce1).abs() < 1e-5 && scalar(kept) == 0.5);
    let (l, kept) = supervised_loss(logits, labels, None);
    assert!((scalar(l) - (ce0 + ce1) / 2.0).abs() < 1e-5 && scalar(kept) == 1.0);
}

fn config(dir: &Path, method: &str, semi: &str) -> RunConfig {
    let text = format!(
        r#"
        seed = 3
        epochs = 2
        output_dir = "{}"
        [data]
        kind = "embedded"
        train_per_class = 6
        test_per_class = 2
        [model]
        arch = "resnet8"
        [optimizer]
        batch_size = 4
        lr = 0.01
        [augment]
        method = "{method}"
        [loader]
        workers = 1
        [semi_supervised]
        labels = 20
        mu = 2
        {semi}
        "#,
        dir.display()
    );
    RunConfig::from_toml_str(&text, None).unwrap()
}

/// The metrics of the first step of a fresh task.
fn first_step(method: &str, semi: &str) -> std::collections::BTreeMap<String, f64> {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), method, semi);
    let device = Default::default();
    let mut task = Uda::<A>::new(&cfg, cfg.semi_supervised.as_ref().unwrap(), &device).unwrap();
    let model = task.init_model(&device).unwrap();
    let batch = task.batches(0, 0).next().unwrap().unwrap();
    let at = StepInfo { epoch: 0, step: 0, steps_per_epoch: 5, total_steps: 10, lr: 0.01 };
    let out = task.step(&model, batch, at).unwrap();
    assert_eq!(out.images, 4 + 2 * 8);
    out.metrics.into_iter().map(|(k, v)| (k, scalar(v))).collect()
}

#[test]
fn the_consistency_loss_is_zero_when_both_views_are_the_same_image() {
    // No augmentation, no sharpening, no mask: x′ = x, so KL(p(·|x) ‖ p(·|x′)) = 0.
    let same = first_step("none", "temperature = 1.0\nthreshold = 0.0");
    assert!(same["consistency_loss"].abs() < 1e-6, "{same:?}");
    assert_eq!(same["mask_rate"], 1.0);
    // A real strong view makes it positive (the check above can fail).
    let cut = first_step("cutout:s=14", "temperature = 1.0\nthreshold = 0.0");
    assert!(cut["consistency_loss"] > 1e-6, "{cut:?}");
    assert!(cut["sup_loss"] > 0.0);
}

#[test]
fn keep_randaugment_takes_its_saliency_from_the_largest_logit() {
    let method = "keep-randaugment:n=1,m=9,s=8,saliency=low-res";
    let plan = AugmentPlan::from_config(&config(Path::new("/x"), method, "").augment).unwrap();
    let strong = StrongView::new(&plan).unwrap();
    let splits =
        load_dataset(&DatasetSpec { train_per_class: Some(1), ..DatasetSpec::new(DatasetKind::Embedded, None) })
            .unwrap();
    let lc = LoaderConfig { image_ops: plan.loader_image_ops(), ..LoaderConfig::eval(10, 1) };
    let loader = Loader::new(splits.train.clone(), splits.train_preprocess.clone(), lc).unwrap();
    let mut host = loader.epoch(0, 0).next().unwrap().unwrap();
    let device = Default::default();
    let model = ModelConfig::new("resnet8").init::<A>(1, 10, &device).unwrap();
    let x = Tensor::<A, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
    // Labels that are never the largest logit: a saliency w.r.t. the label differs.
    let top: Vec<i64> = model.forward(x.clone(), false).argmax(1).into_data().convert::<i64>().into_vec().unwrap();
    host.labels = top.iter().map(|&c| (c as usize + 1) % 10).collect();
    let maps = strong.saliency(&host, x.clone(), &model, 7, 0).unwrap().expect("KeepRandAugment needs maps");
    assert_eq!(maps.count, host.len());
    let method = SaliencyMethod::parse("low-res").unwrap();
    let by = |t| saliency::compute_host_with(&model, x.clone(), t, &method, BnStats::Running).unwrap();
    let max_logit = by(Target::MaxLogit);
    let labels: Vec<i64> = host.labels.iter().map(|&l| l as i64).collect();
    let label = by(Target::Label(Tensor::from_data(TensorData::new(labels, [host.len()]), &device)));
    let diff = |a: &SaliencyMaps, b: &SaliencyMaps| {
        (0..a.count)
            .map(|k| a.map(k).iter().zip(b.map(k)).map(|(u, v)| (u - v).abs()).fold(0.0f32, f32::max))
            .fold(0.0f32, f32::max)
    };
    assert_eq!(diff(&maps, &max_logit), 0.0, "the strong view's maps are the max-logit maps");
    assert!(diff(&max_logit, &label) > 1e-6, "the two targets give different maps here");
}

#[test]
fn the_labelled_subset_is_balanced_disjoint_and_drawn_from_the_seed() {
    let splits =
        load_dataset(&DatasetSpec { train_per_class: Some(30), ..DatasetSpec::new(DatasetKind::Embedded, None) })
            .unwrap();
    let train = splits.train.as_ref();
    let a = LabelledSplit::draw(train, 50, 1).unwrap();
    let mut per_class = [0usize; 10];
    a.labelled.iter().for_each(|&i| per_class[train.label(i)] += 1);
    assert_eq!(per_class, [5; 10]);
    let unlabelled = a.unlabelled(train.len());
    assert_eq!(unlabelled.len(), 300 - 50);
    assert!(unlabelled.iter().all(|i| a.labelled.binary_search(i).is_err()), "disjoint");
    assert_eq!(a, LabelledSplit::draw(train, 50, 1).unwrap(), "a function of the seed");
    assert_ne!(a.labelled, LabelledSplit::draw(train, 50, 2).unwrap().labelled);
    assert_ne!(a.labelled, (0..50).collect::<Vec<_>>(), "not a prefix");
    for (labels, why) in [(55, "multiple"), (300, "stay unlabelled")] {
        let e = format!("{:#}", LabelledSplit::draw(train, labels, 1).unwrap_err());
        assert!(e.contains("semi_supervised.labels") && e.contains(why), "{e}");
    }
}

#[test]
fn both_streams_and_the_subset_survive_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "randaugment:n=1,m=9+cutout:s=8", "tsa = \"linear\"");
    let device = <A as burn::tensor::backend::BackendTypes>::Device::default();
    let semi = cfg.semi_supervised.clone().unwrap();
    let task = Uda::<A>::new(&cfg, &semi, &device).unwrap();
    // The streams: step 7 is step 7 whether an epoch starts at it or runs into it.
    let ids = |b: SemiBatch| (b.labelled.indices, b.unlabelled.map(|(e, u)| (e, u.indices, u.augmented)));
    let all: Vec<_> = (0..2).flat_map(|e| task.batches(e, 0)).map(|b| ids(b.unwrap())).collect();
    let tail: Vec<_> = task.batches(1, 2).map(|b| ids(b.unwrap())).collect();
    assert_eq!(all.len(), 10);
    assert_eq!(tail, all[7..], "resumed mid-epoch");
    let u: Vec<usize> = all.iter().flat_map(|(_, u)| u.as_ref().unwrap().1.clone()).collect();
    assert!(u.iter().all(|i| *i < 40), "unlabelled indices index the 40 unlabelled images");
    // Interrupted after its first step, then resumed: the same subset throughout.
    let quiet = TrainOptions { quiet: true, ..Default::default() };
    let stop = TrainOptions { stop: Some(Arc::new(AtomicBool::new(true))), ..quiet.clone() };
    let err = runner::run(&cfg, &device, &stop, || Uda::<A>::new(&cfg, &semi, &device)).unwrap_err();
    assert!(err.downcast_ref::<crate::train::Interrupted>().is_some(), "{err:#}");
    let file = tmp.path().join(LABELLED_FILE);
    let before = std::fs::read_to_string(&file).unwrap();
    let recorded: LabelledSplit = serde_json::from_str(&before).unwrap();
    assert_eq!(&recorded, task.split());
    let resume = TrainOptions { resume: true, ..quiet };
    let summary = runner::run(&cfg, &device, &resume, || Uda::<A>::new(&cfg, &semi, &device)).unwrap();
    assert_eq!(summary.epochs, 2);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    for key in ["sup_loss", "consistency_loss", "mask_rate", "tsa_kept"] {
        assert!(summary.extra.get(key).is_some_and(|v| v.is_finite()), "{key}: {:?}", summary.extra);
    }
    // The checkpoint's subset wins over the one the seed would draw.
    let mut other = Uda::<A>::new(&cfg, &semi, &device).unwrap();
    let swapped = LabelledSplit::draw(&*load_dataset(&cfg.data).unwrap().train, 20, 99).unwrap();
    other.restore(&serde_json::json!({ "labelled_subset": swapped })).unwrap();
    assert_eq!(other.split(), &swapped);
    let first = |t: &Uda<A>| t.batches(0, 0).next().unwrap().unwrap().labelled.images;
    assert_ne!(first(&other), first(&task), "the labelled stream reads the restored subset");
}
