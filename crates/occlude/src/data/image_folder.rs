//! The ImageFolder / ImageNet layout: `<root>/<split>/<class>/<image>.{jpg,jpeg,png}`.
//!
//! Classes are the sub-directories of the training split, sorted by name (as
//! torchvision does), so the label of a class is the same for every split. Images are
//! decoded lazily with the `image` crate and converted to RGB, as `PIL.convert("RGB")`
//! does for grayscale or RGBA files.

use super::{Dataset, ImageU8};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// One split of an ImageFolder tree.
#[derive(Debug)]
pub struct ImageFolder {
    files: Vec<(PathBuf, usize)>,
    class_names: Vec<String>,
    skip_bad_images: bool,
    skipped: AtomicUsize,
    /// Files found empty while scanning (skipped only with `skip_bad_images`).
    empty_files: usize,
}

/// Lists the class directories of `split_dir`, sorted.
pub fn list_classes(split_dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(split_dir)
        .with_context(|| format!("reading class directories of {}", split_dir.display()))?;
    let mut classes = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("listing {}", split_dir.display()))?;
        if e.file_type()?.is_dir() {
            classes.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    if classes.is_empty() {
        bail!("{}: no class sub-directories (expected <split>/<class>/<image>.jpg)", split_dir.display());
    }
    Ok(classes)
}

fn has_image_extension(p: &Path) -> bool {
    p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

impl ImageFolder {
    /// Scans `split_dir` for images of the given classes (usually the training split's).
    pub fn open(split_dir: &Path, class_names: &[String], skip_bad_images: bool) -> Result<Self> {
        let mut files = Vec::new();
        let mut empty_files = 0;
        let present = list_classes(split_dir)?;
        if let Some(extra) = present.iter().find(|c| !class_names.contains(c)) {
            bail!("{}: class directory {extra:?} is not a class of the training split", split_dir.display());
        }
        for (label, class) in class_names.iter().enumerate() {
            let dir = split_dir.join(class);
            if !dir.is_dir() {
                continue;
            }
            let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("listing {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && has_image_extension(p))
                .collect();
            names.sort();
            for path in names {
                let len = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.len();
                if len == 0 {
                    if skip_bad_images {
                        empty_files += 1;
                        continue;
                    }
                    bail!("{}: empty file (0 bytes); pass --skip-bad-images to skip such files", path.display());
                }
                files.push((path, label));
            }
        }
        if files.is_empty() {
            bail!("{}: no images with extension {} found", split_dir.display(), EXTENSIONS.join("/"));
        }
        Ok(Self {
            files,
            class_names: class_names.to_vec(),
            skip_bad_images,
            skipped: AtomicUsize::new(0),
            empty_files,
        })
    }

    pub fn path(&self, index: usize) -> &Path {
        &self.files[index].0
    }

    fn decode(&self, index: usize) -> Result<ImageU8> {
        Ok(ImageU8::from_rgb8(&decode_rgb(&self.files[index].0)?))
    }
}

/// Opens and decodes one image file as 8-bit RGB, guessing the format from its bytes
/// (not its extension); every error names the file.
pub fn decode_rgb(path: &Path) -> Result<image::RgbImage> {
    Ok(image::ImageReader::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("reading {}", path.display()))?
        .decode()
        .with_context(|| format!("{}: cannot decode image", path.display()))?
        .to_rgb8())
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    /// Decodes image `index`. With `skip_bad_images`, an undecodable file is replaced by
    /// the next decodable one (deterministically) and counted.
    fn image(&self, index: usize) -> Result<ImageU8> {
        match self.decode(index) {
            Ok(img) => Ok(img),
            Err(e) if !self.skip_bad_images => Err(e.context("pass --skip-bad-images to replace undecodable files")),
            Err(_) => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                for step in 1..self.files.len() {
                    if let Ok(img) = self.decode((index + step) % self.files.len()) {
                        return Ok(img);
                    }
                }
                bail!("no image of {} could be decoded", self.files[0].0.display())
            }
        }
    }

    fn label(&self, index: usize) -> usize {
        self.files[index].1
    }

    fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    fn channels(&self) -> usize {
        3
    }

    fn class_names(&self) -> Vec<String> {
        self.class_names.clone()
    }

    fn bad_images_skipped(&self) -> usize {
        self.empty_files + self.skipped.load(Ordering::Relaxed)
    }
}

