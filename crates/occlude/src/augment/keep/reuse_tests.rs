//! `saliency=reuse`: the cache's geometry, the first visit, and the sampler reading
//! the cached map through the current crop.

use super::reuse::{from_source, source_pixel, to_source, ReuseCache};
use super::{Candidates, Placement, RegionScorer, Selection, Side};
use crate::augment::{AugmentInput, AugmentPlan};
use crate::backend::CpuAutodiff;
use crate::data::preprocess::CropParams;
use crate::data::HostBatch;
use crate::models::ModelConfig;
use crate::train::config::AugmentConfig;
use burn::prelude::*;
use burn::tensor::TensorData;

type A = CpuAutodiff;

fn crop(top: i64, left: i64, flip: bool, h: usize, w: usize) -> CropParams {
    CropParams { top, left, height: h, width: w, out_height: h, out_width: w, flip }
}

#[test]
fn a_map_read_through_another_crop_shows_what_the_same_source_pixel_had() {
    let (h, w) = (7, 9);
    // Value 1 + output index: every value names the output pixel of crop `a` it came from.
    let map: Vec<f32> = (0..h * w).map(|p| 1.0 + p as f32).collect();
    for (a, b) in [
        (crop(0, 0, false, h, w), crop(0, 0, false, h, w)),
        (crop(-2, 3, true, h, w), crop(1, -3, false, h, w)),
        (crop(2, -1, false, h, w), crop(-1, 2, true, h, w)),
        (crop(-3, -4, true, h, w), crop(3, 4, true, h, w)),
    ] {
        let src = to_source(&a, &map);
        let shown: Vec<f32> = map
            .iter()
            .enumerate()
            .filter(|&(p, _)| {
                let (sy, sx) = source_pixel(&a, p / w, p % w);
                (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx)
            })
            .map(|(_, &v)| v)
            .collect();
        let unseen = (shown.iter().map(|&v| v as f64).sum::<f64>() / shown.len() as f64) as f32;
        let padding = (src.iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64) as f32;
        let out = from_source(&b, &src);
        for y in 0..h {
            for x in 0..w {
                let v = out[y * w + x];
                let (sy, sx) = source_pixel(&b, y, x);
                if !((0..h as i64).contains(&sy) && (0..w as i64).contains(&sx)) {
                    assert_eq!(v, padding, "{a:?} → {b:?} ({y}, {x}): padding shows the map's mean");
                } else if let Some(pa) = (0..h * w).find(|&p| source_pixel(&a, p / w, p % w) == (sy, sx)) {
                    assert_eq!(v, map[pa], "{a:?} → {b:?} ({y}, {x}): what crop a showed there");
                } else {
                    assert_eq!(v, unseen, "{a:?} → {b:?} ({y}, {x}): a pixel crop a did not show");
                }
            }
        }
        if a == b && (a.top, a.left) == (0, 0) {
            assert_eq!(out, map, "no offset: the map comes back unchanged");
        }
    }
}

fn host(n: usize, h: usize, w: usize, crops: Vec<CropParams>) -> HostBatch {
    HostBatch {
        images: (0..n * h * w).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0 + 0.01).collect(),
        dims: [n, 1, h, w],
        labels: (0..n).map(|i| i % 3).collect(),
        indices: (0..n).map(|i| 10 + 2 * i).collect(),
        copies: vec![0; n],
        crops,
        batch_index: 0,
        augmented: None,
        image_ops: vec![vec![]; n],
    }
}

fn apply(method: &str, host: &HostBatch, reuse_from: Option<&ReuseCache>) -> Vec<f32> {
    let device = Default::default();
    let model = ModelConfig::new("resnet8").init::<A>(1, 3, &device).unwrap();
    let cfg = AugmentConfig { method: method.into(), paradigm: "standard".into(), ..Default::default() };
    let plan = AugmentPlan::from_config(&cfg).unwrap();
    let mut aug: Box<dyn crate::augment::BatchAugment<A>> = match reuse_from {
        Some(cache) => Box::new(crate::augment::TrainAugment {
            paradigm: plan.paradigm,
            augmenter: crate::augment::Augmenter::new(&plan.spec, 0.0),
            reuse: Some(cache.clone()),
        }),
        None => plan.build::<A>(),
    };
    let x = Tensor::<A, 4>::from_data(TensorData::new(host.images.clone(), host.dims), &device);
    let labels: Vec<i64> = host.labels.iter().map(|&y| y as i64).collect();
    let y = Tensor::<A, 1, Int>::from_data(TensorData::new(labels, [host.len()]), &device);
    let input = AugmentInput { host, images: x, labels: y, model: &model, epoch: 1, num_classes: 3, seed: 7 };
    aug.apply(input).unwrap().images.into_data().to_vec::<f32>().unwrap()
}

