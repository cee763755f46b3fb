//! The selective samplers against their base methods (seed 003 §3 Remark; the
//! clipped-box rule of the module documentation):
//!
//! * on a constant map every Keep method draws exactly what its base method draws from
//!   the same generator — positions, areas, λ — and so its mean area / mixed share;
//! * on a constant map with one hot pixel, a selective cut is the base method's first
//!   draw that spares the pixel (never cutting it), and a selective paste the base
//!   paste's first draw that covers it;
//! * on a map that is high only at the border, KeepCutout cuts the interior;
//! * KeepCutMix reads the map of the image being cut, and λ is the share of the region
//!   actually pasted.
//!
//! Under the plain sum over clipped boxes (the rule before issue 10) the Centred
//! methods (KeepCutout, KeepCutMix) fail every one of these; Random Erasing and
//! Selective-Paste place whole boxes only, where both rules are Eq. 1.

use super::tests::{ctx, rects};
use super::*;
use crate::augment::params::{Rect, RegionParams};
use crate::augment::sample::{
    centred_box, cutmix_size, cutout_square, random_erasing_fitting_size, sampler_for, uniform_box, uniform_centre,
    Purpose, Sampler,
};
use crate::augment::spec::AugmentSpec;
use rand::Rng as _;

fn sampler(spec: &str) -> Box<dyn Sampler> {
    let spec = AugmentSpec::parse(spec).unwrap();
    sampler_for(spec.region.as_ref().or(spec.paste.as_ref()).unwrap()).unwrap()
}

/// `|a − b| ≤ k·σ`.
fn assert_close(what: &str, a: f64, b: f64, sigma: f64, k: f64) {
    assert!(
        (a - b).abs() <= k * sigma,
        "{what}: {a:.4} vs {b:.4} (σ = {sigma:.4}, |Δ| = {:.1}σ)",
        (a - b).abs() / sigma
    );
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt())
}

const SIZES: [(usize, usize); 4] = [(32, 32), (28, 28), (17, 23), (40, 56)];
const CONSTANTS: [f32; 4] = [1.0, 0.0, 0.37, 3.3e-4];

/// On constant maps of several sizes, `keep` draws exactly what `base` draws, image by
/// image, from the same generators.
fn assert_draws_like_base(keep: &str, base: &str) {
    let (keep_s, base_s) = (sampler(keep), sampler(base));
    for (h, w) in SIZES {
        for c in CONSTANTS {
            let map = vec![c; h * w];
            for seed in 0..20 {
                let bc = ctx(h, w, 8, seed);
                for i in 0..8 {
                    let (k, b) = (keep_s.sample(&bc, i, Some(&map)), base_s.sample(&bc, i, None));
                    assert_eq!(k, b, "{keep} vs {base}, {h}×{w}, map {c}, seed {seed}, image {i}");
                }
            }
        }
    }
}

#[test]
fn on_a_constant_map_keep_cutout_draws_exactly_what_cutout_draws() {
    assert_draws_like_base("keep-cutout:n=2,s=16", "cutout:n=2,s=16");
    assert_draws_like_base("keep-cutout:s=7,tau=0.1,fill=random", "cutout:s=7,fill=random");
    assert_draws_like_base("keep-cutout", "cutout");
}

#[test]
fn on_a_constant_map_keep_random_erasing_draws_exactly_what_random_erasing_draws() {
    assert_draws_like_base("keep-random-erasing", "random-erasing");
    assert_draws_like_base("keep-random-erasing:p=1,sl=0.3,sh=0.9,tau=0.9", "random-erasing:p=1,sl=0.3,sh=0.9");
}

#[test]
fn on_a_constant_map_keep_cutmix_draws_exactly_what_cutmix_draws() {
    assert_draws_like_base("keep-cutmix:alpha=1", "cutmix:alpha=1");
    assert_draws_like_base("keep-cutmix:alpha=0.4,tau=0.2", "cutmix:alpha=0.4");
}

#[test]
fn on_a_constant_map_selective_paste_draws_exactly_what_a_random_paste_draws() {
    for (h, w) in SIZES {
        for c in CONSTANTS {
            let map = vec![c; h * w];
            for (s, tau) in [(None, 0.6), (Some(5), 0.9), (Some(1), 0.0)] {
                let paste = SelectivePaste { s, tau };
                for seed in 0..20 {
                    let bc = ctx(h, w, 8, seed);
                    for i in 0..8 {
                        let side = paste.side(h, w);
                        let base = random_paste(&mut bc.site(i).rng(Purpose::Paste), side, h, w);
                        let got = paste.sample(&bc, i, Some(&map));
                        assert_eq!(got, RegionParams::Paste { rects: vec![base] }, "paste s={s:?} {h}×{w} map {c}");
                    }
                }
            }
        }
    }
}

