//! The Market-1501 person re-identification layout (Zheng et al. 2015, seed 003
//! §4.4): `<root>/bounding_box_train/`, `<root>/bounding_box_test/` (the gallery) and
//! `<root>/query/`, images named `PPPP_cCsS_FFFFFF_NN.jpg` (identity `PPPP`, camera
//! `C`, sequence `S`, frame `FFFFFF`, box `NN`).
//!
//! As the standard protocol (open-reid / torchreid `market1501.py`): identity `-1`
//! marks junk boxes, which are ignored everywhere; identity `0000` marks distractors,
//! which stay in the gallery only (dropped from the training set and the queries).
//! Training identities are relabelled `0..N` in ascending order. Files that are not
//! images (`Thumbs.db`) are skipped; an image whose name does not follow the pattern
//! is an error naming the file.
//!
//! Images are decoded lazily and resized (bilinear, as torchvision's `Resize`) to the
//! network's `height × width` (Bag-of-Tricks: 256×128), so every sample of a split has
//! the same size and the loader's pad-and-crop applies.

use super::{Dataset, ImageU8};
use anyhow::{bail, Context, Result};
use image::imageops::FilterType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The three splits' directory names.
pub const TRAIN_DIR: &str = "bounding_box_train";
pub const GALLERY_DIR: &str = "bounding_box_test";
pub const QUERY_DIR: &str = "query";

/// Identity and camera of one image, as its file name states them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReidName {
    /// `-1` for junk, `0` for distractors, the person otherwise.
    pub pid: i32,
    /// 0-based camera (`c1` is 0).
    pub camera: usize,
}

/// Parses `PPPP_cCsS_FFFFFF_NN.jpg`; the error names the file.
pub fn parse_name(path: &Path) -> Result<ReidName> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bad = || {
        anyhow::anyhow!(
            "{}: not a Market-1501 image name (expected PPPP_cCsS_FFFFFF_NN.jpg, e.g. 0002_c1s1_000451_03.jpg, \
             identity -1 for junk)",
            path.display()
        )
    };
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    let parts: Vec<&str> = stem.split('_').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 4 || !digits(parts[2]) || !digits(parts[3]) {
        return Err(bad());
    }
    let pid: i32 = match parts[0] {
        "-1" => -1,
        p if digits(p) => p.parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    let (cam, seq) = parts[1].strip_prefix('c').and_then(|r| r.split_once('s')).ok_or_else(bad)?;
    if !digits(cam) || !digits(seq) {
        return Err(bad());
    }
    let camera: usize = cam.parse().map_err(|_| bad())?;
    if camera == 0 {
        return Err(bad());
    }
    Ok(ReidName { pid, camera: camera - 1 })
}

/// One split of a Market-1501 tree.
#[derive(Debug)]
pub struct ReidSplit {
    files: Vec<PathBuf>,
    /// Raw identity of every image (0 for distractors).
    pids: Vec<i32>,
    cameras: Vec<usize>,
    /// The label the loader reports: the relabelled identity for training, the raw
    /// identity otherwise.
    labels: Vec<usize>,
    num_labels: usize,
    /// Output size `(height, width)`.
    size: (usize, usize),
    /// Junk images (`-1`) and, outside the gallery, distractors left out.
    pub skipped: usize,
}

/// Which split a directory is: what happens to distractors and labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitKind {
    Train,
    Query,
    Gallery,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "jpg" | "jpeg" | "png"))
}

impl ReidSplit {
    /// Scans `dir` (sorted by file name), resizing images to `size = (height, width)`.
    pub fn open(dir: &Path, kind: SplitKind, size: (usize, usize)) -> Result<Self> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {} (expected the Market-1501 layout)", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        paths.sort();
        let (mut files, mut pids, mut cameras) = (Vec::new(), Vec::new(), Vec::new());
        let mut skipped = 0;
        for path in paths {
            let n = parse_name(&path)?;
            if n.pid < 0 || (n.pid == 0 && kind != SplitKind::Gallery) {
                skipped += 1;
                continue;
            }
            files.push(path);
            pids.push(n.pid);
            cameras.push(n.camera);
        }
        if files.is_empty() {
            bail!("{}: no Market-1501 images (PPPP_cCsS_FFFFFF_NN.jpg) found", dir.display());
        }
        let (labels, num_labels) = match kind {
            SplitKind::Train => {
                let ids: BTreeMap<i32, usize> =
                    pids.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().zip(0..).collect();
                (pids.iter().map(|p| ids[p]).collect(), ids.len())
            }
            _ => (pids.iter().map(|&p| p as usize).collect(), pids.iter().map(|&p| p as usize + 1).max().unwrap_or(1)),
        };
        Ok(Self { files, pids, cameras, labels, num_labels, size, skipped })
    }

    pub fn path(&self, index: usize) -> &Path {
        &self.files[index]
    }

    /// Raw identities (0 for distractors), in sample order.
    pub fn pids(&self) -> &[i32] {
        &self.pids
    }

    /// 0-based cameras, in sample order.
    pub fn cameras(&self) -> &[usize] {
        &self.cameras
    }

    /// Labels as the loader reports them (relabelled identities for training).
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
}