#[test]
fn on_the_first_visit_keep_cutout_reuse_is_cutout_draw_for_draw() {
    let (n, h, w) = (16, 12, 12);
    let crops = (0..n).map(|i| crop(i as i64 % 3 - 1, 1 - i as i64 % 4, i % 2 == 0, h, w)).collect();
    let host = host(n, h, w, crops);
    let cache = ReuseCache::new();
    let fresh = apply("keep-cutout:s=5,saliency=reuse", &host, Some(&cache));
    assert_eq!(fresh, apply("keep-cutout:s=5,saliency=reuse", &host, None), "plan.build() starts cold");
    assert_eq!(fresh, apply("cutout:s=5", &host, None), "no map yet: a constant map, Cutout's draws");
    assert!(fresh.iter().filter(|&&v| v == 0.0).count() >= n * 9, "the images were cut");
}

#[test]
fn on_later_visits_the_sampler_reads_the_cached_map_through_the_current_crop() {
    let (n, h, w) = (12, 12, 12);
    let first: Vec<CropParams> = (0..n).map(|i| crop(1 - i as i64 % 3, i as i64 % 4 - 2, i % 3 == 0, h, w)).collect();
    let later: Vec<CropParams> = (0..n).map(|i| crop(i as i64 % 3 - 1, 2 - i as i64 % 5, i % 2 == 0, h, w)).collect();
    let mut cache = ReuseCache::new();
    let seen = host(n, h, w, first.clone());
    // A hot spot per image, at a different place each time.
    for (i, crop) in first.iter().enumerate() {
        let map: Vec<f32> = (0..h * w)
            .map(|p| {
                let (y, x) = ((p / w) as f32, (p % w) as f32);
                let (cy, cx) = ((i * 5 % h) as f32, (i * 7 % w) as f32);
                (-((y - cy).powi(2) + (x - cx).powi(2)) / 6.0).exp() + 0.01
            })
            .collect();
        cache.record(seen.indices[i], crop, &map).unwrap();
    }
    assert_eq!(cache.len(), n);
    let host = host(n, h, w, later.clone());
    let got = apply("keep-cutout:s=5,tau=0.6,saliency=reuse", &host, Some(&cache));
    let maps = cache.maps(&host, &(0..n).collect::<Vec<_>>()).unwrap();
    let mut differs = false;
    for i in 0..n {
        let want = from_source(&later[i], cache.source(host.indices[i]).unwrap());
        assert_eq!(maps.map(i), &want[..]);
        let scorer = RegionScorer::new(&want, h, w);
        let cands = Candidates::new(Placement::Centred, 5, 5, h, w);
        let sel = Selection::new(&scorer, &cands, 0.6, Side::Below);
        let cut: Vec<usize> = (0..h * w).filter(|&p| got[i * h * w + p] == 0.0).collect();
        let (ys, xs): (Vec<usize>, Vec<usize>) = cut.iter().map(|p| (p / w, p % w)).unzip();
        let (y0, x0) = (*ys.iter().min().unwrap(), *xs.iter().min().unwrap());
        let r = crate::augment::params::Rect::new(
            y0,
            x0,
            ys.iter().max().unwrap() + 1 - y0,
            xs.iter().max().unwrap() + 1 - x0,
        );
        assert_eq!(r.area(), cut.len(), "image {i}: one rectangle");
        assert!(sel.regions().contains(&r), "image {i}: {r:?} is not a passing region of the mapped map");
        differs |= !sel.ties && sel.passing < cands.len();
    }
    assert!(differs, "the cached maps constrain the draws");
}
