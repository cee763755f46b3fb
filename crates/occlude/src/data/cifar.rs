//! The CIFAR-10 and CIFAR-100 "binary version" files.
//!
//! CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin` and
//! `test_batch.bin`; each record is 1 label byte then 3072 pixel bytes (1024 red,
//! 1024 green, 1024 blue, row-major 32×32). CIFAR-100 (`cifar-100-binary/`): `train.bin`
//! and `test.bin`; each record is a coarse label byte, a fine label byte, then the same
//! 3072 pixel bytes.

use super::InMemoryDataset;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR-100 label to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cifar100Labels {
    /// The 100 fine classes (the usual benchmark).
    Fine,
    /// The 20 superclasses.
    Coarse,
}

/// Which of the two CIFAR datasets a directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarVariant {
    Cifar10,
    Cifar100(Cifar100Labels),
}

impl CifarVariant {
    fn label_bytes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1,
            CifarVariant::Cifar100(_) => 2,
        }
    }

    fn num_classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100(Cifar100Labels::Fine) => 100,
            CifarVariant::Cifar100(Cifar100Labels::Coarse) => 20,
        }
    }

    /// Which byte of a record holds the label used.
    fn label_offset(self) -> usize {
        match self {
            CifarVariant::Cifar10 | CifarVariant::Cifar100(Cifar100Labels::Coarse) => 0,
            CifarVariant::Cifar100(Cifar100Labels::Fine) => 1,
        }
    }

    fn files(self, train: bool) -> Vec<&'static str> {
        match (self, train) {
            (CifarVariant::Cifar10, true) => {
                vec!["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
            }
            (CifarVariant::Cifar10, false) => vec!["test_batch.bin"],
            (CifarVariant::Cifar100(_), true) => vec!["train.bin"],
            (CifarVariant::Cifar100(_), false) => vec!["test.bin"],
        }
    }

    fn class_names_file(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "batches.meta.txt",
            CifarVariant::Cifar100(Cifar100Labels::Fine) => "fine_label_names.txt",
            CifarVariant::Cifar100(Cifar100Labels::Coarse) => "coarse_label_names.txt",
        }
    }
}

/// Parses the records of one binary file into `ds`.
pub fn parse_records(bytes: &[u8], name: &str, variant: CifarVariant, ds: &mut InMemoryDataset) -> Result<()> {
    let record = variant.label_bytes() + PIXELS;
    if bytes.is_empty() {
        bail!("{name}: empty file; expected records of {record} bytes");
    }
    if !bytes.len().is_multiple_of(record) {
        let full = bytes.len() / record;
        bail!(
            "{name}: truncated: {} bytes is not a whole number of {record}-byte records (record {full} at offset {} is incomplete)",
            bytes.len(),
            full * record
        );
    }
    let classes = variant.num_classes();
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        for (b, &l) in rec[..variant.label_bytes()].iter().enumerate() {
            // Both CIFAR-100 labels are checked, whichever one is used.
            let limit = match (variant, b) {
                (CifarVariant::Cifar10, _) => 10,
                (CifarVariant::Cifar100(_), 0) => 20,
                (CifarVariant::Cifar100(_), _) => 100,
            };
            if l as usize >= limit {
                bail!("{name}: record {i} (offset {}): label {l} out of range 0..{}", i * record + b, limit - 1);
            }
        }
        ds.labels.push(rec[variant.label_offset()] as u16);
        ds.pixels.extend_from_slice(&rec[variant.label_bytes()..]);
    }
    debug_assert!(ds.labels.iter().all(|&l| (l as usize) < classes));
    Ok(())
}

/// Reads the class names file if present (one name per line), else numbers the classes.
fn class_names(dir: &Path, variant: CifarVariant) -> Vec<String> {
    let n = variant.num_classes();
    let from_file = std::fs::read_to_string(dir.join(variant.class_names_file()))
        .ok()
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>())
        .filter(|names| names.len() == n);
    from_file.unwrap_or_else(|| match variant {
        CifarVariant::Cifar10 => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
        _ => (0..n).map(|i| format!("class_{i}")).collect(),
    })
}

