//! Mini-batch loading with worker threads and prefetching.
//!
//! The order of an epoch and every preprocessing draw are functions of
//! `(seed, epoch, sample index, copy)` only ([`crate::rng`]), and batches are handed
//! out in order, so a run's data stream is identical for any number of workers and
//! can be restarted at any batch of any epoch (resuming a killed run).
//!
//! Two of seed 000's paradigms are loader features:
//! * batch augmentation (§4.6): `copies = M` puts M copies of each sample in the same
//!   mini-batch, each preprocessed independently (its own crop and flip);
//! * dataset augmentation (Table 8): `passes = M` iterates over the training set M
//!   times per epoch, the copies landing in distinct mini-batches.
//!
//! With `image_ops` (AutoAugment, RandAugment) every image is also augmented on
//! its 8-bit crop and the batch carries both views of the same crop: `images`
//! (clean, `x`) and `augmented` (`A(x)`), so that Selective-Paste (seed 003 Eq. 3)
//! can blend them on the device.

use super::preprocess::{CropParams, Preprocess};
use super::Dataset;
use crate::augment::ops::ImageOpsConfig;
use crate::augment::params::ImageOp;
use crate::rng::{rng_for, Stream};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// How batches are formed.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    /// Samples per mini-batch (before `copies`).
    pub batch_size: usize,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Batches each worker may prepare ahead.
    pub prefetch: usize,
    pub shuffle: bool,
    /// Drop the last incomplete batch (training) or keep it (evaluation).
    pub drop_last: bool,
    /// Batch augmentation: copies of each sample in the same batch.
    pub copies: usize,
    /// Dataset augmentation: passes over the data per epoch.
    pub passes: usize,
    pub seed: u64,
    /// Image-level ops producing the augmented view (`HostBatch::augmented`).
    pub image_ops: Option<ImageOpsConfig>,
}

impl LoaderConfig {
    pub fn eval(batch_size: usize, workers: usize) -> Self {
        Self {
            batch_size,
            workers,
            prefetch: 2,
            shuffle: false,
            drop_last: false,
            copies: 1,
            passes: 1,
            seed: 0,
            image_ops: None,
        }
    }
}

/// One mini-batch on the host, ready to be copied to the device.
#[derive(Clone, Debug)]
pub struct HostBatch {
    /// Normalised pixels, `N × C × H × W` row-major.
    pub images: Vec<f32>,
    pub dims: [usize; 4],
    pub labels: Vec<usize>,
    /// Dataset index of every image.
    pub indices: Vec<usize>,
    /// Copy number of every image (batch augmentation) or pass number (dataset
    /// augmentation); 0 otherwise.
    pub copies: Vec<usize>,
    /// The crop and flip applied to every image.
    pub crops: Vec<CropParams>,
    /// Position of this batch in its epoch.
    pub batch_index: usize,
    /// The augmented view `A(x)` of every image (same crop and layout as `images`),
    /// when the loader has `image_ops`.
    pub augmented: Option<Vec<f32>>,
    /// The image-level ops applied to every image to make `augmented` (empty
    /// without `image_ops`).
    pub image_ops: Vec<Vec<ImageOp>>,
}

impl HostBatch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Produces the mini-batches of a dataset.
#[derive(Clone)]
pub struct Loader {
    dataset: Arc<dyn Dataset>,
    preprocess: Arc<Preprocess>,
    config: LoaderConfig,
    /// Output image size `(C, H, W)`.
    dims: [usize; 3],
}

