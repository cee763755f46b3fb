//! Helpers shared by several commands.

use anyhow::{Context, Result};

/// The error of `--device cuda` in a build without CUDA.
#[cfg_attr(feature = "cuda", allow(dead_code))]
pub const NO_CUDA: &str =
    "this occlude was built without CUDA support; rebuild with `cargo build --release --features cuda`";

pub fn encode_png(img: image::DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png).context("encoding PNG")?;
    Ok(bytes.into_inner())
}
