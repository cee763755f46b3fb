//! Which dataset a run uses, and the standard preprocessing that goes with it.

use super::cifar::{load_cifar, Cifar100Labels, CifarVariant};
use super::idx::{load_mnist_split, FASHION_MNIST_CLASSES};
use super::image_folder::{list_classes, split_dir, ImageFolder};
use super::preprocess::{Crop, Normalization, Preprocess};
use super::{embedded, Dataset, InMemoryDataset};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The dataset formats occlude reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The Fashion-MNIST subset compiled into occlude (no files needed).
    Embedded,
    /// Fashion-MNIST IDX files (`train-images-idx3-ubyte[.gz]`, …).
    FashionMnist,
    /// CIFAR-10 binary version.
    Cifar10,
    /// CIFAR-100 binary version.
    Cifar100,
    /// ImageNet layout: `train/<class>/*.jpg`, `val/<class>/*.jpg`.
    ImageFolder,
    /// Market-1501 re-identification layout (`bounding_box_train/`, `query/`,
    /// `bounding_box_test/`); trained by the re-ID task (a `[reid]` section).
    Market1501,
}

impl DatasetKind {
    pub const NAMES: &'static str = "embedded, fashion-mnist, cifar10, cifar100, image-folder, market1501";
}

/// The `[data]` section of a run configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub kind: DatasetKind,
    /// Directory holding the files (not used by `embedded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// CIFAR-100 only: `fine` (100 classes) or `coarse` (20 superclasses).
    #[serde(default = "default_cifar100_labels")]
    pub cifar100_labels: Cifar100Labels,
    /// Use only the first `n` training samples of each class (quick experiments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_per_class: Option<usize>,
    /// Use only the first `n` evaluation samples of each class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_per_class: Option<usize>,
    /// ImageFolder only: replace undecodable or empty images instead of failing
    /// (the number replaced is reported).
    #[serde(default)]
    pub skip_bad_images: bool,
    /// ImageFolder only: training crop size (eval resizes to 256/224 of it).
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// Override the standard training preprocessing of the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_preprocess: Option<Preprocess>,
}

fn default_cifar100_labels() -> Cifar100Labels {
    Cifar100Labels::Fine
}

fn default_image_size() -> usize {
    224
}

impl DatasetSpec {
    pub fn new(kind: DatasetKind, path: Option<PathBuf>) -> Self {
        Self {
            kind,
            path,
            cifar100_labels: Cifar100Labels::Fine,
            train_per_class: None,
            test_per_class: None,
            skip_bad_images: false,
            image_size: 224,
            train_preprocess: None,
        }
    }

    fn dir(&self) -> Result<&Path> {
        match &self.path {
            Some(p) => Ok(p),
            None => bail!("data.path: required for data.kind = {:?} (or pass --data DIR)", self.kind),
        }
    }

    /// Checks field values without touching the disk.
    pub fn validate(&self) -> Result<()> {
        if self.kind != DatasetKind::Embedded {
            self.dir()?;
        }
        if self.train_per_class == Some(0) || self.test_per_class == Some(0) {
            bail!("data.train_per_class / data.test_per_class: must be at least 1 when given");
        }
        if self.image_size < 8 {
            bail!("data.image_size: must be at least 8, got {}", self.image_size);
        }
        if let Some(p) = &self.train_preprocess {
            p.validate_values().context("data.train_preprocess")?;
        }
        Ok(())
    }
}

/// Loaded training and evaluation splits with their preprocessing.
pub struct DataSplits {
    pub train: Arc<dyn Dataset>,
    pub test: Arc<dyn Dataset>,
    pub train_preprocess: Preprocess,
    pub eval_preprocess: Preprocess,
    pub num_classes: usize,
    pub channels: usize,
    /// Input size `(H, W)` the network sees.
    pub input_size: (usize, usize),
}

/// CIFAR-style standard preprocessing: pad 4, random crop, horizontal flip.
fn pad_crop_flip(normalization: Normalization) -> Preprocess {
    Preprocess { crop: Crop::PadCrop { pad: 4 }, flip: true, normalization }
}

fn plain(normalization: Normalization) -> Preprocess {
    Preprocess { crop: Crop::None, flip: false, normalization }
}

fn limit(ds: InMemoryDataset, per_class: Option<usize>) -> InMemoryDataset {
    match per_class {
        Some(n) => ds.balanced_prefix(n),
        None => ds,
    }
}