/// Finds the split directory: `val` also accepts `validation`, `test`.
pub fn split_dir(root: &Path, train: bool) -> Result<PathBuf> {
    let names: &[&str] = if train { &["train"] } else { &["val", "validation", "test"] };
    for n in names {
        let p = root.join(n);
        if p.is_dir() {
            return Ok(p);
        }
    }
    bail!(
        "{}: no {} directory (expected the ImageNet layout {}/<class>/<image>.jpg)",
        root.display(),
        names.join(" or "),
        names[0]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32, value: u8) {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([value, value / 2, 255 - value]));
        img.save(path).unwrap();
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "val"] {
            for class in ["cat", "ant"] {
                let d = dir.path().join(split).join(class);
                std::fs::create_dir_all(&d).unwrap();
                write_png(&d.join("a.png"), 5, 4, 10);
                write_png(&d.join("b.PNG"), 3, 3, 200);
            }
        }
        dir
    }

    #[test]
    fn scans_classes_sorted_and_decodes_chw() {
        let dir = tree();
        let classes = list_classes(&dir.path().join("train")).unwrap();
        assert_eq!(classes, vec!["ant", "cat"]);
        let ds = ImageFolder::open(&split_dir(dir.path(), false).unwrap(), &classes, false).unwrap();
        assert_eq!(ds.len(), 4);
        assert_eq!(ds.label(0), 0);
        assert_eq!(ds.label(3), 1);
        let img = ds.image(0).unwrap();
        assert_eq!((img.channels, img.height, img.width), (3, 4, 5));
        assert_eq!((img.at(0, 1, 1), img.at(1, 1, 1), img.at(2, 1, 1)), (10, 5, 245));
    }

    #[test]
    fn bad_files_are_named_or_skipped_and_counted() {
        let dir = tree();
        let train = dir.path().join("train");
        let classes = list_classes(&train).unwrap();
        std::fs::write(train.join("cat/empty.jpg"), b"").unwrap();
        let e = format!("{:#}", ImageFolder::open(&train, &classes, false).unwrap_err());
        assert!(e.contains("empty.jpg") && e.contains("empty file"), "{e}");
        std::fs::remove_file(train.join("cat/empty.jpg")).unwrap();

        std::fs::write(train.join("cat/c.jpg"), b"this is not a jpeg").unwrap();
        let ds = ImageFolder::open(&train, &classes, false).unwrap();
        let bad = (0..ds.len()).find(|&i| ds.path(i).ends_with("c.jpg")).unwrap();
        let e = format!("{:#}", ds.image(bad).unwrap_err());
        assert!(e.contains("c.jpg") && e.contains("--skip-bad-images"), "{e}");

        std::fs::write(train.join("cat/empty.jpg"), b"").unwrap();
        let ds = ImageFolder::open(&train, &classes, true).unwrap();
        assert_eq!(ds.bad_images_skipped(), 1);
        let bad = (0..ds.len()).find(|&i| ds.path(i).ends_with("c.jpg")).unwrap();
        assert!(ds.image(bad).is_ok());
        assert_eq!(ds.bad_images_skipped(), 2);
    }

    #[test]
    fn unknown_class_in_val_is_an_error() {
        let dir = tree();
        std::fs::create_dir_all(dir.path().join("val/zebra")).unwrap();
        let classes = list_classes(&dir.path().join("train")).unwrap();
        let e = format!("{:#}", ImageFolder::open(&dir.path().join("val"), &classes, false).unwrap_err());
        assert!(e.contains("zebra"), "{e}");
    }
}
