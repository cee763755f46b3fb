use super::*;
use crate::backend::CpuBackend as B;

fn ones(shape: [usize; 4]) -> Tensor<B, 4> {
    Tensor::ones(shape, &Default::default())
}

fn values(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

/// `|got − want| ≤ 4σ` for a proportion over `n` independent trials.
fn within_4_sigma(got: f64, want: f64, n: usize) {
    let sigma = (want * (1.0 - want) / n as f64).sqrt();
    assert!((got - want).abs() <= 4.0 * sigma, "rate {got}, expected {want} ± {sigma}");
}

#[test]
fn dropout_drops_one_minus_p_keep_and_rescales() {
    let mut ctx = Ctx::train_at(3, 11, 100);
    let y = values(dropout(ones([8, 16, 16, 16]), 0.7, &mut ctx));
    let dropped = y.iter().filter(|&&v| v == 0.0).count();
    within_4_sigma(dropped as f64 / y.len() as f64, 0.3, y.len());
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
}

#[test]
fn spatial_dropout_drops_whole_channels() {
    let (n, c, hw) = (64, 32, 16);
    let y = values(spatial_dropout(ones([n, c, 4, 4]), 0.7, &mut Ctx::train()));
    let mut dropped = 0;
    for ch in y.chunks(hw) {
        let zeros = ch.iter().filter(|&&v| v == 0.0).count();
        assert!(zeros == 0 || zeros == hw, "a channel partly dropped: {ch:?}");
        dropped += (zeros == hw) as usize;
        assert!(ch.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    }
    within_4_sigma(dropped as f64 / (n * c) as f64, 0.3, n * c);
}

/// The exact expected kept fraction of DropBlock with seed rate γ: unit `(i, j)` is
/// covered by `c_h(i)·c_w(j)` anchors, each set independently with probability γ.
fn expected_keep(gamma: f64, b: usize, h: usize, w: usize) -> f64 {
    let cover = |i: usize, size: usize| (i.min(size - b) + 1 - (i + 1).saturating_sub(b)) as i32;
    let mut sum = 0.0;
    for i in 0..h {
        for j in 0..w {
            sum += (1.0 - gamma).powi(cover(i, h) * cover(j, w));
        }
    }
    sum / (h * w) as f64
}

#[test]
fn drop_block_drops_whole_squares_at_the_expected_rate() {
    let (n, c, h, w, b, p) = (32, 16, 20, 20, 5, 0.9);
    let y = values(drop_block(ones([n, c, h, w]), p, b, &mut Ctx::train_at(1, 2, 3)));
    let gamma = drop_block_gamma(p, b, b, h, w);
    assert!((gamma - 0.1 / 25.0 * 400.0 / 256.0).abs() < 1e-12);
    let mut dropped = 0usize;
    for map in y.chunks(h * w) {
        let zero = |i: usize, j: usize| map[i * w + j] == 0.0;
        for i in 0..h {
            for j in 0..w {
                if !zero(i, j) {
                    continue;
                }
                dropped += 1;
                // Some b×b square inside the map, all dropped, covers (i, j).
                let covered = (i.saturating_sub(b - 1)..=i.min(h - b)).any(|p| {
                    (j.saturating_sub(b - 1)..=j.min(w - b)).any(|q| (p..p + b).all(|r| (q..q + b).all(|s| zero(r, s))))
                });
                assert!(covered, "dropped unit ({i}, {j}) is not inside a dropped {b}×{b} square");
            }
        }
    }
    let total = y.len();
    let rate = dropped as f64 / total as f64;
    let want = 1.0 - expected_keep(gamma, b, h, w);
    // Seeds are the independent draws: ≈ γ·positions of them, each dropping ≤ b² units.
    let positions = (n * c * (h - b + 1) * (w - b + 1)) as f64;
    let sigma = (b * b) as f64 * (positions * gamma).sqrt() / total as f64;
    assert!((rate - want).abs() < 4.0 * sigma, "rate {rate}, expected {want} ± {sigma}");
    // Overlaps make the rate a little lower than the nominal 1 − p_keep.
    assert!(want < 1.0 - p && want > 0.8 * (1.0 - p), "{want}");
    // Kept units are rescaled by count(M) / count_ones(M).
    let scale = total as f64 / (total - dropped) as f64;
    assert!(y.iter().all(|&v| v == 0.0 || (v as f64 - scale).abs() < 1e-4 * scale));
}

#[test]
fn drop_block_on_a_map_no_larger_than_the_block_drops_whole_channels() {
    let (n, c) = (64, 32);
    let y = values(drop_block(ones([n, c, 7, 7]), 0.8, 7, &mut Ctx::train()));
    let mut dropped = 0;
    for ch in y.chunks(49) {
        let zeros = ch.iter().filter(|&&v| v == 0.0).count();
        assert!(zeros == 0 || zeros == 49);
        dropped += (zeros == 49) as usize;
    }
    within_4_sigma(dropped as f64 / (n * c) as f64, 0.2, n * c);
}

#[test]
fn every_regulariser_is_the_identity_in_evaluation() {
    let x = Tensor::<B, 4>::random([2, 3, 9, 9], Distribution::Normal(0.0, 1.0), &Default::default());
    for spec in ["dropout:p_keep=0.5", "spatial-dropout:p_keep=0.5", "dropblock:p_keep=0.5,block=3"] {
        let r = Regularizer::parse(spec).unwrap();
        assert_eq!(values(r.apply(x.clone(), &mut Ctx::eval())), values(x.clone()), "{spec}");
        assert_ne!(values(r.apply(x.clone(), &mut Ctx::train())), values(x.clone()), "{spec}");
    }
}

#[test]
fn masks_follow_seed_and_step() {
    let r = Regularizer::parse("dropout:p_keep=0.5").unwrap();
    let x = ones([2, 4, 8, 8]);
    let at = |seed, step| values(r.apply(x.clone(), &mut Ctx::train_at(seed, step, 10)));
    assert_eq!(at(5, 3), at(5, 3));
    assert_ne!(at(5, 3), at(5, 4));
    assert_ne!(at(5, 3), at(6, 3));
}

#[test]
fn linear_schedule_ramps_keep_probability_from_one() {
    let r = Regularizer::parse("dropblock:p_keep=0.9,block=7,schedule=linear").unwrap();
    assert_eq!(r.keep_prob(0.0), 1.0);
    assert!((r.keep_prob(0.5) - 0.95).abs() < 1e-12);
    assert!((r.keep_prob(1.0) - 0.9).abs() < 1e-12);
    // At the first step nothing is dropped.
    let x = ones([2, 4, 14, 14]);
    assert_eq!(values(r.apply(x.clone(), &mut Ctx::train_at(0, 0, 100))), values(x));
    let fixed = Regularizer::parse("dropblock:p_keep=0.9").unwrap();
    assert_eq!(fixed.keep_prob(0.0), 0.9);
    assert_eq!(fixed.kind, RegularizerKind::DropBlock { block: 7 });
}

#[test]
fn syntax_round_trips_and_errors_name_the_field() {
    for s in ["dropout:p_keep=0.9", "spatial-dropout:p_keep=0.5", "dropblock:p_keep=0.95,block=7,schedule=linear"] {
        assert_eq!(Regularizer::parse(s).unwrap().to_string(), s);
    }
    for bad in [
        "dropout",
        "dropout:p_keep=1.5",
        "dropout:p_keep=0",
        "dropout:p_keep=0.9,block=3",
        "dropblock:p_keep=0.9,block=0",
        "dropblock:p_keep=0.9,size=3",
        "cutout:p_keep=0.9",
    ] {
        let e = format!("{:#}", Regularizer::parse(bad).unwrap_err());
        assert!(e.contains("model.regularizer"), "{bad}: {e}");
    }
}
