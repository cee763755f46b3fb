//! The two data streams of a semi-supervised run. Each runs on across its own epochs
//! (a pass over the labelled subset and a pass over the unlabelled images differ in
//! length), so batch `g` of a stream, counted over the whole run, is batch
//! `g mod B` of the loader's epoch `g div B` (`B` batches per loader epoch): a function
//! of the seed and the step only, which is what resuming needs.

use crate::data::loader::EpochIter;
use crate::data::{HostBatch, Loader};
use anyhow::Result;

/// The batches `from..to` of a loader run on across its epochs, each with the loader
/// epoch it belongs to (the augmentation draws depend on it).
pub struct RunningStream {
    loader: Loader,
    next: usize,
    to: usize,
    current: Option<(usize, EpochIter)>,
}

impl RunningStream {
    pub fn new(loader: Loader, from: usize, to: usize) -> Self {
        Self { loader, next: from, to, current: None }
    }
}

/// Loader epoch and batch of the stream's batch `g`.
pub fn position(g: usize, batches_per_epoch: usize) -> (usize, usize) {
    (g / batches_per_epoch, g % batches_per_epoch)
}

impl Iterator for RunningStream {
    type Item = Result<(usize, HostBatch)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.to {
            return None;
        }
        let (epoch, batch) = position(self.next, self.loader.batches_per_epoch());
        self.next += 1;
        if self.current.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.current = Some((epoch, self.loader.epoch(epoch, batch)));
        }
        let (_, iter) = self.current.as_mut().expect("set above");
        Some(match iter.next() {
            Some(Ok(b)) => Ok((epoch, b)),
            Some(Err(e)) => {
                self.next = self.to;
                Err(e)
            }
            None => {
                self.next = self.to;
                Err(anyhow::anyhow!("a data stream ended before its epoch did"))
            }
        })
    }
}
