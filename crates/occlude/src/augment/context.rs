//! Where a draw comes from: the generators of one image copy ([`DrawSite`]) and what
//! a sampler knows about the batch it samples for ([`BatchContext`]).
//!
//! Every draw of image `i` comes from generators derived from
//! `(seed, epoch, dataset index, copy)`, so the parameters of an image do not depend
//! on the batch it lands in, the number of loader threads, the backend, or on
//! `p_keep_image` (the keep decision has its own stream). The only batch-level draw is
//! the partner permutation of label-mixing methods, derived from
//! `(seed, epoch, batch index)`. The batch also caches what depends only on the
//! geometry: the candidate regions of the saliency-guided samplers
//! ([`BatchContext::candidates`]).

use super::keep::{Candidates, Placement};
use super::params::Fill;
use super::spec::FillSpec;
use crate::data::HostBatch;
use crate::rng::{derive_seed, rng_for, Rng, Stream};
use rand::seq::SliceRandom;
use rand::{Rng as _, SeedableRng};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Independent generators of one image copy, one per purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// The method's own parameters (boxes, grid flags, λ).
    Params = 1,
    /// Whether the image is left untouched (`p_keep_image`).
    KeepImage = 2,
    /// The seed of a random fill.
    Noise = 3,
    /// Selective-Paste's region: a stream of its own, so that in a chain
    /// (`autoaugment+cutout+selective-paste`) the region method draws the same with or
    /// without the paste after it.
    Paste = 4,
}

/// Identifies the draws of one image copy: `(seed, epoch, dataset index, copy)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrawSite {
    pub seed: u64,
    pub epoch: usize,
    pub index: usize,
    pub copy: usize,
}

impl DrawSite {
    /// The generator for `purpose` at this site ([`Stream::Augment`]).
    pub fn rng(&self, purpose: Purpose) -> Rng {
        let base = derive_seed(self.seed, Stream::Augment, self.epoch as u64, self.index as u64, self.copy as u64);
        Rng::seed_from_u64(derive_seed(base, Stream::Augment, purpose as u64, 0, 0))
    }

    /// Turns a fill spec into the fill of this image (a random fill gets its seed).
    pub fn fill(&self, spec: FillSpec) -> Fill {
        match spec {
            FillSpec::Zero => Fill::Zero,
            FillSpec::Constant(value) => Fill::Constant { value },
            FillSpec::Random => Fill::Random { seed: self.rng(Purpose::Noise).random() },
        }
    }
}

/// `(placement, box height, box width)`.
type CandidateKey = (Placement, usize, usize);

/// The candidate regions of one batch, built once per `(placement, box size)`: they
/// depend only on the geometry, not on the image (see [`Candidates`]).
#[derive(Clone, Default)]
pub struct CandidateCache(Arc<Mutex<HashMap<CandidateKey, Arc<Candidates>>>>);

impl std::fmt::Debug for CandidateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "CandidateCache({n} box sizes)")
    }
}

/// What a sampler knows about the batch it samples for.
#[derive(Clone, Debug)]
pub struct BatchContext {
    pub seed: u64,
    pub epoch: usize,
    /// Position of the batch in its epoch.
    pub batch_index: usize,
    /// Dataset index of every image.
    pub indices: Vec<usize>,
    /// Copy (batch augmentation) or pass (dataset augmentation) of every image.
    pub copies: Vec<usize>,
    pub height: usize,
    pub width: usize,
    /// Partner of every batch position for label-mixing methods: a uniformly random
    /// permutation of the batch drawn from `(seed, epoch, batch index)`
    /// ([`Stream::Mixing`]), as CutMix's `torch.randperm(B)`.
    pub permutation: Vec<usize>,
    candidates: CandidateCache,
}

impl BatchContext {
    pub fn new(
        seed: u64,
        epoch: usize,
        batch_index: usize,
        indices: Vec<usize>,
        copies: Vec<usize>,
        height: usize,
        width: usize,
    ) -> Self {
        assert_eq!(indices.len(), copies.len(), "one copy number per image");
        let mut permutation: Vec<usize> = (0..indices.len()).collect();
        permutation.shuffle(&mut rng_for(seed, Stream::Mixing, epoch as u64, batch_index as u64, 0));
        Self {
            seed,
            epoch,
            batch_index,
            indices,
            copies,
            height,
            width,
            permutation,
            candidates: CandidateCache::default(),
        }
    }

    /// The context of a loaded batch.
    pub fn from_host(host: &HostBatch, seed: u64, epoch: usize) -> Self {
        let [_, _, h, w] = host.dims;
        Self::new(seed, epoch, host.batch_index, host.indices.clone(), host.copies.clone(), h, w)
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The draw site of batch position `i`.
    pub fn site(&self, i: usize) -> DrawSite {
        DrawSite { seed: self.seed, epoch: self.epoch, index: self.indices[i], copy: self.copies[i] }
    }

    /// The partner of batch position `i` for label mixing.
    pub fn partner(&self, i: usize) -> usize {
        self.permutation[i]
    }

    /// The candidate regions of a `bh × bw` box placed as `placement` on this batch's
    /// images, built on first use and shared by every image of the batch.
    pub fn candidates(&self, placement: Placement, bh: usize, bw: usize) -> Arc<Candidates> {
        let mut cache = self.candidates.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((placement, bh, bw))
            .or_insert_with(|| Arc::new(Candidates::new(placement, bh, bw, self.height, self.width)))
            .clone()
    }
}
