//! The P×K identity sampler of Bag-of-Tricks (`RandomIdentitySampler`, Hermans et
//! al. 2017): every batch holds P identities with K images each, so that every
//! anchor of the batch-hard triplet loss has positives and negatives in its batch.
//!
//! As the reference: at the start of an epoch each identity's images are shuffled
//! (drawn with replacement up to K when it has fewer) and cut into chunks of K, the
//! last incomplete chunk dropped; a batch takes one chunk from each of P identities
//! drawn uniformly among those with chunks left. Unlike the reference, whose epochs
//! end when fewer than P identities have chunks left (so their length varies), an
//! epoch here has a fixed number of batches — all chunks / P — and an identity that
//! runs out before the end is dealt a fresh set of chunks, so that the training loop's
//! steps per epoch are the same every epoch. The order is a function of (seed,
//! epoch) only, so a resumed run sees the batches the uninterrupted one would have.

use crate::rng::{rng_for, Stream};
use anyhow::{bail, Result};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

/// The images of every identity, and P and K.
#[derive(Clone, Debug)]
pub struct IdentitySampler {
    by_id: Vec<Vec<usize>>,
    p: usize,
    k: usize,
    seed: u64,
}

impl IdentitySampler {
    /// `labels[i]` is the identity (`0..`) of sample `i`.
    pub fn new(labels: &[usize], p: usize, k: usize, seed: u64) -> Result<Self> {
        let ids = labels.iter().max().map_or(0, |m| m + 1);
        let mut by_id = vec![Vec::new(); ids];
        for (i, &l) in labels.iter().enumerate() {
            by_id[l].push(i);
        }
        by_id.retain(|v| !v.is_empty());
        if by_id.len() < p || p == 0 || k == 0 {
            bail!(
                "reid.p: a batch needs {p} identities with {k} images each, but the training split has {}",
                by_id.len()
            );
        }
        Ok(Self { by_id, p, k, seed })
    }

    pub fn batch_size(&self) -> usize {
        self.p * self.k
    }

    /// Chunks of K an identity yields per pass over its images.
    fn chunks_of(&self, n: usize) -> usize {
        n.max(self.k) / self.k
    }

    /// Batches per epoch: all identities' chunks / P.
    pub fn batches_per_epoch(&self) -> usize {
        (self.by_id.iter().map(|v| self.chunks_of(v.len())).sum::<usize>() / self.p).max(1)
    }

    /// A fresh set of shuffled chunks of identity `id`.
    fn deal(&self, id: usize, rng: &mut crate::rng::Rng) -> Vec<Vec<usize>> {
        let imgs = &self.by_id[id];
        let mut pool: Vec<usize> = if imgs.len() < self.k {
            (0..self.k).map(|_| imgs[rng.random_range(0..imgs.len())]).collect()
        } else {
            imgs.clone()
        };
        pool.shuffle(rng);
        pool.chunks_exact(self.k).map(|c| c.to_vec()).collect()
    }

    /// The batches of `epoch`: [`batches_per_epoch`](Self::batches_per_epoch) lists of
    /// P × K sample indices, identity by identity.
    pub fn epoch(&self, epoch: usize) -> Vec<Vec<usize>> {
        let mut rng = rng_for(self.seed, Stream::Shuffle, epoch as u64, 0, 0);
        let mut chunks: Vec<Vec<Vec<usize>>> = (0..self.by_id.len()).map(|id| self.deal(id, &mut rng)).collect();
        let mut batches = Vec::with_capacity(self.batches_per_epoch());
        for _ in 0..self.batches_per_epoch() {
            let mut available: Vec<usize> = (0..chunks.len()).filter(|&id| !chunks[id].is_empty()).collect();
            if available.len() < self.p {
                for (id, c) in chunks.iter_mut().enumerate() {
                    if c.is_empty() {
                        *c = self.deal(id, &mut rng);
                    }
                }
                available = (0..chunks.len()).collect();
            }
            let chosen: Vec<usize> = available.choose_multiple(&mut rng, self.p).copied().collect();
            batches.push(chosen.into_iter().flat_map(|id| chunks[id].pop().expect("available")).collect());
        }
        batches
    }

    /// The loader's `(index, draw)` order of `epoch`: the batches one after the other,
    /// `draw` counting earlier occurrences of the index in the epoch, so that an image
    /// drawn twice gets two independent crops and augmentations.
    pub fn order(&self, epoch: usize) -> Vec<(usize, usize)> {
        let mut seen = std::collections::HashMap::new();
        self.epoch(epoch)
            .into_iter()
            .flatten()
            .map(|i| {
                let n = seen.entry(i).or_insert(0usize);
                *n += 1;
                (i, *n - 1)
            })
            .collect()
    }
}
