//! The IDX format of MNIST and Fashion-MNIST, plain or gzipped.
//!
//! An IDX file starts with a magic number `0x00 0x00 <type> <ndims>`, then `ndims`
//! big-endian `u32` dimensions, then the data. Images are `0x00000803` (u8, 3 dims:
//! count × rows × cols), labels `0x00000801` (u8, 1 dim). The reader never allocates
//! from an unchecked header: the buffer grows only with bytes actually present, and
//! the file must hold exactly the number of bytes the header announces.

use super::InMemoryDataset;
use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The ten Fashion-MNIST classes, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// An unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses an IDX stream. `name` is used in error messages (usually the file path).
pub fn parse_idx(mut reader: impl Read, name: &str, expected_ndims: usize) -> Result<IdxArray> {
    let mut magic = [0u8; 4];
    read_exact_or(&mut reader, &mut magic, name, "the 4-byte magic number")?;
    if magic[0] != 0 || magic[1] != 0 {
        bail!(
            "{name}: not an IDX file (magic number {:02x}{:02x}{:02x}{:02x}; expected 0000 then type and rank)",
            magic[0],
            magic[1],
            magic[2],
            magic[3]
        );
    }
    if magic[2] != 0x08 {
        bail!("{name}: IDX element type 0x{:02x} is not supported (expected 0x08, unsigned byte)", magic[2]);
    }
    let ndims = magic[3] as usize;
    if ndims != expected_ndims {
        bail!(
            "{name}: IDX magic number says {ndims} dimensions, expected {expected_ndims} ({})",
            if expected_ndims == 3 { "an image file, magic 0x00000803" } else { "a label file, magic 0x00000801" }
        );
    }
    let mut dims = Vec::with_capacity(ndims);
    for d in 0..ndims {
        let mut b = [0u8; 4];
        read_exact_or(&mut reader, &mut b, name, &format!("dimension {d} of the header"))?;
        dims.push(u32::from_be_bytes(b) as usize);
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("{name}: header dimensions {dims:?} overflow"))?;
    let header_len = 4 + 4 * ndims;
    // Grows with the data actually read, so a header claiming 10^9 images in a small
    // file costs nothing before the size check below rejects it.
    let mut data = Vec::new();
    let got = reader
        .by_ref()
        .take(expected as u64)
        .read_to_end(&mut data)
        .with_context(|| format!("{name}: reading data after the header"))?;
    if got < expected {
        bail!(
            "{name}: truncated: header {dims:?} announces {expected} data bytes but the file ends after {got} (at offset {})",
            header_len + got
        );
    }
    let mut extra = [0u8; 1];
    if reader.read(&mut extra).with_context(|| format!("{name}: reading"))? != 0 {
        bail!(
            "{name}: trailing data after the {expected} bytes announced by header {dims:?} (offset {})",
            header_len + expected
        );
    }
    Ok(IdxArray { dims, data })
}

fn read_exact_or(reader: &mut impl Read, buf: &mut [u8], name: &str, what: &str) -> Result<()> {
    reader.read_exact(buf).with_context(|| format!("{name}: file too short to hold {what}"))
}

/// Reads an IDX file from disk, decompressing it when it is gzipped (by content, not name).
pub fn read_idx_file(path: &Path, expected_ndims: usize) -> Result<IdxArray> {
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("opening {name}"))?;
    let mut reader = BufReader::new(file);
    let mut head = [0u8; 2];
    let n = reader.read(&mut head).with_context(|| format!("reading {name}"))?;
    let chained = std::io::Cursor::new(head[..n].to_vec()).chain(reader);
    if n == 2 && head == [0x1f, 0x8b] {
        parse_idx(GzDecoder::new(chained), &name, expected_ndims).map_err(|e| gzip_context(e, &name))
    } else {
        parse_idx(chained, &name, expected_ndims)
    }
}

fn gzip_context(e: anyhow::Error, name: &str) -> anyhow::Error {
    let msg = format!("{e:#}");
    if msg.starts_with(name) {
        e
    } else {
        e.context(format!("{name}: corrupt gzip stream"))
    }
}

/// Builds a dataset from an images IDX array and a labels IDX array.
pub fn dataset_from_idx(
    images: IdxArray,
    labels: IdxArray,
    images_name: &str,
    labels_name: &str,
    class_names: &[&str],
) -> Result<InMemoryDataset> {
    let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != n {
        bail!("{labels_name}: {} labels but {images_name} holds {n} images", labels.dims[0]);
    }
    if h == 0 || w == 0 {
        bail!("{images_name}: images of size {h}×{w}; expected a non-empty size");
    }
    if let Some((i, &l)) = labels.data.iter().enumerate().find(|(_, &l)| l as usize >= class_names.len()) {
        bail!(
            "{labels_name}: label {l} of entry {i} (byte offset {}) is out of range 0..{}",
            8 + i,
            class_names.len() - 1
        );
    }
    Ok(InMemoryDataset {
        channels: 1,
        height: h,
        width: w,
        pixels: images.data,
        labels: labels.data.iter().map(|&l| l as u16).collect(),
        class_names: class_names.iter().map(|s| s.to_string()).collect(),
    })
}

/// Finds `<stem>` or `<stem>.gz` in `dir`.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    for candidate in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(&candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "{}: neither {stem} nor {stem}.gz found (expected the Fashion-MNIST IDX files; `apt-get install dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist)",
        dir.display()
    )
}