#[test]
fn on_a_flat_map_keep_cutout_erases_cutouts_mean_area() {
    // The numbers: 32×32, s = 16, τ = 0.6. Cutout's mean erased area is
    // (Σ_c |[c − 8, c + 8) ∩ [0, 32)|)² / 32² = 196 px; the sum over clipped boxes gave
    // ≈ 160.
    let (h, w) = (32, 32);
    let map = vec![1.0f32; h * w];
    let side: f64 = (0..32).map(|c: i64| ((c + 8).min(32) - (c - 8).max(0)) as f64).sum();
    let expected_area = side * side / (h * w) as f64;
    assert_eq!(expected_area, 196.0);
    let keep = sampler("keep-cutout:s=16");
    let areas: Vec<f64> =
        (0..4000).map(|seed| rects(&keep.sample(&ctx(h, w, 1, seed), 0, Some(&map)))[0].area() as f64).collect();
    let (m, sd) = mean_sd(&areas);
    assert_close("KeepCutout mean erased area on a flat map", m, expected_area, sd / 4000f64.sqrt(), 4.0);
}

#[test]
fn on_a_flat_map_keep_cutmix_mixes_cutmixs_share() {
    // CutMix α = 1 on 32×32 mixes a mean share ≈ 0.317; the sum over clipped boxes
    // gave ≈ 0.256. Compared with CutMix on other seeds (independent samples).
    let (h, w) = (32, 32);
    let map = vec![1.0f32; h * w];
    let share = |p: RegionParams| 1.0 - p.label_weight();
    let (keep, base) = (sampler("keep-cutmix:alpha=1"), sampler("cutmix:alpha=1"));
    let k: Vec<f64> = (0..3000).map(|s| share(keep.sample(&ctx(h, w, 1, s), 0, Some(&map)))).collect();
    let b: Vec<f64> = (3000..6000).map(|s| share(base.sample(&ctx(h, w, 1, s), 0, None))).collect();
    let ((mk, sk), (mb, sb)) = (mean_sd(&k), mean_sd(&b));
    let sigma = (sk * sk / 3000.0 + sb * sb / 3000.0).sqrt();
    assert_close("KeepCutMix vs CutMix mean mixed share on a flat map", mk, mb, sigma, 4.0);
    assert!((mb - 0.317).abs() < 0.02, "CutMix's share {mb}");
}

/// A constant map `c` with one hot pixel.
fn spot_map(h: usize, w: usize, y: usize, x: usize) -> Vec<f32> {
    let mut m = vec![0.5f32; h * w];
    m[y * w + x] = 40.0;
    m
}

/// Whether the τ-quantile of `n` scores, the `spared` lowest of which are equal (the
/// boxes sparing a hot pixel on a flat map) and the others larger, leaves exactly the
/// sparing boxes strictly below or tied at the threshold.
fn spared_boxes_pass(n: usize, spared: usize, tau: f64) -> bool {
    ((tau * (n - 1) as f64).floor() as usize) < spared
}

/// The hot pixel of draw `seed` on a 32×32 map, all over the image (borders too).
fn spot_of(seed: u64) -> (usize, usize) {
    ((seed as usize * 7) % 32, (seed as usize * 13 + 3) % 32)
}

#[test]
fn keep_cutout_never_cuts_a_hot_pixel_and_is_cutout_conditioned_on_sparing_it() {
    // Each square is Cutout's first square that spares the pixel.
    let (h, w) = (32, 32);
    let keep = sampler("keep-cutout:n=3,s=8");
    for seed in 0..150u64 {
        let (y, x) = spot_of(seed);
        let bc = ctx(h, w, 1, seed);
        let got = rects(&keep.sample(&bc, 0, Some(&spot_map(h, w, y, x))));
        let mut rng = bc.site(0).rng(Purpose::Params);
        let want: Vec<Rect> = (0..3)
            .map(|_| (0..BASE_TRIES).map(|_| cutout_square(&mut rng, 8, h, w)).find(|r| !r.contains(y, x)).unwrap())
            .collect();
        assert_eq!(got, want, "keep-cutout, spot ({y}, {x}), seed {seed}");
    }
}