/// Resolves the directory holding the `.bin` files: `dir` itself or the standard
/// sub-directory the archive extracts to.
fn resolve_dir(dir: &Path, variant: CifarVariant) -> Result<PathBuf> {
    let sub = match variant {
        CifarVariant::Cifar10 => "cifar-10-batches-bin",
        CifarVariant::Cifar100(_) => "cifar-100-binary",
    };
    let first = variant.files(true)[0];
    for d in [dir.to_path_buf(), dir.join(sub)] {
        if d.join(first).is_file() {
            return Ok(d);
        }
    }
    bail!(
        "{}: no {first} found here or in {sub}/ (expected the CIFAR binary version, e.g. cifar-{}-binary.tar.gz extracted)",
        dir.display(),
        if matches!(variant, CifarVariant::Cifar10) { "10" } else { "100" }
    )
}

/// Loads the training or test split of a CIFAR binary directory.
pub fn load_cifar(dir: &Path, variant: CifarVariant, train: bool) -> Result<InMemoryDataset> {
    let dir = resolve_dir(dir, variant)?;
    let mut ds = InMemoryDataset {
        channels: 3,
        height: 32,
        width: 32,
        pixels: Vec::new(),
        labels: Vec::new(),
        class_names: class_names(&dir, variant),
    };
    for file in variant.files(train) {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        parse_records(&bytes, &path.display().to_string(), variant, &mut ds)?;
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> InMemoryDataset {
        InMemoryDataset { channels: 3, height: 32, width: 32, pixels: vec![], labels: vec![], class_names: vec![] }
    }

    fn record(labels: &[u8], fill: u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        r.extend(std::iter::repeat_n(fill, PIXELS));
        r
    }

    #[test]
    fn reads_cifar10_and_cifar100_records() {
        let mut ds = empty();
        let bytes = [record(&[3], 7), record(&[9], 8)].concat();
        parse_records(&bytes, "b", CifarVariant::Cifar10, &mut ds).unwrap();
        assert_eq!(ds.labels, vec![3, 9]);
        assert_eq!(ds.pixels.len(), 2 * PIXELS);
        assert_eq!(ds.pixels[PIXELS], 8);

        let bytes = [record(&[4, 77], 1)].concat();
        let mut fine = empty();
        parse_records(&bytes, "b", CifarVariant::Cifar100(Cifar100Labels::Fine), &mut fine).unwrap();
        let mut coarse = empty();
        parse_records(&bytes, "b", CifarVariant::Cifar100(Cifar100Labels::Coarse), &mut coarse).unwrap();
        assert_eq!((fine.labels[0], coarse.labels[0]), (77, 4));
    }

    #[test]
    fn truncated_record_names_file_and_offset() {
        let mut bytes = [record(&[1], 0), record(&[2], 0)].concat();
        bytes.truncate(PIXELS + 1 + 100);
        let e = format!(
            "{:#}",
            parse_records(&bytes, "data_batch_3.bin", CifarVariant::Cifar10, &mut empty()).unwrap_err()
        );
        assert!(e.contains("data_batch_3.bin") && e.contains("record 1 at offset 3073"), "{e}");
    }

    #[test]
    fn out_of_range_label_names_record() {
        let bytes = [record(&[1], 0), record(&[10], 0)].concat();
        let e =
            format!("{:#}", parse_records(&bytes, "test_batch.bin", CifarVariant::Cifar10, &mut empty()).unwrap_err());
        assert!(e.contains("test_batch.bin") && e.contains("record 1") && e.contains("label 10"), "{e}");
        let bytes = record(&[25, 3], 0);
        let e = format!(
            "{:#}",
            parse_records(&bytes, "train.bin", CifarVariant::Cifar100(Cifar100Labels::Fine), &mut empty()).unwrap_err()
        );
        assert!(e.contains("label 25"), "{e}");
    }

    #[test]
    fn loads_a_generated_cifar10_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&sub).unwrap();
        for (k, f) in CifarVariant::Cifar10.files(true).iter().enumerate() {
            std::fs::write(sub.join(f), [record(&[k as u8], k as u8), record(&[9], 0)].concat()).unwrap();
        }
        std::fs::write(sub.join("test_batch.bin"), record(&[5], 1)).unwrap();
        let train = load_cifar(dir.path(), CifarVariant::Cifar10, true).unwrap();
        let test = load_cifar(dir.path(), CifarVariant::Cifar10, false).unwrap();
        assert_eq!(train.labels, vec![0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
        assert_eq!(test.labels, vec![5]);
        assert_eq!(train.class_names[0], "airplane");
        // Missing file: the error names the directory and what was expected.
        std::fs::remove_file(sub.join("data_batch_4.bin")).unwrap();
        let e = format!("{:#}", load_cifar(dir.path(), CifarVariant::Cifar10, true).unwrap_err());
        assert!(e.contains("data_batch_4.bin"), "{e}");
    }
}
