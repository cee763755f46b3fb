//! CIFAR binary reader (`occlude::data::cifar::parse_records`, the bytes-level entry
//! point `load_cifar` calls for each `.bin` file).
//!
//! Every input is read as a CIFAR-10 file, a CIFAR-100 file with fine labels and one
//! with coarse labels, each into an empty dataset and into one already holding a
//! record (files are appended one after another). Accepted files must be a whole
//! number of records, with every label in range and the pixels copied verbatim.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use occlude::data::cifar::{parse_records, Cifar100Labels, CifarVariant};
use occlude::data::InMemoryDataset;

const PIXELS: usize = 3 * 32 * 32;

fn dataset(records: usize) -> InMemoryDataset {
    InMemoryDataset {
        channels: 3,
        height: 32,
        width: 32,
        pixels: vec![7; records * PIXELS],
        labels: vec![1; records],
        class_names: Vec::new(),
    }
}

fn check(data: &[u8], variant: CifarVariant, before: usize) {
    let (label_bytes, label_at, classes) = match variant {
        CifarVariant::Cifar10 => (1, 0, 10),
        CifarVariant::Cifar100(Cifar100Labels::Fine) => (2, 1, 100),
        CifarVariant::Cifar100(Cifar100Labels::Coarse) => (2, 0, 20),
    };
    let record = label_bytes + PIXELS;
    let mut ds = dataset(before);
    let result = parse_records(data, "fuzz.bin", variant, &mut ds);
    common::report(&format!("{variant:?} after {before} records"), &result);
    if result.is_err() {
        return;
    }
    assert!(!data.is_empty() && data.len().is_multiple_of(record), "accepted {} bytes", data.len());
    let n = data.len() / record;
    assert_eq!(ds.labels.len(), before + n, "labels");
    assert_eq!(ds.pixels.len(), (before + n) * PIXELS, "pixels");
    assert!(ds.labels[..before].iter().all(|&l| l == 1) && ds.pixels[..before * PIXELS].iter().all(|&p| p == 7));
    for (i, rec) in data.chunks_exact(record).enumerate() {
        assert_eq!(ds.labels[before + i], rec[label_at] as u16, "label of record {i}");
        assert!((ds.labels[before + i] as usize) < classes, "label {} of record {i}", ds.labels[before + i]);
        if label_bytes == 2 {
            // Both CIFAR-100 labels are checked, whichever is used.
            assert!(rec[0] < 20 && rec[1] < 100, "record {i}: labels {} {}", rec[0], rec[1]);
        }
        let at = (before + i) * PIXELS;
        assert_eq!(&ds.pixels[at..at + PIXELS], &rec[label_bytes..], "pixels of record {i}");
    }
}

fuzz_target!(|data: &[u8]| {
    for variant in [
        CifarVariant::Cifar10,
        CifarVariant::Cifar100(Cifar100Labels::Fine),
        CifarVariant::Cifar100(Cifar100Labels::Coarse),
    ] {
        check(data, variant, 0);
        check(data, variant, 1);
    }
});