impl Dataset for ReidSplit {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn image(&self, index: usize) -> Result<ImageU8> {
        let img = super::image_folder::decode_rgb(&self.files[index])?;
        let (h, w) = self.size;
        let img = if (img.height() as usize, img.width() as usize) == (h, w) {
            img
        } else {
            image::imageops::resize(&img, w as u32, h as u32, FilterType::Triangle)
        };
        Ok(ImageU8::from_rgb8(&img))
    }

    fn label(&self, index: usize) -> usize {
        self.labels[index]
    }

    fn num_classes(&self) -> usize {
        self.num_labels
    }

    fn channels(&self) -> usize {
        3
    }

    fn class_names(&self) -> Vec<String> {
        (0..self.num_labels).map(|i| i.to_string()).collect()
    }
}

/// The three splits of a Market-1501 tree.
pub struct Market1501 {
    pub train: ReidSplit,
    pub query: ReidSplit,
    pub gallery: ReidSplit,
}

impl Market1501 {
    /// Opens `root`, resizing every image to `size = (height, width)`.
    pub fn open(root: &Path, size: (usize, usize)) -> Result<Self> {
        Ok(Self {
            train: ReidSplit::open(&root.join(TRAIN_DIR), SplitKind::Train, size)?,
            query: ReidSplit::open(&root.join(QUERY_DIR), SplitKind::Query, size)?,
            gallery: ReidSplit::open(&root.join(GALLERY_DIR), SplitKind::Gallery, size)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        // PNG bytes under a .jpg name: exact pixels (the reader guesses the format).
        let img = image::RgbImage::from_pixel(4, 8, image::Rgb([200, 10, 30]));
        img.save_with_format(dir.join(name), image::ImageFormat::Png).unwrap();
    }

    #[test]
    fn names_give_identity_and_camera_and_bad_names_are_named() {
        let p = |s: &str| parse_name(Path::new(s));
        assert_eq!(p("0002_c1s1_000451_03.jpg").unwrap(), ReidName { pid: 2, camera: 0 });
        assert_eq!(p("1501_c6s4_001877_01.jpg").unwrap(), ReidName { pid: 1501, camera: 5 });
        assert_eq!(p("-1_c3s2_000101_00.jpg").unwrap(), ReidName { pid: -1, camera: 2 });
        assert_eq!(p("0000_c2s1_000001_05.jpg").unwrap(), ReidName { pid: 0, camera: 1 });
        for bad in ["0002_c1_000451_03.jpg", "x002_c1s1_000451_03.jpg", "0002_c0s1_000451_03.jpg", "-2_c1s1_1_1.jpg"] {
            let e = format!("{:#}", p(&format!("/data/query/{bad}")).unwrap_err());
            assert!(e.contains(bad) && e.contains("PPPP_cCsS"), "{e}");
        }
    }

    #[test]
    fn splits_drop_junk_keep_distractors_in_the_gallery_only_and_relabel_training_ids() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for n in ["0007_c1s1_000001_00.jpg", "0003_c2s1_000002_00.jpg", "0007_c3s1_000003_00.jpg"] {
            png(&root.join(TRAIN_DIR), n);
        }
        png(&root.join(TRAIN_DIR), "-1_c1s1_000004_00.jpg");
        std::fs::write(root.join(TRAIN_DIR).join("Thumbs.db"), b"not an image").unwrap();
        png(&root.join(QUERY_DIR), "0005_c1s1_000001_00.jpg");
        png(&root.join(QUERY_DIR), "0000_c1s1_000002_00.jpg");
        for n in ["0005_c2s1_000001_00.jpg", "0000_c4s1_000002_00.jpg", "-1_c1s1_000003_00.jpg"] {
            png(&root.join(GALLERY_DIR), n);
        }
        let m = Market1501::open(root, (16, 8)).unwrap();
        // Sorted by name: 0003, 0007 (c1), 0007 (c3); labels 0, 1, 1.
        assert_eq!(m.train.pids(), &[3, 7, 7]);
        assert_eq!(m.train.labels(), &[0, 1, 1]);
        assert_eq!(m.train.cameras(), &[1, 0, 2]);
        assert_eq!((m.train.num_classes(), m.train.skipped), (2, 1));
        assert_eq!((m.query.pids(), m.query.skipped), (&[5][..], 1));
        assert_eq!(m.gallery.pids(), &[0, 5]);
        assert_eq!(m.gallery.cameras(), &[3, 1]);
        let img = m.gallery.image(1).unwrap();
        assert_eq!((img.channels, img.height, img.width), (3, 16, 8));
        assert_eq!((img.at(0, 5, 5), img.at(2, 5, 5)), (200, 30));

        png(&root.join(QUERY_DIR), "0005_cam1_000003_00.jpg");
        let e = format!("{:#}", Market1501::open(root, (16, 8)).err().unwrap());
        assert!(e.contains("0005_cam1_000003_00.jpg"), "{e}");
    }
}