impl Loader {
    pub fn new(dataset: Arc<dyn Dataset>, preprocess: Preprocess, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            bail!("batch_size must be at least 1");
        }
        if config.copies == 0 || config.passes == 0 {
            bail!("copies and passes must be at least 1");
        }
        if dataset.is_empty() {
            bail!("the dataset is empty");
        }
        preprocess.validate(dataset.channels())?;
        let first = dataset.image(0)?;
        let (h, w) = preprocess.output_size(first.height, first.width);
        Ok(Self { dims: [dataset.channels(), h, w], dataset, preprocess: Arc::new(preprocess), config })
    }

    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// `(C, H, W)` of the images produced.
    pub fn image_dims(&self) -> [usize; 3] {
        self.dims
    }

    /// The `(sample index, pass)` sequence of an epoch: one permutation of the
    /// dataset per pass (dataset augmentation), one after the other.
    ///
    /// The copies of a sample land in distinct mini-batches (seed 000 Table 8): within
    /// a pass every sample appears once, and the one batch that straddles the end of a
    /// pass and the start of the next gets, at the start of the next pass, only samples
    /// it does not already hold (those are swapped further into the pass). This is
    /// possible whenever the dataset has more samples than a batch.
    pub fn epoch_order(&self, epoch: usize) -> Vec<(usize, usize)> {
        let n = self.dataset.len();
        let bs = self.config.batch_size.max(1);
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(n * self.config.passes);
        for pass in 0..self.config.passes {
            let mut perm: Vec<usize> = (0..n).collect();
            if self.config.shuffle {
                perm.shuffle(&mut rng_for(self.config.seed, Stream::Shuffle, epoch as u64, pass as u64, 0));
            }
            let open = order.len() % bs;
            if open > 0 {
                let held: std::collections::HashSet<usize> =
                    order[order.len() - open..].iter().map(|&(i, _)| i).collect();
                let head = (bs - open).min(n);
                let mut spare = head;
                for pos in 0..head {
                    if held.contains(&perm[pos]) {
                        while spare < n && held.contains(&perm[spare]) {
                            spare += 1;
                        }
                        if spare == n {
                            break;
                        }
                        perm.swap(pos, spare);
                        spare += 1;
                    }
                }
            }
            order.extend(perm.into_iter().map(|i| (i, pass)));
        }
        order
    }

    pub fn batches_per_epoch(&self) -> usize {
        let total = self.dataset.len() * self.config.passes;
        if self.config.drop_last {
            total / self.config.batch_size
        } else {
            total.div_ceil(self.config.batch_size)
        }
    }

    /// Samples per epoch actually used (after `drop_last`), before copies.
    pub fn samples_per_epoch(&self) -> usize {
        let total = self.dataset.len() * self.config.passes;
        if self.config.drop_last {
            self.batches_per_epoch() * self.config.batch_size
        } else {
            total
        }
    }

    /// Builds batch `batch` of `epoch` on the calling thread.
    pub fn make_batch(&self, order: &[(usize, usize)], epoch: usize, batch: usize) -> Result<HostBatch> {
        let bs = self.config.batch_size;
        let entries = &order[batch * bs..((batch + 1) * bs).min(order.len())];
        let [c, h, w] = self.dims;
        let per_image = c * h * w;
        let n = entries.len() * self.config.copies;
        let mut out = HostBatch {
            images: vec![0.0; n * per_image],
            dims: [n, c, h, w],
            labels: Vec::with_capacity(n),
            indices: Vec::with_capacity(n),
            copies: Vec::with_capacity(n),
            crops: Vec::with_capacity(n),
            batch_index: batch,
            augmented: self.config.image_ops.as_ref().map(|_| vec![0.0; n * per_image]),
            image_ops: Vec::new(),
        };
        let mut slot = 0;
        for &(index, pass) in entries {
            let img = self.dataset.image(index)?;
            let label = self.dataset.label(index);
            for copy in 0..self.config.copies {
                // The pass and the copy both index independent preprocessing draws.
                let draw = (pass * self.config.copies + copy) as u64;
                let mut rng = rng_for(self.config.seed, Stream::Preprocess, epoch as u64, index as u64, draw);
                let p = self.preprocess.sample(img.height, img.width, &mut rng);
                if (p.out_height, p.out_width) != (h, w) {
                    bail!(
                        "sample {index}: preprocessing gives {}×{} but the batch is {h}×{w} (images of different sizes need a resizing crop)",
                        p.out_height,
                        p.out_width
                    );
                }
                let range = slot * per_image..(slot + 1) * per_image;
                match (&self.config.image_ops, out.augmented.as_mut()) {
                    (Some(ops), Some(augmented)) => {
                        // Both views share the crop: x, then A(x) from the same 8-bit crop.
                        let clean = self.preprocess.crop_u8(&img, &p);
                        self.preprocess.normalization.normalize_into(&clean, &mut out.images[range.clone()]);
                        let drawn = ops.sample(self.config.seed, epoch, index, draw as usize);
                        let aug = ops.apply(&clean, &drawn);
                        self.preprocess.normalization.normalize_into(&aug, &mut augmented[range]);
                        out.image_ops.push(drawn);
                    }
                    _ => self.preprocess.apply(&img, &p, &mut out.images[range]),
                }
                out.labels.push(label);
                out.indices.push(index);
                // One number per (pass, copy), so no two draws of a sample share their
                // occlusion parameters even with both passes and copies.
                out.copies.push(pass * self.config.copies + copy);
                out.crops.push(p);
                slot += 1;
            }
        }
        Ok(out)
    }

    /// Iterates over the batches of `epoch`, starting at batch `start` (to resume).
    pub fn epoch(&self, epoch: usize, start: usize) -> EpochIter {
        self.epoch_in_order(self.epoch_order(epoch), epoch, start)
    }

    /// [`epoch`](Self::epoch) over a given `(sample index, draw)` order instead of
    /// [`epoch_order`](Self::epoch_order)'s (e.g. an identity sampler's, re-ID): batches
    /// of `batch_size` consecutive entries, the last one dropped if incomplete and
    /// `drop_last`.
    pub fn epoch_in_order(&self, order: Vec<(usize, usize)>, epoch: usize, start: usize) -> EpochIter {
        let bs = self.config.batch_size;
        let total = if self.config.drop_last { order.len() / bs } else { order.len().div_ceil(bs) };
        let order = Arc::new(order);
        let workers = self.config.workers.max(1).min(total.saturating_sub(start).max(1));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(self.config.prefetch.max(1));
            receivers.push(rx);
            let loader = self.clone();
            let order = order.clone();
            handles.push(std::thread::spawn(move || {
                let mut b = start + w;
                while b < total {
                    let batch = loader.make_batch(&order, epoch, b);
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        return;
                    }
                    b += workers;
                }
            }));
        }
        EpochIter { receivers, handles, next: start, total, start }
    }
}

