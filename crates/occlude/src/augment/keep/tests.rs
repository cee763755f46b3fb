//! The building blocks: region sums, candidates, scores, the quantile, the threshold
//! and the draw; saliency-max occlusion.

use super::*;
use crate::augment::params::{Fill, Rect, RegionParams};
use crate::augment::sample::{centred_box, cutmix_size, sampler_for, BatchContext, Purpose, Sampler};
use crate::augment::spec::{AugmentSpec, FillSpec};
use crate::rng::Rng;
use proptest::prelude::*;
use rand::{Rng as _, SeedableRng};

/// A context of `n` images (dataset indices `0..n`, copy 0).
pub(super) fn ctx(h: usize, w: usize, n: usize, seed: u64) -> BatchContext {
    BatchContext::new(seed, 0, 0, (0..n).collect(), vec![0; n], h, w)
}

pub(super) fn brute_sum(map: &[f32], w: usize, r: &Rect) -> f64 {
    let mut s = 0.0f64;
    for y in r.top..r.bottom() {
        for x in r.left..r.right() {
            s += map[y * w + x] as f64;
        }
    }
    s
}

fn sort_quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let p = q * (v.len() - 1) as f64;
    let (lo, hi) = (p.floor() as usize, p.ceil() as usize);
    v[lo] + (p - lo as f64) * (v[hi] - v[lo])
}

/// A map of small noise with one hot pixel.
pub(super) fn hot_spot_map(h: usize, w: usize, y: usize, x: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    let mut m: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>() * 0.01).collect();
    m[y * w + x] = 100.0;
    m
}

pub(super) fn rects(p: &RegionParams) -> Vec<Rect> {
    p.rects()
}

/// The candidates written out from the base methods' definitions.
fn reference_candidates(placement: Placement, bh: usize, bw: usize, h: usize, w: usize) -> Vec<Rect> {
    match placement {
        Placement::Centred => (0..h).flat_map(|cy| (0..w).map(move |cx| centred_box(cy, cx, bh, bw, h, w))).collect(),
        Placement::Inside => {
            (0..=h - bh).flat_map(|top| (0..=w - bw).map(move |left| Rect::new(top, left, bh, bw))).collect()
        }
    }
}

#[test]
fn quantile_matches_numpy_on_known_values() {
    // numpy.quantile([1, 2, 3, 4], 0.6) == 2.8; ([3, 1, 2], 0.5) == 2.
    assert!((quantile(&[4.0, 1.0, 3.0, 2.0], 0.6) - 2.8).abs() < 1e-12);
    assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    assert_eq!(quantile(&[5.0], 0.3), 5.0);
    assert_eq!(quantile(&[2.0, 9.0, 4.0], 0.0), 2.0);
    assert_eq!(quantile(&[2.0, 9.0, 4.0], 1.0), 9.0);
}

