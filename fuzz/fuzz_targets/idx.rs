//! IDX reader (`occlude::data::idx`).
//!
//! Every input is read three ways:
//! 1. as one IDX stream, with `parse_idx` at rank 1 (labels) and rank 3 (images);
//! 2. as a file on disk with `read_idx_file`, which also sniffs gzip by content
//!    (the reader takes only a path, so the bytes go through a temporary file);
//! 3. as `[n_classes - 1, split_lo, split_hi, images…, labels…]`: the two IDX streams are
//!    parsed and, when both are valid, combined with `dataset_from_idx`, whose result
//!    must serialise back to the same bytes with `to_idx`.
//!
//! Errors are fine; panics, and results that break the format's invariants, are not.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use occlude::data::idx::{dataset_from_idx, parse_idx, read_idx_file, to_idx, IdxArray};
use occlude::data::Dataset;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Class names for the pair mode: the first `n` of these (`n` taken from the input).
fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| (0..=256).map(|i| format!("c{i}")).collect())
}

/// One file per fuzzing process, rewritten for every input. `.ci/fuzz` points
/// `TMPDIR` at a tmpfs directory it removes afterwards (rewriting a file on a disk
/// file system can cost a millisecond per input).
fn scratch_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("occlude-fuzz-{}-idx-ubyte", std::process::id())))
}

/// What an accepted stream must satisfy.
fn check_array(a: &IdxArray, ndims: usize, input: &[u8]) {
    assert_eq!(a.dims.len(), ndims, "rank");
    let n: usize = a.dims.iter().product();
    assert_eq!(a.data.len(), n, "data length vs header {:?}", a.dims);
    assert_eq!(4 + 4 * ndims + n, input.len(), "a plain stream is exactly header + data");
    assert_eq!(&a.data[..], &input[4 + 4 * ndims..], "data bytes");
}

fn whole(data: &[u8]) {
    let is_gzip = data.starts_with(&[0x1f, 0x8b]);
    let path = scratch_file();
    std::fs::write(path, data).expect("writing the scratch file");
    for ndims in [1, 3] {
        let parsed = parse_idx(data, "fuzz-input", ndims);
        common::report(&format!("parse_idx (rank {ndims})"), &parsed);
        if let Ok(a) = &parsed {
            check_array(a, ndims, data);
        }
        let from_file = read_idx_file(path, ndims);
        common::report(&format!("read_idx_file (rank {ndims})"), &from_file);
        if !is_gzip {
            // Without gzip the file reader is the stream parser plus I/O.
            match (&parsed, &from_file) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "read_idx_file vs parse_idx"),
                (Err(_), Err(_)) => {}
                _ => panic!("read_idx_file and parse_idx disagree: {:?} vs {:?}", parsed.is_ok(), from_file.is_ok()),
            }
        } else if let Ok(a) = &from_file {
            assert_eq!(a.dims.len(), ndims, "rank (gzip)");
            assert_eq!(a.data.len(), a.dims.iter().product::<usize>(), "data length (gzip)");
        }
    }
}

fn pair(data: &[u8]) {
    let [n_classes, lo, hi, rest @ ..] = data else { return };
    let split = (u16::from_le_bytes([*lo, *hi]) as usize).min(rest.len());
    let (images_bytes, labels_bytes) = rest.split_at(split);
    let (images, labels) = (parse_idx(images_bytes, "images", 3), parse_idx(labels_bytes, "labels", 1));
    common::report("pair: images", &images);
    common::report("pair: labels", &labels);
    let (Ok(images), Ok(labels)) = (images, labels) else { return };
    // 1..=256 classes: `dataset_from_idx` is only ever called with a non-empty list.
    let classes: Vec<&str> = names()[..*n_classes as usize + 1].iter().map(String::as_str).collect();
    let ds = dataset_from_idx(images, labels, "images", "labels", &classes);
    common::report("pair: dataset_from_idx", &ds);
    let Ok(ds) = ds else { return };
    assert_eq!(ds.channels, 1);
    assert!(ds.height > 0 && ds.width > 0);
    assert_eq!(ds.pixels.len(), ds.labels.len() * ds.image_len(), "pixels vs labels");
    assert_eq!(ds.num_classes(), classes.len());
    for i in 0..ds.len().min(8) {
        assert!(ds.label(i) < ds.num_classes(), "label {} of {} classes", ds.label(i), ds.num_classes());
        assert_eq!(ds.image(i).expect("in-memory image").data.len(), ds.image_len());
    }
    let (images_again, labels_again) = to_idx(&ds);
    assert_eq!(images_again, images_bytes, "to_idx(images) round trip");
    assert_eq!(labels_again, labels_bytes, "to_idx(labels) round trip");
}

fuzz_target!(|data: &[u8]| {
    whole(data);
    pair(data);
});
