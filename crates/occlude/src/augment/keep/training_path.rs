//! The saliency-guided methods through the trainer's path: saliency on the model (for
//! the images that need it), sampling, the batched apply, chains.

use super::{Candidates, Placement, RegionScorer, Selection, Side};
use crate::augment::params::{Rect, RegionParams};
use crate::augment::spec::AugmentSpec;
use crate::augment::{batch_saliency, AugmentInput, AugmentPlan, Augmenter, Targets};
use crate::backend::{CpuAutodiff, CpuBackend};
use crate::data::preprocess::CropParams;
use crate::data::HostBatch;
use crate::models::params::named_tensors;
use crate::models::ModelConfig;
use crate::saliency::{compute_host, SaliencyMaps, SaliencyMethod, Target};
use crate::train::config::AugmentConfig;
use burn::prelude::*;
use burn::tensor::TensorData;

type A = CpuAutodiff;
type F = CpuBackend;

fn batch(n: usize, h: usize, w: usize) -> HostBatch {
    let images: Vec<f32> = (0..n * h * w).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0 + 0.01).collect();
    let crop = CropParams { top: 0, left: 0, height: h, width: w, out_height: h, out_width: w, flip: false };
    HostBatch {
        images,
        dims: [n, 1, h, w],
        labels: (0..n).map(|i| i % 3).collect(),
        indices: (0..n).collect(),
        copies: vec![0; n],
        crops: vec![crop; n],
        batch_index: 0,
        augmented: None,
        image_ops: vec![vec![]; n],
    }
}

/// The bounding box of the pixels where `pred` holds, checked to be a rectangle.
fn rectangle_where(pred: impl Fn(usize) -> bool, h: usize, w: usize) -> Option<Rect> {
    let hits: Vec<usize> = (0..h * w).filter(|&p| pred(p)).collect();
    let (ys, xs): (Vec<usize>, Vec<usize>) = hits.iter().map(|p| (p / w, p % w)).unzip();
    let (y0, x0) = (*ys.iter().min()?, *xs.iter().min()?);
    let r = Rect::new(y0, x0, ys.iter().max()? + 1 - y0, xs.iter().max()? + 1 - x0);
    assert_eq!(r.area(), hits.len(), "the pixels form one rectangle");
    Some(r)
}

#[test]
fn keep_cutout_in_joint_training_erases_low_saliency_squares_and_leaves_the_model_alone() {
    let device = Default::default();
    let mut mc = ModelConfig::new("resnet8");
    mc.early_head = true;
    let model = mc.init::<A>(1, 3, &device).unwrap();
    let before = named_tensors::<A, _>(&model);
    let host = batch(4, 16, 16);
    for method in ["vanilla", "low-res", "early-loss", "gradxact:layer2.0.conv1"] {
        let spec = format!("keep-cutout:n=1,s=6,tau=0.6,saliency={method}");
        let cfg = AugmentConfig { method: spec.clone(), paradigm: "joint".into(), ..Default::default() };
        let plan = AugmentPlan::from_config(&cfg).unwrap();
        let mut aug = plan.build::<A>();
        let x = Tensor::<A, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
        let y = Tensor::<A, 1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0], [4]), &device);
        let input = AugmentInput {
            host: &host,
            images: x.clone(),
            labels: y.clone(),
            model: &model,
            epoch: 0,
            num_classes: 3,
            seed: 5,
        };
        let out = aug.apply(input).unwrap();
        assert!(matches!(out.targets, Targets::Hard(_)));
        let got = out.images.into_data().to_vec::<f32>().unwrap();
        assert_eq!(got.len(), 2 * host.images.len(), "{spec}: joint training doubles the batch");
        assert_eq!(&got[..host.images.len()], &host.images[..], "{spec}: the clean copy comes first, untouched");
        // Recompute the maps and check every erased pixel belongs to one square of
        // side ≤ 6 whose score is below the 0.6-quantile of all Cutout positions.
        let maps = compute_host(&model, x, Target::Label(y), &SaliencyMethod::parse(method).unwrap()).unwrap();
        let occluded = &got[host.images.len()..];
        for i in 0..4 {
            let scorer = RegionScorer::new(maps.map(i), 16, 16);
            let cands = Candidates::new(Placement::Centred, 6, 6, 16, 16);
            let sel = Selection::new(&scorer, &cands, 0.6, Side::Below);
            let r = rectangle_where(|p| occluded[i * 256 + p] == 0.0, 16, 16)
                .unwrap_or_else(|| panic!("{spec}: image {i} was not occluded"));
            assert!(sel.regions().contains(&r), "{spec}: image {i}: {r:?} is not a passing KeepCutout region");
            for p in (0..256).filter(|&p| !r.contains(p / 16, p % 16)) {
                assert_eq!(occluded[i * 256 + p], host.images[i * 256 + p]);
            }
        }
    }
    let after = named_tensors::<A, _>(&model);
    assert_eq!(before, after, "the saliency passes changed the model");
}

