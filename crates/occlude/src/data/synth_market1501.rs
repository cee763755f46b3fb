//! A synthetic dataset in the Market-1501 layout ([`super::market1501`]), for smoke
//! tests of re-identification on machines without the real data: every identity is a
//! person-like figure (head, shirt, trousers) with its own colours and build, seen by
//! several cameras that differ in background and illumination, jittered in position
//! and size per image. A network can learn the identities, and ranking them across
//! cameras is the re-ID task in miniature. Junk (`-1`) boxes and distractors
//! (`0000`) are written too, so the protocol's special cases are exercised.

use super::market1501::{GALLERY_DIR, QUERY_DIR, TRAIN_DIR};
use crate::io::write_atomic;
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthMarket {
    /// Training identities (pids 1..=train_ids).
    pub train_ids: usize,
    /// Test identities (the following pids), in the query and the gallery.
    pub test_ids: usize,
    /// Cameras (at most 9); every identity is seen by every camera.
    pub cameras: usize,
    /// Images of an identity per camera (the first of each test camera is a query).
    pub per_camera: usize,
    /// Distractor (`0000`) images in the gallery.
    pub distractors: usize,
    pub height: usize,
    pub width: usize,
    pub seed: u64,
}

impl Default for SynthMarket {
    fn default() -> Self {
        Self { train_ids: 32, test_ids: 16, cameras: 3, per_camera: 3, distractors: 8, height: 128, width: 64, seed: 0 }
    }
}

/// An identity's look: head, shirt and trouser colours, shoulder width (fraction).
struct Look {
    colours: [[u8; 3]; 3],
    build: f32,
}

fn look(rng: &mut rand_chacha::ChaCha8Rng) -> Look {
    let mut c = || [rng.random_range(0..=255u8), rng.random_range(0..=255u8), rng.random_range(0..=255u8)];
    let colours = [c(), c(), c()];
    Look { colours, build: rng.random_range(0.45..0.8) }
}

/// One image of `who` through camera `camera` (background and gain per camera).
fn render(s: &SynthMarket, who: &Look, camera: usize, rng: &mut rand_chacha::ChaCha8Rng) -> image::RgbImage {
    let (h, w) = (s.height as f32, s.width as f32);
    let bg = [(camera * 80 % 256) as f32, (camera * 140 % 256) as f32, (60 + camera * 50 % 196) as f32];
    let gain = 0.75 + 0.15 * (camera % 3) as f32;
    let (dx, dy) = (rng.random_range(-0.1..0.1) * w, rng.random_range(-0.05..0.05) * h);
    let scale = rng.random_range(0.85..1.0);
    let cx = w / 2.0 + dx;
    let top = 0.05 * h + dy;
    let tall = 0.9 * h * scale;
    // Head (ellipse), shirt and trousers (rectangles) as fractions of the height.
    let head = (top + 0.08 * tall, 0.08 * tall);
    let shirt = (top + 0.16 * tall, top + 0.55 * tall, who.build * w * scale / 2.0);
    let legs = (shirt.1, top + tall, 0.6 * who.build * w * scale / 2.0);
    let mut img = image::RgbImage::new(s.width as u32, s.height as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
        let part = if ((xf - cx) / (0.75 * head.1)).powi(2) + ((yf - head.0) / head.1).powi(2) <= 1.0 {
            Some(0)
        } else if yf >= shirt.0 && yf < shirt.1 && (xf - cx).abs() <= shirt.2 {
            Some(1)
        } else if yf >= legs.0 && yf < legs.1 && (xf - cx).abs() <= legs.2 && (xf - cx).abs() >= 0.1 * legs.2 {
            Some(2)
        } else {
            None
        };
        let base = part.map_or(bg, |p| who.colours[p].map(|v| v as f32));
        for c in 0..3 {
            let noise = rng.random_range(-12.0..12.0);
            px[c] = (base[c] * gain + noise).round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

fn write_jpeg(path: &Path, img: &image::RgbImage) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Jpeg)?;
    write_atomic(path, bytes.get_ref())
}

/// Writes `bounding_box_train/`, `query/` and `bounding_box_test/` under `dir`;
/// returns the number of images written (junk boxes included).
pub fn write_market1501(dir: &Path, s: &SynthMarket) -> Result<usize> {
    if s.cameras == 0 || s.cameras > 9 || s.per_camera < 2 || s.train_ids < 2 || s.test_ids == 0 {
        bail!(
            "synthetic Market-1501: need 1..=9 cameras, at least 2 images per camera, 2 training and 1 test identity"
        );
    }
    if s.train_ids + s.test_ids > 1500 || s.height < 16 || s.width < 8 {
        bail!("synthetic Market-1501: at most 1500 identities and images of at least 16×8");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let mut written = 0;
    let mut frame = 0usize;
    let mut put = |split: &str, pid: i32, camera: usize, img: &image::RgbImage| -> Result<()> {
        frame += 1;
        let id = if pid < 0 { "-1".to_string() } else { format!("{pid:04}") };
        let name = format!("{id}_c{}s1_{frame:06}_00.jpg", camera + 1);
        written += 1;
        write_jpeg(&dir.join(split).join(name), img)
    };
    for pid in 1..=(s.train_ids + s.test_ids) {
        let who = look(&mut rng);
        let test = pid > s.train_ids;
        for camera in 0..s.cameras {
            for k in 0..s.per_camera {
                let img = render(s, &who, camera, &mut rng);
                let split = match (test, k) {
                    (false, _) => TRAIN_DIR,
                    (true, 0) => QUERY_DIR,
                    (true, _) => GALLERY_DIR,
                };
                put(split, pid as i32, camera, &img)?;
            }
        }
    }
    for i in 0..s.distractors {
        let img = render(s, &look(&mut rng), i % s.cameras, &mut rng);
        put(GALLERY_DIR, 0, i % s.cameras, &img)?;
    }
    // One junk box in each split (ignored by the reader).
    for split in [TRAIN_DIR, QUERY_DIR, GALLERY_DIR] {
        let img = render(s, &look(&mut rng), 0, &mut rng);
        put(split, -1, 0, &img)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::market1501::Market1501;
    use crate::data::Dataset;

    #[test]
    fn writes_a_tree_the_reader_parses() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            SynthMarket { train_ids: 3, test_ids: 2, cameras: 2, per_camera: 2, distractors: 1, ..Default::default() };
        let n = write_market1501(dir.path(), &s).unwrap();
        assert_eq!(n, 5 * 2 * 2 + 1 + 3);
        let m = Market1501::open(dir.path(), (64, 32)).unwrap();
        assert_eq!((m.train.len(), m.train.num_classes(), m.train.skipped), (12, 3, 1));
        assert_eq!((m.query.len(), m.gallery.len()), (4, 5));
        assert_eq!(m.query.pids(), &[4, 4, 5, 5]);
        assert_eq!(m.query.cameras(), &[0, 1, 0, 1]);
        assert_eq!(m.gallery.pids().iter().filter(|&&p| p == 0).count(), 1);
        let img = m.train.image(0).unwrap();
        assert_eq!((img.height, img.width), (64, 32));
    }
}