#[test]
fn keep_random_erasing_never_cuts_a_hot_pixel_and_is_random_erasing_conditioned_on_sparing_it() {
    // Boxes ≤ 10 % of the image: Random Erasing's coin and size, then its first
    // position sparing the pixel.
    let (h, w) = (32, 32);
    let keep = sampler("keep-random-erasing:p=1,sh=0.1");
    for seed in 0..150u64 {
        let (y, x) = spot_of(seed);
        let bc = ctx(h, w, 1, seed);
        let got = rects(&keep.sample(&bc, 0, Some(&spot_map(h, w, y, x))));
        let mut rng = bc.site(0).rng(Purpose::Params);
        assert!(rng.random::<f64>() < 1.0);
        let (eh, ew) = random_erasing_fitting_size(&mut rng, [0.02, 0.1], [0.3, 3.3], 10, h, w).unwrap();
        let spared = Candidates::new(Placement::Inside, eh, ew, h, w).rects().filter(|r| !r.contains(y, x)).count();
        assert!(spared_boxes_pass((h - eh + 1) * (w - ew + 1), spared, 0.6), "{eh}×{ew}");
        let want = (0..BASE_TRIES).map(|_| uniform_box(&mut rng, eh, ew, h, w)).find(|r| !r.contains(y, x)).unwrap();
        assert_eq!(got, vec![want], "keep-random-erasing, spot ({y}, {x}), seed {seed}");
    }
}

#[test]
fn keep_cutmix_never_cuts_a_hot_pixel_it_can_spare_and_is_cutmix_conditioned_on_sparing_it() {
    // CutMix's size, then its first centre sparing the pixel, whenever the sparing
    // positions reach the threshold (large boxes cover the pixel from most positions,
    // and then the quantile lies among the covering ones).
    let (h, w) = (32, 32);
    let keep = sampler("keep-cutmix:alpha=1");
    let (mut checked, mut draws) = (0, 0);
    for seed in 0..150u64 {
        let (y, x) = spot_of(seed);
        let map = spot_map(h, w, y, x);
        let bc = ctx(h, w, 4, seed);
        for i in 0..4 {
            let got = keep.sample(&bc, i, Some(&map));
            let mut rng = bc.site(i).rng(Purpose::Params);
            let (bh, bw) = cutmix_size(&mut rng, 1.0, h, w);
            draws += 1;
            if bh == 0 || bw == 0 {
                continue;
            }
            let spared =
                Candidates::new(Placement::Centred, bh, bw, h, w).rects().filter(|r| !r.contains(y, x)).count();
            if !spared_boxes_pass(h * w, spared, 0.6) {
                continue;
            }
            checked += 1;
            let Some(want) = (0..BASE_TRIES)
                .map(|_| uniform_centre(&mut rng, h, w))
                .map(|(cy, cx)| centred_box(cy, cx, bh, bw, h, w))
                .find(|r| !r.contains(y, x))
            else {
                continue;
            };
            let lambda = 1.0 - want.area() as f64 / (h * w) as f64;
            assert_eq!(got, RegionParams::Mix { rect: want, partner: bc.partner(i), lambda }, "seed {seed} image {i}");
        }
    }
    assert!(checked * 3 > draws, "only {checked} of {draws} KeepCutMix draws checked");
}

#[test]
fn selective_paste_always_pastes_a_hot_pixel_back_and_is_a_random_paste_conditioned_on_covering_it() {
    // s = 8: at most 64 of the 625 positions cover the pixel (< 1 − τ): always pasted
    // back, and when one of the base paste's first BASE_TRIES positions covers it, that
    // one.
    let (h, w) = (32, 32);
    let paste = sampler("randaugment+selective-paste:s=8");
    let mut replayed = 0;
    for seed in 0..150u64 {
        let (y, x) = spot_of(seed);
        let bc = ctx(h, w, 1, seed);
        let got = rects(&paste.sample(&bc, 0, Some(&spot_map(h, w, y, x))));
        assert!(got[0].contains(y, x), "selective-paste {got:?} misses the spot ({y}, {x})");
        let mut rng = bc.site(0).rng(Purpose::Paste);
        if let Some(want) = (0..BASE_TRIES).map(|_| random_paste(&mut rng, 8, h, w)).find(|r| r.contains(y, x)) {
            assert_eq!(got, vec![want], "selective-paste, spot ({y}, {x}), seed {seed}");
            replayed += 1;
        }
    }
    assert!(replayed > 100, "only {replayed} pastes found by the base loop");
}

/// 1 inside, 4 on the one-pixel frame of a 32×32 map.
fn frame_map(h: usize, w: usize) -> Vec<f32> {
    (0..h * w)
        .map(|p| {
            let (y, x) = (p / w, p % w);
            if y == 0 || x == 0 || y + 1 == h || x + 1 == w {
                4.0
            } else {
                1.0
            }
        })
        .collect()
}

fn frame_pixels(r: &Rect, h: usize, w: usize) -> usize {
    (r.top..r.bottom())
        .flat_map(|y| (r.left..r.right()).map(move |x| (y, x)))
        .filter(|&(y, x)| y == 0 || x == 0 || y + 1 == h || x + 1 == w)
        .count()
}

