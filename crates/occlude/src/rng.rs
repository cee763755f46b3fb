//! Deterministic randomness.
//!
//! Every random draw in occlude comes from a generator seeded by
//! `(run seed, stream, epoch, sample index, copy)`. Results therefore do not depend
//! on the number of loader threads, on batch scheduling, or on how far a resumed run
//! had progressed: the draw for image 17 in epoch 3 is the same whichever thread makes
//! it and whenever it is made (the peers' bug, pytorch #5059 and Lightning #20412,
//! was augmentations repeating across workers or epochs).
//!
//! Papers: the per-image draws of every augmentation ([seed 000] §3, [seed 003] §3)
//! and the reproducibility of their comparisons rest on it.
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator used everywhere: ChaCha8 is portable and its output is fixed by
/// its specification, so seeds reproduce across platforms and crate versions.
pub type Rng = ChaCha8Rng;

/// Independent random streams. Two streams never share draws for the same
/// `(epoch, index)`, so adding a new kind of randomness never perturbs the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Epoch permutation of the training set.
    Shuffle = 1,
    /// Standard preprocessing (crop, flip).
    Preprocess = 2,
    /// Occlusion / augmentation parameters.
    Augment = 3,
    /// Model initialisation.
    Init = 4,
    /// Image-level augmentation ops (AutoAugment, RandAugment).
    ImageOps = 5,
    /// Partner selection for label-mixing methods (CutMix).
    Mixing = 6,
    /// Subset selection (building data subsets).
    Subset = 7,
    /// Stochastic layers of a model (Shake-Shake, ShakeDrop, Dropout family), per
    /// optimiser step: `(seed, Model, step, site)`.
    Model = 8,
}

/// SplitMix64 finaliser: a bijective 64-bit mixer with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 64-bit seed of the draw identified by `(seed, stream, epoch, index, copy)`.
pub fn derive_seed(seed: u64, stream: Stream, epoch: u64, index: u64, copy: u64) -> u64 {
    let mut h = mix(seed);
    for part in [stream as u64, epoch, index, copy] {
        h = mix(h ^ part);
    }
    h
}

/// A generator for one draw site; see the module documentation.
pub fn rng_for(seed: u64, stream: Stream, epoch: u64, index: u64, copy: u64) -> Rng {
    Rng::seed_from_u64(derive_seed(seed, stream, epoch, index, copy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn same_site_same_draws_and_sites_differ() {
        let a: u64 = rng_for(7, Stream::Augment, 3, 17, 0).random();
        let b: u64 = rng_for(7, Stream::Augment, 3, 17, 0).random();
        assert_eq!(a, b);
        let others = [
            rng_for(8, Stream::Augment, 3, 17, 0).random::<u64>(),
            rng_for(7, Stream::Preprocess, 3, 17, 0).random::<u64>(),
            rng_for(7, Stream::Augment, 4, 17, 0).random::<u64>(),
            rng_for(7, Stream::Augment, 3, 18, 0).random::<u64>(),
            rng_for(7, Stream::Augment, 3, 17, 1).random::<u64>(),
        ];
        for o in others {
            assert_ne!(a, o);
        }
    }

    #[test]
    fn swapping_epoch_and_index_gives_a_different_stream() {
        assert_ne!(derive_seed(1, Stream::Shuffle, 2, 3, 0), derive_seed(1, Stream::Shuffle, 3, 2, 0));
    }
}