/// Loads one split (`"train"` or `"t10k"`) of an MNIST-style directory.
pub fn load_mnist_split(dir: &Path, split: &str, class_names: &[&str]) -> Result<InMemoryDataset> {
    let images_path = find_file(dir, &format!("{split}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{split}-labels-idx1-ubyte"))?;
    let images = read_idx_file(&images_path, 3)?;
    let labels = read_idx_file(&labels_path, 1)?;
    dataset_from_idx(
        images,
        labels,
        &images_path.display().to_string(),
        &labels_path.display().to_string(),
        class_names,
    )
}

/// Serialises a dataset as an (images, labels) pair of IDX byte buffers.
pub fn to_idx(ds: &InMemoryDataset) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(ds.channels, 1, "IDX images are single-channel");
    let n = ds.labels.len() as u32;
    let mut images = vec![0, 0, 8, 3];
    for d in [n, ds.height as u32, ds.width as u32] {
        images.extend_from_slice(&d.to_be_bytes());
    }
    images.extend_from_slice(&ds.pixels);
    let mut labels = vec![0, 0, 8, 1];
    labels.extend_from_slice(&n.to_be_bytes());
    labels.extend(ds.labels.iter().map(|&l| l as u8));
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images_file(n: u32, h: u32, w: u32, data_len: usize) -> Vec<u8> {
        let mut v = vec![0, 0, 8, 3];
        for d in [n, h, w] {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend((0..data_len).map(|i| i as u8));
        v
    }

    #[test]
    fn parses_a_well_formed_file() {
        let bytes = images_file(2, 2, 3, 12);
        let a = parse_idx(&bytes[..], "x", 3).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data, (0..12).collect::<Vec<u8>>());
    }

    #[test]
    fn truncated_file_names_file_and_offset() {
        let bytes = images_file(2, 2, 3, 7);
        let e = format!("{:#}", parse_idx(&bytes[..], "imgs.idx", 3).unwrap_err());
        assert!(e.contains("imgs.idx") && e.contains("truncated"), "{e}");
        assert!(e.contains("offset 23"), "{e}");
    }

    #[test]
    fn absurd_header_is_rejected_without_allocating_it() {
        // 10^9 images of 28×28 announced, 10 bytes present.
        let bytes = images_file(1_000_000_000, 28, 28, 10);
        let e = format!("{:#}", parse_idx(&bytes[..], "huge", 3).unwrap_err());
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn wrong_magic_and_rank_are_named() {
        let mut bytes = images_file(1, 1, 1, 1);
        bytes[0] = 0x50;
        let e = format!("{:#}", parse_idx(&bytes[..], "a.png", 3).unwrap_err());
        assert!(e.contains("a.png") && e.contains("not an IDX file"), "{e}");
        let bytes = images_file(1, 1, 1, 1);
        let e = format!("{:#}", parse_idx(&bytes[..], "lbl", 1).unwrap_err());
        assert!(e.contains("3 dimensions, expected 1"), "{e}");
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let bytes = images_file(1, 2, 2, 5);
        let e = format!("{:#}", parse_idx(&bytes[..], "t", 3).unwrap_err());
        assert!(e.contains("trailing data"), "{e}");
    }

    #[test]
    fn label_out_of_range_names_entry() {
        let images = parse_idx(&images_file(3, 1, 1, 3)[..], "i", 3).unwrap();
        let labels = IdxArray { dims: vec![3], data: vec![1, 12, 0] };
        let e = format!("{:#}", dataset_from_idx(images, labels, "imgs", "lbls", &FASHION_MNIST_CLASSES).unwrap_err());
        assert!(e.contains("lbls") && e.contains("entry 1") && e.contains("label 12"), "{e}");
    }

    #[test]
    fn gzipped_and_plain_files_read_the_same_and_corrupt_gzip_is_named() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let bytes = images_file(2, 2, 2, 8);
        let plain = dir.path().join("p-idx3-ubyte");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("g-idx3-ubyte.gz");
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes).unwrap();
        let compressed = enc.finish().unwrap();
        std::fs::write(&gz, &compressed).unwrap();
        assert_eq!(read_idx_file(&plain, 3).unwrap(), read_idx_file(&gz, 3).unwrap());
        let bad = dir.path().join("bad-idx3-ubyte.gz");
        std::fs::write(&bad, &compressed[..compressed.len() / 2]).unwrap();
        let e = format!("{:#}", read_idx_file(&bad, 3).unwrap_err());
        assert!(e.contains("bad-idx3-ubyte.gz"), "{e}");
    }

    #[test]
    fn round_trips_through_to_idx() {
        let ds = InMemoryDataset {
            channels: 1,
            height: 2,
            width: 2,
            pixels: (0..8).collect(),
            labels: vec![3, 9],
            class_names: FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect(),
        };
        let (i, l) = to_idx(&ds);
        let back = dataset_from_idx(
            parse_idx(&i[..], "i", 3).unwrap(),
            parse_idx(&l[..], "l", 1).unwrap(),
            "i",
            "l",
            &FASHION_MNIST_CLASSES,
        )
        .unwrap();
        assert_eq!(back.pixels, ds.pixels);
        assert_eq!(back.labels, ds.labels);
    }
}
