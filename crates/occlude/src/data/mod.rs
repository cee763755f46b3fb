//! Datasets on disk in their real formats, standard preprocessing, and the loader.
//!
//! * [`idx`]: Fashion-MNIST / MNIST IDX files (optionally gzipped).
//! * [`cifar`]: the CIFAR-10 / CIFAR-100 binary versions.
//! * [`image_folder`]: the ImageNet `train/<class>/*.jpg` layout.
//! * [`market1501`]: the Market-1501 person re-identification layout (and
//!   [`synth_market1501`], a generated stand-in).
//! * [`embedded`]: a class-balanced Fashion-MNIST subset shipped inside the binary.
//! * [`preprocess`]: crops, flips, resizing and per-channel normalisation.
//! * [`loader`]: worker threads, prefetching, deterministic shuffling.
//!
//! Papers: the datasets and preprocessing of [seed 000] §4.1 (ImageNet, CIFAR) and
//! [seed 003] §4.1–4.2 (CIFAR-10, ImageNet); Fashion-MNIST for CPU-sized runs.
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

pub mod cifar;
pub mod embedded;
pub mod idx;
pub mod image_folder;
pub mod loader;
pub mod market1501;
pub mod preprocess;
pub mod spec;
pub mod synth;
pub mod synth_market1501;

pub use loader::{HostBatch, Loader, LoaderConfig};
pub use preprocess::{Normalization, Preprocess};
pub use spec::{load_dataset, DataSplits, DatasetKind, DatasetSpec};

use anyhow::Result;

/// An 8-bit image stored channel-major (`C×H×W`), the layout every reader produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageU8 {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<u8>,
}

impl ImageU8 {
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), channels * height * width, "image buffer size");
        Self { channels, height, width, data }
    }

    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        Self::new(channels, height, width, vec![0; channels * height * width])
    }

    /// An RGB image (interleaved `H × W × 3`, as the `image` crate stores it) in this
    /// crate's planar `3 × H × W` layout.
    pub fn from_rgb8(rgb: &image::RgbImage) -> Self {
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let mut data = vec![0u8; 3 * h * w];
        for (i, px) in rgb.pixels().enumerate() {
            for c in 0..3 {
                data[c * h * w + i] = px[c];
            }
        }
        Self::new(3, h, w, data)
    }

    #[inline]
    pub fn at(&self, c: usize, y: usize, x: usize) -> u8 {
        self.data[(c * self.height + y) * self.width + x]
    }
}

/// A labelled image dataset. Implementations are shared between loader threads.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The image of sample `index`, decoded.
    fn image(&self, index: usize) -> Result<ImageU8>;
    /// The class label of sample `index`, in `0..num_classes()`.
    fn label(&self, index: usize) -> usize;
    fn num_classes(&self) -> usize;
    /// Colour channels of every image (1 for Fashion-MNIST, 3 for CIFAR/ImageNet).
    fn channels(&self) -> usize;
    /// Human-readable class names, `num_classes()` of them.
    fn class_names(&self) -> Vec<String>;
    /// Images that could not be decoded and were replaced (only with `skip_bad_images`).
    fn bad_images_skipped(&self) -> usize {
        0
    }
}

/// A dataset held in memory as one contiguous `N×C×H×W` byte buffer
/// (Fashion-MNIST, CIFAR and the embedded subset).
#[derive(Clone, Debug)]
pub struct InMemoryDataset {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
    pub class_names: Vec<String>,
}

impl InMemoryDataset {
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The subset made of the given sample indices, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let n = self.image_len();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * n..(i + 1) * n]);
            labels.push(self.labels[i]);
        }
        Self { pixels, labels, class_names: self.class_names.clone(), ..*self }
    }

    /// The first `per_class` samples of every class, in file order: a class-balanced
    /// subset that is the same on every machine.
    pub fn balanced_prefix(&self, per_class: usize) -> Self {
        let mut taken = vec![0usize; self.class_names.len()];
        let indices: Vec<usize> = (0..self.labels.len())
            .filter(|&i| {
                let c = self.labels[i] as usize;
                let keep = taken[c] < per_class;
                taken[c] += keep as usize;
                keep
            })
            .collect();
        self.subset(&indices)
    }
}

impl Dataset for InMemoryDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn image(&self, index: usize) -> Result<ImageU8> {
        let n = self.image_len();
        Ok(ImageU8::new(self.channels, self.height, self.width, self.pixels[index * n..(index + 1) * n].to_vec()))
    }

    fn label(&self, index: usize) -> usize {
        self.labels[index] as usize
    }

    fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn class_names(&self) -> Vec<String> {
        self.class_names.clone()
    }
}

/// Some samples of a dataset, in a given order: index `i` is `indices[i]` of `inner`
/// (the fixed clean-training subset of evaluation, UDA's labelled and unlabelled
/// streams).
pub struct Subset {
    pub inner: std::sync::Arc<dyn Dataset>,
    pub indices: Vec<usize>,
}

impl Dataset for Subset {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn image(&self, index: usize) -> Result<ImageU8> {
        self.inner.image(self.indices[index])
    }
    fn label(&self, index: usize) -> usize {
        self.inner.label(self.indices[index])
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn channels(&self) -> usize {
        self.inner.channels()
    }
    fn class_names(&self) -> Vec<String> {
        self.inner.class_names()
    }
    fn bad_images_skipped(&self) -> usize {
        self.inner.bad_images_skipped()
    }
}