#[test]
fn on_a_map_high_only_at_the_border_keep_cutout_cuts_the_interior() {
    let (h, w, s) = (32, 32, 16);
    let map = frame_map(h, w);
    // τ = 0.1: the least important 10 % are the whole 16×16 squares clear of the frame
    // (13² = 169 of the 1,024 positions, all scoring 256): only those are cut.
    let keep = sampler("keep-cutout:s=16,tau=0.1");
    for seed in 0..300 {
        let r = rects(&keep.sample(&ctx(h, w, 1, seed), 0, Some(&map)))[0];
        assert_eq!((r.height, r.width), (s, s), "seed {seed}: {r:?} is clipped");
        assert_eq!(frame_pixels(&r, h, w), 0, "seed {seed}: {r:?} cuts the frame");
    }
    // τ = 0.6 (the paper's): KeepCutout cuts fewer frame pixels than Cutout does, and
    // cuts more of the interior. (The sum over clipped boxes cut *more* frame pixels
    // than Cutout, ≈ 18.6 against 14.6: it prefers the small boxes at the border.)
    let cutout_frame: f64 = (0..h)
        .flat_map(|cy| (0..w).map(move |cx| frame_pixels(&centred_box(cy, cx, s, s, h, w), h, w) as f64))
        .sum::<f64>()
        / (h * w) as f64;
    let keep = sampler("keep-cutout:s=16");
    let draws: Vec<Rect> = (0..3000).map(|seed| rects(&keep.sample(&ctx(h, w, 1, seed), 0, Some(&map)))[0]).collect();
    let frame: Vec<f64> = draws.iter().map(|r| frame_pixels(r, h, w) as f64).collect();
    let interior: Vec<f64> = draws.iter().map(|r| (r.area() - frame_pixels(r, h, w)) as f64).collect();
    let (mf, sf) = mean_sd(&frame);
    let (mi, _) = mean_sd(&interior);
    assert!(
        mf + 4.0 * sf / 3000f64.sqrt() < 0.8 * cutout_frame,
        "KeepCutout cuts {mf:.2} frame pixels, Cutout {cutout_frame:.2}"
    );
    assert!(mi > 196.0 - cutout_frame, "KeepCutout cuts {mi:.1} interior pixels, Cutout {:.1}", 196.0 - cutout_frame);
}

#[test]
fn keep_cutmix_reads_the_map_of_the_image_being_cut_not_its_partners() {
    let (h, w, n) = (32, 32, 6);
    let spot = |i: usize| (3 + 5 * i, 28 - 5 * i);
    let spec = AugmentSpec::parse("keep-cutmix:alpha=1").unwrap();
    let aug = crate::augment::Augmenter::new(&spec, 0.0);
    let (mut own_hits, mut partner_hits, mut checked) = (0, 0, 0);
    for seed in 0..60 {
        let bc = ctx(h, w, n, seed);
        let kept = vec![false; n];
        let needed = aug.saliency_images_of(&bc, &kept);
        let maps_for = |spot_of: &dyn Fn(usize) -> (usize, usize)| crate::saliency::SaliencyMaps {
            count: needed.len(),
            height: h,
            width: w,
            values: needed.iter().flat_map(|&i| spot_map(h, w, spot_of(i).0, spot_of(i).1)).collect(),
        };
        let params = aug.sample_params(&bc, &kept, &needed, Some(&maps_for(&spot))).unwrap().region;
        // The same draws whatever the other images' maps are.
        let shuffled = |i: usize| spot((i + 1) % n);
        for (i, p) in params.iter().enumerate() {
            let own_only = |j: usize| if j == i { spot(i) } else { shuffled(j) };
            let again = aug.sample_params(&bc, &kept, &needed, Some(&maps_for(&own_only))).unwrap().region;
            assert_eq!(&again[i], p, "image {i}'s draw depends on another image's map");
            let RegionParams::Mix { rect, partner, .. } = p else { panic!("{p:?}") };
            let (bh, bw) = cutmix_size(&mut bc.site(i).rng(Purpose::Params), 1.0, h, w);
            if bh == 0 || bw == 0 {
                continue;
            }
            let (y, x) = spot(i);
            let sparing =
                Candidates::new(Placement::Centred, bh, bw, h, w).rects().filter(|r| !r.contains(y, x)).count();
            if spared_boxes_pass(h * w, sparing, 0.6) {
                checked += 1;
                own_hits += rect.contains(y, x) as usize;
                let (py, px) = spot(*partner);
                partner_hits += rect.contains(py, px) as usize;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    assert_eq!(own_hits, 0, "KeepCutMix cut the important pixel of the image being cut");
    assert!(partner_hits > 10, "the partner's important pixel is not protected ({partner_hits} of {checked})");
}