#[test]
fn region_score_is_the_sum_for_whole_boxes_and_the_mean_times_the_box_area_for_clipped_ones() {
    assert_eq!(region_score(12.0, 16, 16), 12.0);
    assert_eq!(region_score(3.0, 4, 16), 12.0);
    // On a constant map every candidate scores exactly c·full, whatever it covers.
    for c in [0.1f32, 1.0 / 3.0, 7.3e-5, 0.0, 12345.678] {
        for (area, full) in [(1, 256), (17, 256), (119, 256), (256, 256), (3, 50176), (49_999, 50176)] {
            let sum = (0..area).fold(0.0f64, |s, _| s + c as f64);
            assert_eq!(region_score(sum, area, full), c as f64 * full as f64, "c={c} area={area}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn integral_sums_equal_brute_force_sums(
        h in 1usize..20, w in 1usize..20, seed in any::<u64>(),
        a in 0usize..20, b in 0usize..20, c in 0usize..20, d in 0usize..20,
    ) {
        let mut rng = Rng::seed_from_u64(seed);
        let map: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>() * 10.0).collect();
        let scorer = RegionScorer::new(&map, h, w);
        let (y0, y1) = ((a % h).min(b % h), (a % h).max(b % h) + 1);
        let (x0, x1) = ((c % w).min(d % w), (c % w).max(d % w) + 1);
        let r = Rect::new(y0, x0, y1 - y0, x1 - x0);
        let (fast, slow) = (scorer.sum(&r), brute_sum(&map, w, &r));
        prop_assert!((fast - slow).abs() <= 1e-9 * slow.abs().max(1.0), "{fast} vs {slow}");
    }

    #[test]
    fn candidates_are_the_base_positions_and_their_scores_follow_the_rule(
        h in 1usize..24, w in 1usize..24, bh in 1usize..30, bw in 1usize..30, seed in any::<u64>(), inside in any::<bool>(),
    ) {
        let placement = if inside { Placement::Inside } else { Placement::Centred };
        let (bh, bw) = if inside { (bh.min(h), bw.min(w)) } else { (bh, bw) };
        let cands = Candidates::new(placement, bh, bw, h, w);
        let reference = reference_candidates(placement, bh, bw, h, w);
        prop_assert_eq!(cands.rects().collect::<Vec<_>>(), reference.clone());
        let mut rng = Rng::seed_from_u64(seed);
        let map: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>()).collect();
        let scorer = RegionScorer::new(&map, h, w);
        let scores = cands.scores(&scorer);
        for (r, s) in reference.iter().zip(&scores) {
            // Bit for bit the scorer's value (the selection and the tests compare them).
            prop_assert_eq!(*s, scorer.score(r, bh, bw));
            let expected = brute_sum(&map, w, r) / r.area() as f64 * (bh * bw) as f64;
            prop_assert!((s - expected).abs() <= 1e-9 * expected.max(1.0), "{r:?}: {s} vs {expected}");
        }
        // The base draw consumes the base method's draws: row position, then column.
        let k = cands.draw_base(&mut Rng::seed_from_u64(seed));
        let mut rng = Rng::seed_from_u64(seed);
        let (r, c) = match placement {
            Placement::Centred => crate::augment::sample::uniform_centre(&mut rng, h, w),
            Placement::Inside => crate::augment::sample::uniform_corner(&mut rng, bh, bw, h, w),
        };
        let cols = match placement {
            Placement::Centred => w,
            Placement::Inside => w - bw + 1,
        };
        prop_assert_eq!(k, r * cols + c);
    }

    #[test]
    fn quantile_equals_the_sort_based_reference(values in prop::collection::vec(-1e3f64..1e3, 1..200), q in 0.0f64..=1.0) {
        let (a, b) = (quantile(&values, q), sort_quantile(&values, q));
        prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn selective_cut_stays_below_and_paste_above_the_threshold(
        h in 4usize..24, w in 4usize..24, s in 1usize..8, tau in 0.0f64..=1.0, seed in any::<u64>(),
        sparse in any::<bool>(),
    ) {
        let s = s.min(h).min(w);
        let mut rng = Rng::seed_from_u64(seed);
        // Sparse maps (mostly zero) exercise the tie fallback.
        let map: Vec<f32> = (0..h * w)
            .map(|_| if sparse && rng.random::<f64>() < 0.9 { 0.0 } else { rng.random::<f32>() })
            .collect();
        let scorer = RegionScorer::new(&map, h, w);
        let c = ctx(h, w, 2, seed);
        for text in [
            format!("keep-cutout:n=3,s={s},tau={tau}"),
            format!("keep-random-erasing:p=1,tau={tau}"),
            format!("keep-cutmix:alpha=1,tau={tau}"),
            format!("randaugment+selective-paste:s={s},tau={tau}"),
        ] {
            let spec = AugmentSpec::parse(&text).unwrap();
            let method = spec.region.as_ref().or(spec.paste.as_ref()).unwrap();
            let sampler = sampler_for(method).unwrap();
            prop_assert!(sampler.needs_saliency());
            let params = sampler.sample(&c, 0, Some(&map));
            let Some(first) = rects(&params).first().copied() else { continue };
            // The candidates the sampler chose among: the base method's positions of
            // the drawn box size.
            let (placement, side, bh, bw) = match method.name() {
                "keep-cutout" => (Placement::Centred, Side::Below, s, s),
                "keep-random-erasing" => (Placement::Inside, Side::Below, first.height, first.width),
                "keep-cutmix" => {
                    let (bh, bw) = cutmix_size(&mut c.site(0).rng(Purpose::Params), 1.0, h, w);
                    if bh == 0 || bw == 0 { continue }
                    (Placement::Centred, Side::Below, bh, bw)
                }
                _ => (Placement::Inside, Side::Above, s, s),
            };
            if first.is_empty() { continue }
            let candidates = reference_candidates(placement, bh, bw, h, w);
            let scores: Vec<f64> = candidates.iter().map(|r| scorer.score(r, bh, bw)).collect();
            let threshold = sort_quantile(&scores, tau);
            let strict_exists = scores.iter().any(|&x| match side { Side::Below => x < threshold, Side::Above => x > threshold });
            for r in rects(&params) {
                prop_assert!(candidates.contains(&r), "{r:?} is not a candidate");
                let score = scorer.score(&r, bh, bw);
                match (side, strict_exists) {
                    (Side::Below, true) => prop_assert!(score < threshold, "{text}: cut {r:?} scores {score} >= {threshold}"),
                    (Side::Above, true) => prop_assert!(score > threshold, "{text}: paste {r:?} scores {score} <= {threshold}"),
                    (_, false) => prop_assert_eq!(score, threshold),
                }
            }
        }
    }

    #[test]
    fn keep_cutmix_lambda_is_one_minus_the_share_of_the_region_actually_pasted(h in 4usize..40, w in 4usize..40, seed in any::<u64>()) {
        let map = hot_spot_map(h, w, h / 2, w / 2, seed);
        let sampler = KeepCutMix { alpha: 1.0, tau: 0.6 };
        let c = ctx(h, w, 4, seed);
        for i in 0..4 {
            match sampler.sample(&c, i, Some(&map)) {
                RegionParams::Mix { rect, partner, lambda } => {
                    prop_assert!(rect.fits(h, w));
                    prop_assert_eq!(partner, c.partner(i));
                    prop_assert_eq!(lambda, 1.0 - rect.area() as f64 / (h * w) as f64);
                }
                other => prop_assert!(false, "expected Mix, got {other:?}"),
            }
        }
    }
}

#[test]
fn draws_are_uniform_over_the_passing_regions_through_the_base_loop_and_the_direct_draw() {
    // 50×50 single pixels with distinct scores, τ = 0.99 above: 25 of 2,500 pass, so
    // about half the draws miss 64 times and take the direct draw. Every passing
    // region must come out equally often (1/25), whichever path drew it.
    let (h, w) = (50, 50);
    let map: Vec<f32> = (0..h * w).map(|p| ((p * 7919) % 2503) as f32).collect();
    let scorer = RegionScorer::new(&map, h, w);
    let cands = Candidates::new(Placement::Inside, 1, 1, h, w);
    let sel = Selection::new(&scorer, &cands, 0.99, Side::Above);
    assert!(!sel.ties);
    let passing = sel.regions();
    assert_eq!(passing.len(), sel.passing);
    let m = passing.len();
    assert!((20..=30).contains(&m), "{m} passing");
    const DRAWS: usize = 25_000;
    let mut counts = std::collections::HashMap::new();
    let mut rng = Rng::seed_from_u64(7);
    for _ in 0..DRAWS {
        *counts.entry(sel.draw(&mut rng)).or_insert(0usize) += 1;
    }
    assert_eq!(counts.len(), m, "every passing region is drawn, and only those");
    let p = 1.0 / m as f64;
    let sigma = (p * (1.0 - p) / DRAWS as f64).sqrt();
    for (r, &c) in &counts {
        assert!(passing.contains(r));
        let got = c as f64 / DRAWS as f64;
        assert!((got - p).abs() <= 4.5 * sigma, "{r:?}: {got} vs {p} (σ {sigma})");
    }
}

#[test]
fn the_draw_is_the_first_passing_base_draw() {
    // Alg. 1's loop, replayed: the base method's draws until one passes.
    let (h, w, s) = (20, 20, 5);
    let map = hot_spot_map(h, w, 9, 11, 4);
    let scorer = RegionScorer::new(&map, h, w);
    let cands = Candidates::new(Placement::Centred, s, s, h, w);
    let sel = Selection::new(&scorer, &cands, 0.5, Side::Below);
    for seed in 0..200 {
        let got = sel.draw(&mut Rng::seed_from_u64(seed));
        let mut rng = Rng::seed_from_u64(seed);
        let want = loop {
            let (cy, cx) = crate::augment::sample::uniform_centre(&mut rng, h, w);
            let r = centred_box(cy, cx, s, s, h, w);
            if scorer.score(&r, s, s) < sel.threshold {
                break r;
            }
        };
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn plain_cutout_does_cut_the_hot_spot_sometimes() {
    // The control for the hot-spot tests: without selection the spot is hit.
    let (h, w) = (32, 32);
    let map = hot_spot_map(h, w, 16, 16, 1);
    let cutout = sampler_for(&AugmentSpec::parse("cutout:n=4,s=8").unwrap().region.unwrap()).unwrap();
    let hits = (0..200u64)
        .filter(|&seed| rects(&cutout.sample(&ctx(h, w, 1, seed), 0, Some(&map))).iter().any(|r| r.contains(16, 16)))
        .count();
    assert!(hits > 10, "{hits}");
}

#[test]
fn keep_cutout_keeps_the_cutout_geometry_and_draws_uniformly_among_passing_regions() {
    // A map whose left half is hot: 37.5 % of the Cutout positions lie wholly in
    // the cold half, so with τ = 0.3 the passing positions are among them; draws
    // must spread over them, not stick to one.
    let (h, w, s) = (16, 16, 4);
    let map: Vec<f32> = (0..h * w).map(|i| if i % w < w / 2 { 1.0 } else { 0.001 * (i % 7) as f32 }).collect();
    let sampler = KeepCutout { n: 1, s: Some(s), fill: FillSpec::Zero, tau: 0.3 };
    let mut seen = std::collections::HashSet::new();
    for seed in 0..300u64 {
        let p = sampler.sample(&ctx(h, w, 1, seed), 0, Some(&map));
        let RegionParams::Erase { rects, fill } = p else { panic!("{p:?}") };
        assert_eq!(fill, Fill::Zero);
        let r = rects[0];
        assert!(r.height <= s && r.width <= s && r.left >= w / 2, "{r:?}");
        seen.insert(r);
    }
    assert!(seen.len() > 40, "only {} distinct regions", seen.len());
}

#[test]
fn same_seed_same_parameters() {
    let (h, w) = (20, 24);
    let map = hot_spot_map(h, w, 5, 9, 3);
    for spec in ["keep-cutout:n=2,s=6", "keep-random-erasing:p=1", "keep-cutmix", "saliency-occlusion:s=6"] {
        let sampler = sampler_for(&AugmentSpec::parse(spec).unwrap().region.unwrap()).unwrap();
        let a: Vec<_> = (0..4).map(|i| sampler.sample(&ctx(h, w, 4, 9), i, Some(&map))).collect();
        let b: Vec<_> = (0..4).map(|i| sampler.sample(&ctx(h, w, 4, 9), i, Some(&map))).collect();
        let c: Vec<_> = (0..4).map(|i| sampler.sample(&ctx(h, w, 4, 10), i, Some(&map))).collect();
        assert_eq!(a, b, "{spec}");
        if spec != "saliency-occlusion:s=6" {
            assert_ne!(a, c, "{spec}: a different seed should move something");
        }
    }
}

#[test]
fn the_candidate_list_is_built_once_per_box_size_and_batch() {
    let c = ctx(32, 32, 8, 0);
    let a = c.candidates(Placement::Centred, 16, 16);
    let b = c.clone().candidates(Placement::Centred, 16, 16);
    assert!(std::sync::Arc::ptr_eq(&a, &b), "the same list for every image of the batch");
    assert!(!std::sync::Arc::ptr_eq(&a, &c.candidates(Placement::Inside, 16, 16)));
    assert!(!std::sync::Arc::ptr_eq(&a, &ctx(32, 32, 8, 0).candidates(Placement::Centred, 16, 16)));
}

#[test]
fn saliency_occlusion_defaults_scale_with_the_image_and_n_gt_1_finds_distinct_maxima() {
    let o = SaliencyOcclusion { n: 2, s: None, stride: 1, jitter: None, fill: FillSpec::Zero };
    assert_eq!(o.resolved(224, 224), (56, 16));
    assert_eq!(o.resolved(32, 32), (8, 2));
    assert_eq!(o.resolved(28, 28), (7, 2));
    let (h, w) = (32, 32);
    let mut map = vec![0.0f32; h * w];
    map[4 * w + 4] = 10.0;
    map[25 * w + 27] = 5.0;
    let o = SaliencyOcclusion { jitter: Some(0), ..o };
    let r = rects(&o.sample(&ctx(h, w, 1, 0), 0, Some(&map)));
    assert!(r[0].contains(4, 4) && r[1].contains(25, 27), "{r:?}");
}

#[test]
fn saliency_occlusion_covers_a_hot_spot_within_the_jitter() {
    let (h, w) = (32, 32);
    for seed in 0..50u64 {
        let (y, x) = (3 + (seed as usize * 7) % 26, 2 + (seed as usize * 11) % 28);
        let map = hot_spot_map(h, w, y, x, seed);
        let c = ctx(h, w, 1, seed);
        // S = 8 with jitter 2: the maximal patch contains the spot with a margin the
        // jitter cannot exceed unless it is pinned to a border.
        let occl = SaliencyOcclusion { n: 1, s: Some(8), stride: 1, jitter: Some(2), fill: FillSpec::Zero };
        let r = rects(&occl.sample(&c, 0, Some(&map)))[0];
        assert_eq!((r.height, r.width), (8, 8));
        assert!(r.fits(h, w));
        let near = |v: usize, lo: usize, hi: usize| v + 2 >= lo && v < hi + 2;
        assert!(near(y, r.top, r.bottom()) && near(x, r.left, r.right()), "{r:?} misses ({y}, {x})");
        let unjittered = SaliencyOcclusion { jitter: Some(0), ..occl.clone() };
        assert!(rects(&unjittered.sample(&c, 0, Some(&map)))[0].contains(y, x));
    }
}

#[test]
fn stride_restricts_the_box_filter_positions() {
    let (h, w) = (16, 16);
    let mut map = vec![0.0f32; h * w];
    map[9 * w + 9] = 1.0;
    let r = saliency_max_box(&RegionScorer::new(&map, h, w), 4, 4, h, w);
    assert_eq!((r.top % 4, r.left % 4), (0, 0));
    assert!(r.contains(9, 9));
}