/// The batches of one epoch, in order; see [`Loader::epoch`].
pub struct EpochIter {
    receivers: Vec<Receiver<Result<HostBatch>>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    total: usize,
    start: usize,
}

impl EpochIter {
    /// Number of batches this iterator yields in total.
    pub fn len(&self) -> usize {
        self.total - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for EpochIter {
    type Item = Result<HostBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.total {
            return None;
        }
        let worker = (self.next - self.start) % self.receivers.len();
        self.next += 1;
        match self.receivers[worker].recv() {
            Ok(batch) => {
                if batch.is_err() {
                    self.next = self.total;
                }
                Some(batch)
            }
            Err(_) => {
                self.next = self.total;
                Some(Err(anyhow::anyhow!("a data loader thread stopped unexpectedly")))
            }
        }
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        // Closing the channels makes blocked workers exit at their next send.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::preprocess::{Crop, Normalization};
    use crate::data::InMemoryDataset;

    fn toy(n: usize) -> Arc<dyn Dataset> {
        Arc::new(InMemoryDataset {
            channels: 1,
            height: 6,
            width: 6,
            pixels: (0..n * 36).map(|i| (i / 36 * 7 + i % 36) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u16).collect(),
            class_names: (0..10).map(|i| i.to_string()).collect(),
        })
    }

    fn pre() -> Preprocess {
        Preprocess {
            crop: Crop::PadCrop { pad: 2 },
            flip: true,
            normalization: Normalization { mean: vec![0.5], std: vec![0.25] },
        }
    }

    fn cfg(workers: usize) -> LoaderConfig {
        LoaderConfig {
            batch_size: 8,
            workers,
            prefetch: 2,
            shuffle: true,
            drop_last: false,
            copies: 1,
            passes: 1,
            seed: 42,
            image_ops: None,
        }
    }

    fn collect(loader: &Loader, epoch: usize, start: usize) -> Vec<HostBatch> {
        loader.epoch(epoch, start).map(|b| b.unwrap()).collect()
    }

    #[test]
    fn worker_count_does_not_change_the_stream() {
        let one = Loader::new(toy(37), pre(), cfg(1)).unwrap();
        let three = Loader::new(toy(37), pre(), cfg(3)).unwrap();
        let a = collect(&one, 2, 0);
        let b = collect(&three, 2, 0);
        assert_eq!(a.len(), 5);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.indices, y.indices);
            assert_eq!(x.images, y.images);
            assert_eq!(x.crops, y.crops);
        }
        // Each epoch is a permutation; different epochs differ.
        let mut seen: Vec<usize> = a.iter().flat_map(|b| b.indices.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..37).collect::<Vec<_>>());
        let c = collect(&one, 3, 0);
        assert_ne!(a[0].indices, c[0].indices);
    }

    #[test]
    fn resuming_mid_epoch_gives_the_remaining_batches() {
        let loader = Loader::new(toy(37), pre(), cfg(2)).unwrap();
        let all = collect(&loader, 1, 0);
        let tail = collect(&loader, 1, 3);
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].indices, all[3].indices);
        assert_eq!(tail[1].images, all[4].images);
    }

    #[test]
    fn batch_augmentation_copies_are_adjacent_and_preprocessed_independently() {
        let mut c = cfg(2);
        c.copies = 4;
        let loader = Loader::new(toy(16), pre(), c).unwrap();
        let b = loader.epoch(0, 0).next().unwrap().unwrap();
        assert_eq!(b.len(), 32);
        assert_eq!(&b.indices[..4], &[b.indices[0]; 4]);
        assert_eq!(&b.copies[..4], &[0, 1, 2, 3]);
        let distinct: std::collections::HashSet<_> = b.crops[..4].iter().map(|p| (p.top, p.left, p.flip)).collect();
        assert!(distinct.len() > 1, "copies must get their own crops");
    }

    #[test]
    fn dataset_augmentation_makes_longer_epochs() {
        let mut c = cfg(1);
        c.passes = 2;
        c.drop_last = true;
        let loader = Loader::new(toy(20), pre(), c).unwrap();
        assert_eq!(loader.batches_per_epoch(), 5);
        let order = loader.epoch_order(0);
        for i in 0..20 {
            assert_eq!(order.iter().filter(|e| e.0 == i).count(), 2);
        }
    }

    #[test]
    fn a_failing_sample_surfaces_as_an_error() {
        struct Broken;
        impl Dataset for Broken {
            fn len(&self) -> usize {
                4
            }
            fn image(&self, i: usize) -> Result<crate::data::ImageU8> {
                if i == 2 {
                    bail!("broken.png: cannot decode image")
                }
                Ok(crate::data::ImageU8::zeros(1, 6, 6))
            }
            fn label(&self, _: usize) -> usize {
                0
            }
            fn num_classes(&self) -> usize {
                1
            }
            fn channels(&self) -> usize {
                1
            }
            fn class_names(&self) -> Vec<String> {
                vec!["a".into()]
            }
        }
        let mut c = cfg(2);
        c.batch_size = 1;
        c.shuffle = false;
        let loader = Loader::new(Arc::new(Broken), pre(), c).unwrap();
        let results: Vec<_> = loader.epoch(0, 0).collect();
        assert!(results[0].is_ok() && results[1].is_ok());
        let e = format!("{:#}", results[2].as_ref().unwrap_err());
        assert!(e.contains("broken.png"), "{e}");
        assert_eq!(results.len(), 3, "iteration stops after an error");
    }
}
