//! The labelled subset of a semi-supervised run: class-balanced, chosen from the seed,
//! recorded in the run directory (`labelled.json`) and in the checkpoint; the rest of
//! the training split is the unlabelled data.

use crate::data::{Dataset, Subset};
use crate::rng::{rng_for, Stream};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The draw site of the subset in [`Stream::Subset`] (apart from other subsets).
const SUBSET_SITE: u64 = 0x5e31;

/// Which training images are labelled (the unlabelled ones are all the others).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledSplit {
    /// The seed the subset was drawn from.
    pub seed: u64,
    /// Labelled images per class.
    pub per_class: usize,
    /// Training-split indices of the labelled images, ascending.
    pub labelled: Vec<usize>,
}

impl LabelledSplit {
    /// `labels` images in all, `labels / K` of every class, drawn uniformly within each
    /// class from `seed` (the same subset on every machine and on resume).
    pub fn draw(train: &dyn Dataset, labels: usize, seed: u64) -> Result<Self> {
        let k = train.num_classes();
        if !labels.is_multiple_of(k) {
            bail!(
                "semi_supervised.labels: {labels} is not a multiple of the {k} classes (the subset is class-balanced)"
            );
        }
        let per_class = labels / k;
        let mut by_class = vec![Vec::new(); k];
        for i in 0..train.len() {
            by_class[train.label(i)].push(i);
        }
        let mut labelled = Vec::with_capacity(labels);
        for (c, mut members) in by_class.into_iter().enumerate() {
            // Every class must keep unlabelled images too.
            if members.len() <= per_class {
                bail!(
                    "semi_supervised.labels: {labels} asks for {per_class} labelled images of class {c}, which has {} training images (some must stay unlabelled)",
                    members.len()
                );
            }
            members.shuffle(&mut rng_for(seed, Stream::Subset, SUBSET_SITE, c as u64, 0));
            labelled.extend_from_slice(&members[..per_class]);
        }
        labelled.sort_unstable();
        Ok(Self { seed, per_class, labelled })
    }

    /// The training-split indices not in the labelled subset, ascending.
    pub fn unlabelled(&self, len: usize) -> Vec<usize> {
        let mut is_labelled = vec![false; len];
        for &i in &self.labelled {
            is_labelled[i] = true;
        }
        (0..len).filter(|&i| !is_labelled[i]).collect()
    }

    /// Checks a recorded split against the training split it indexes.
    pub fn check(&self, train: &dyn Dataset) -> Result<()> {
        if self.labelled.windows(2).any(|w| w[0] >= w[1]) {
            bail!("the labelled subset's indices are not strictly ascending");
        }
        if let Some(&i) = self.labelled.iter().find(|&&i| i >= train.len()) {
            bail!("labelled index {i} is outside the training split ({} images)", train.len());
        }
        Ok(())
    }

    /// The labelled and the unlabelled images as datasets of their own.
    pub fn datasets(&self, train: &Arc<dyn Dataset>) -> Result<(Arc<dyn Dataset>, Arc<dyn Dataset>)> {
        self.check(train.as_ref()).context("labelled subset")?;
        let unlabelled = self.unlabelled(train.len());
        Ok((
            Arc::new(Subset { inner: train.clone(), indices: self.labelled.clone() }),
            Arc::new(Subset { inner: train.clone(), indices: unlabelled }),
        ))
    }
}