#[test]
fn keep_cutmix_lambda_is_the_share_of_the_pixels_actually_taken_from_the_partner() {
    // Image i is the constant i + 1 and has label i: the pixels equal to the partner's
    // value are the region pasted, and the soft target gives the partner exactly
    // their share.
    let (n, h, w) = (6, 12, 10);
    let mut host = batch(n, h, w);
    host.images = (0..n * h * w).map(|p| (p / (h * w) + 1) as f32).collect();
    host.labels = (0..n).collect();
    let spec = AugmentSpec::parse("keep-cutmix:alpha=1").unwrap();
    for seed in 0..8 {
        let mut aug = Augmenter::new(&spec, 0.0);
        let needed = aug.saliency_images(&host, seed, 0);
        let maps = SaliencyMaps {
            count: needed.len(),
            height: h,
            width: w,
            values: needed.iter().flat_map(|&i| (0..h * w).map(move |p| ((p * (i + 3)) % 17) as f32)).collect(),
        };
        let x = Tensor::<F, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &Default::default());
        let out = aug.augment(&host, x, seed, 0, n, Some(&maps)).unwrap();
        let got = out.images.into_data().to_vec::<f32>().unwrap();
        let soft = out.soft_targets.expect("label mixing gives soft targets");
        for i in 0..n {
            let RegionParams::Mix { rect, partner, lambda } = out.params[i] else { panic!("{:?}", out.params[i]) };
            let own = &got[i * h * w..(i + 1) * h * w];
            let from_partner = own.iter().filter(|&&v| v == (partner + 1) as f32).count();
            if partner != i {
                assert_eq!(from_partner, rect.area(), "seed {seed} image {i}");
                assert_eq!(rectangle_where(|p| own[p] != (i + 1) as f32, h, w).unwrap_or(rect), rect);
                let share = from_partner as f64 / (h * w) as f64;
                assert_eq!(lambda, 1.0 - share);
                assert!((soft[i * n + partner] as f64 - share).abs() < 1e-6);
                assert!((soft[i * n + i] as f64 - lambda).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn a_chain_applies_the_policy_view_then_the_region_method_then_pastes_the_original_back() {
    // randaugment + cutout + selective-paste on a batch whose augmented view is known:
    // a pixel inside the pasted region is the clean image's, else inside the cut it is
    // 0, else it is the augmented view's; kept images are entirely clean.
    let (n, h, w) = (40, 10, 10);
    let mut host = batch(n, h, w);
    let view: Vec<f32> = host.images.iter().map(|v| v + 10.0).collect();
    host.augmented = Some(view.clone());
    let spec = AugmentSpec::parse("randaugment+cutout:s=5+selective-paste:s=4").unwrap();
    let mut aug = Augmenter::new(&spec, 0.3);
    let needed = aug.saliency_images(&host, 3, 1);
    let kept = aug.kept(&crate::augment::sample::BatchContext::from_host(&host, 3, 1));
    assert!(kept.iter().any(|&k| k) && !kept.iter().all(|&k| k));
    assert_eq!(needed, (0..n).filter(|&i| !kept[i]).collect::<Vec<_>>(), "maps for the images not kept, only");
    let maps = SaliencyMaps {
        count: needed.len(),
        height: h,
        width: w,
        values: needed.iter().flat_map(|&i| (0..h * w).map(move |p| ((p * 7 + i) % 23) as f32)).collect(),
    };
    let x = Tensor::<F, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &Default::default());
    let out = aug.augment(&host, x, 3, 1, 3, Some(&maps)).unwrap();
    let got = out.images.into_data().to_vec::<f32>().unwrap();
    let pastes = out.pastes.as_ref().expect("the chain ends with selective-paste");
    assert!(out.soft_targets.is_none());
    for i in 0..n {
        let (cut, paste) = (&out.params[i], &pastes[i]);
        assert_eq!(kept[i], *cut == RegionParams::Keep && *paste == RegionParams::Keep, "image {i}");
        for p in 0..h * w {
            let at = i * h * w + p;
            let (y, xx) = (p / w, p % w);
            let want = if kept[i] || paste.covers(y, xx, h, w) {
                host.images[at]
            } else if cut.covers(y, xx, h, w) {
                0.0
            } else {
                view[at]
            };
            assert_eq!(got[at], want, "image {i} pixel ({y}, {xx}): cut {cut:?} paste {paste:?}");
        }
    }
}

#[test]
fn saliency_is_computed_only_for_the_images_whose_draws_read_it() {
    // keep-random-erasing with p = 0.5 and p_keep_image = 0.3: the kept images and those
    // whose coin says "leave it" need no map. The maps the trainer computes for the
    // others equal those of a full-batch pass (running statistics: each map belongs to
    // its image alone).
    let device = Default::default();
    let model = ModelConfig::new("resnet8").init::<A>(1, 3, &device).unwrap();
    let (n, h, w) = (24, 12, 12);
    let host = batch(n, h, w);
    let spec = AugmentSpec::parse("keep-random-erasing:p=0.5").unwrap();
    let aug = Augmenter::new(&spec, 0.3);
    let needed = aug.saliency_images(&host, 4, 2);
    assert!(needed.len() > 2 && needed.len() < n / 2 + 4, "{} of {n}", needed.len());
    let x = Tensor::<A, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
    let labels: Vec<i64> = host.labels.iter().map(|&y| y as i64).collect();
    let y = Tensor::<A, 1, Int>::from_data(TensorData::new(labels, [n]), &device);
    let maps = batch_saliency(&aug, &host, x.clone(), y.clone(), &model, 4, 2).unwrap().unwrap();
    assert_eq!(maps.count, needed.len());
    let full = compute_host(&model, x, Target::Label(y), &SaliencyMethod::Vanilla).unwrap();
    for (k, &i) in needed.iter().enumerate() {
        for (a, b) in maps.map(k).iter().zip(full.map(i)) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1e-3), "image {i}: {a} vs {b}");
        }
    }
    // Every image that is erased had a map; every image with a map is erased.
    let mut aug = Augmenter::new(&spec, 0.3);
    let xf = Tensor::<F, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &Default::default());
    let out = aug.augment(&host, xf, 4, 2, 3, Some(&maps)).unwrap();
    let erased: Vec<usize> = (0..n).filter(|&i| out.params[i] != RegionParams::Keep).collect();
    assert_eq!(erased, needed);
    // Maps for the wrong images, or non-finite ones, are refused with a message.
    let xf = || Tensor::<F, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &Default::default());
    let e = aug.augment(&host, xf(), 4, 2, 3, Some(&full)).err().unwrap();
    assert!(format!("{e:#}").contains("that need one"), "{e:#}");
    let mut bad = maps.clone();
    bad.values[5] = f32::NAN;
    let e = aug.augment(&host, xf(), 4, 2, 3, Some(&bad)).err().unwrap();
    assert!(format!("{e:#}").contains("non-finite"), "{e:#}");
}