/// Loads the dataset a spec describes.
pub fn load_dataset(spec: &DatasetSpec) -> Result<DataSplits> {
    spec.validate()?;
    let in_memory = |train: InMemoryDataset, test: InMemoryDataset, norm: Normalization| {
        let train = limit(train, spec.train_per_class);
        let test = limit(test, spec.test_per_class);
        let (c, h, w) = (train.channels, train.height, train.width);
        if (test.channels, test.height, test.width) != (c, h, w) {
            bail!(
                "training images are {c}×{h}×{w} but evaluation images are {}×{}×{}",
                test.channels,
                test.height,
                test.width
            );
        }
        Ok(DataSplits {
            num_classes: train.class_names.len(),
            channels: c,
            input_size: (h, w),
            train: Arc::new(train),
            test: Arc::new(test),
            train_preprocess: pad_crop_flip(norm.clone()),
            eval_preprocess: plain(norm),
        })
    };
    let mut splits = match spec.kind {
        DatasetKind::Embedded => in_memory(embedded::train()?, embedded::test()?, Normalization::fashion_mnist()),
        DatasetKind::FashionMnist => {
            let dir = spec.dir()?;
            in_memory(
                load_mnist_split(dir, "train", &FASHION_MNIST_CLASSES)?,
                load_mnist_split(dir, "t10k", &FASHION_MNIST_CLASSES)?,
                Normalization::fashion_mnist(),
            )
        }
        DatasetKind::Cifar10 => {
            let dir = spec.dir()?;
            in_memory(
                load_cifar(dir, CifarVariant::Cifar10, true)?,
                load_cifar(dir, CifarVariant::Cifar10, false)?,
                Normalization::cifar10(),
            )
        }
        DatasetKind::Cifar100 => {
            let dir = spec.dir()?;
            let v = CifarVariant::Cifar100(spec.cifar100_labels);
            in_memory(load_cifar(dir, v, true)?, load_cifar(dir, v, false)?, Normalization::cifar100())
        }
        DatasetKind::ImageFolder => load_image_folder(spec),
        DatasetKind::Market1501 => bail!(
            "data.kind = \"market1501\" is a re-identification dataset: train it with a [reid] section \
             (see configs/market1501-reid.toml)"
        ),
    }?;
    if let Some(p) = &spec.train_preprocess {
        p.validate(splits.channels).context("data.train_preprocess")?;
        splits.train_preprocess = p.clone();
    }
    Ok(splits)
}

fn load_image_folder(spec: &DatasetSpec) -> Result<DataSplits> {
    let root = spec.dir()?;
    let train_dir = split_dir(root, true)?;
    let classes = list_classes(&train_dir)?;
    let train = ImageFolder::open(&train_dir, &classes, spec.skip_bad_images)?;
    let test = ImageFolder::open(&split_dir(root, false)?, &classes, spec.skip_bad_images)?;
    if spec.train_per_class.is_some() || spec.test_per_class.is_some() {
        bail!("data.train_per_class / test_per_class: not supported for image-folder (make a smaller folder instead)");
    }
    let size = spec.image_size;
    let norm = Normalization::imagenet();
    Ok(DataSplits {
        num_classes: classes.len(),
        channels: 3,
        input_size: (size, size),
        train: Arc::new(train),
        test: Arc::new(test),
        train_preprocess: Preprocess {
            crop: Crop::RandomResizedCrop { size, scale: [0.08, 1.0], ratio: [3.0 / 4.0, 4.0 / 3.0] },
            flip: true,
            normalization: norm.clone(),
        },
        // 256/224 of the crop size, as the standard ImageNet evaluation.
        eval_preprocess: Preprocess {
            crop: Crop::ResizeCenterCrop { resize: (size * 256).div_ceil(224), crop: size },
            flip: false,
            normalization: norm,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_loads_with_fashion_mnist_preprocessing() {
        let mut spec = DatasetSpec::new(DatasetKind::Embedded, None);
        spec.train_per_class = Some(5);
        let s = load_dataset(&spec).unwrap();
        assert_eq!((s.train.len(), s.test.len(), s.num_classes, s.channels), (50, 2000, 10, 1));
        assert_eq!(s.train_preprocess.crop, Crop::PadCrop { pad: 4 });
        assert_eq!(s.input_size, (28, 28));
    }

    #[test]
    fn missing_path_names_the_field() {
        let spec = DatasetSpec::new(DatasetKind::Cifar10, None);
        let e = format!("{:#}", load_dataset(&spec).err().unwrap());
        assert!(e.contains("data.path"), "{e}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let e = toml::from_str::<DatasetSpec>("kind = \"cifar10\"\npth = \"x\"").unwrap_err();
        assert!(e.to_string().contains("pth"), "{e}");
        let e = toml::from_str::<DatasetSpec>("kind = \"mnist\"").unwrap_err();
        assert!(e.to_string().contains("mnist"), "{e}");
    }
}
