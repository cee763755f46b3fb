//! A class-balanced Fashion-MNIST subset compiled into the library, so the demo and
//! the tests run on a fresh machine with no download.
//!
//! Contents: the first 1,000 training images of each class (10,000) and the first 200
//! test images of each class (2,000), in file order, as gzipped IDX files under
//! `crates/occlude/assets/fashion-mnist-subset/` (MIT licence, © 2017 Zalando SE; see
//! the `LICENSE` file there). Rebuild with
//! `occlude data subset --from /usr/share/datasets/fashion-mnist --out <dir>`.

use super::idx::{dataset_from_idx, parse_idx, FASHION_MNIST_CLASSES};
use super::InMemoryDataset;
use anyhow::Result;
use flate2::read::GzDecoder;

pub const TRAIN_PER_CLASS: usize = 1000;
pub const TEST_PER_CLASS: usize = 200;

static TRAIN_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
static TRAIN_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
static TEST_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
static TEST_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

fn decode(images: &[u8], labels: &[u8], name: &str) -> Result<InMemoryDataset> {
    let images_name = format!("embedded {name}-images-idx3-ubyte.gz");
    let labels_name = format!("embedded {name}-labels-idx1-ubyte.gz");
    dataset_from_idx(
        parse_idx(GzDecoder::new(images), &images_name, 3)?,
        parse_idx(GzDecoder::new(labels), &labels_name, 1)?,
        &images_name,
        &labels_name,
        &FASHION_MNIST_CLASSES,
    )
}

/// The embedded training subset (10,000 images, 1,000 per class).
pub fn train() -> Result<InMemoryDataset> {
    decode(TRAIN_IMAGES, TRAIN_LABELS, "train")
}

/// The embedded test subset (2,000 images, 200 per class).
pub fn test() -> Result<InMemoryDataset> {
    decode(TEST_IMAGES, TEST_LABELS, "t10k")
}

/// Writes a balanced subset of an MNIST-style directory as gzipped IDX files.
pub fn write_subset(
    from: &std::path::Path,
    out: &std::path::Path,
    train_per_class: usize,
    test_per_class: usize,
) -> Result<()> {
    use super::idx::{load_mnist_split, to_idx};
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    for (split, per_class) in [("train", train_per_class), ("t10k", test_per_class)] {
        let ds = load_mnist_split(from, split, &FASHION_MNIST_CLASSES)?.balanced_prefix(per_class);
        let (images, labels) = to_idx(&ds);
        for (kind, bytes) in [("images-idx3", images), ("labels-idx1", labels)] {
            let mut enc = GzEncoder::new(Vec::new(), Compression::best());
            enc.write_all(&bytes)?;
            crate::io::write_atomic(&out.join(format!("{split}-{kind}-ubyte.gz")), &enc.finish()?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn embedded_subset_is_class_balanced_fashion_mnist() {
        let train = train().unwrap();
        let test = test().unwrap();
        assert_eq!((train.len(), test.len()), (10_000, 2_000));
        assert_eq!((train.height, train.width, train.channels), (28, 28, 1));
        for (ds, per) in [(&train, TRAIN_PER_CLASS), (&test, TEST_PER_CLASS)] {
            let mut counts = [0usize; 10];
            for &l in &ds.labels {
                counts[l as usize] += 1;
            }
            assert_eq!(counts, [per; 10]);
        }
        // Real images, not blanks: Fashion-MNIST's mean intensity is about 0.286.
        let mean = train.pixels.iter().map(|&p| p as f64).sum::<f64>() / train.pixels.len() as f64;
        assert!((mean / 255.0 - 0.286).abs() < 0.02, "mean {mean}");
    }
}
