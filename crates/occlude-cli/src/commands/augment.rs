//! `occlude augment`: one AutoAugment / RandAugment op on one image file.

use crate::common::encode_png;
use anyhow::{bail, Context, Result};

use occlude::augment::params::{ImageOp, OpKind};
use occlude::data::ImageU8;
use std::path::{Path, PathBuf};

/// Apply one AutoAugment / RandAugment op to an 8-bit image (PNG in, PNG out)
#[derive(clap::Args)]
#[command(long_about = "Apply one AutoAugment / RandAugment image op to an 8-bit image, deterministically.\n\n\
    The ops follow PIL's ImageOps / ImageEnhance semantics as torchvision applies them, so the \
    output can be compared pixel by pixel with Python. Greyscale and RGB images are kept as \
    they are (alpha is dropped); the result is written as PNG. A JSON report on stdout gives \
    the PIL argument the magnitude maps to (e.g. the solarize threshold).\n\n\
    Example: occlude augment --op solarize --magnitude 15 --input in.png --output out.png")]
pub struct Args {
    /// The op: identity, autocontrast, equalize, invert, rotate, solarize, color, posterize, contrast,
    /// brightness, sharpness, shear-x, shear-y, translate-x, translate-y
    #[arg(long)]
    pub op: String,
    /// Magnitude on the 0–30 scale (30 = AutoAugment's largest distortion; the RandAugment paper's
    /// M on 0–10 is 3·M). Required for ops that use it; autocontrast, equalize, invert and identity
    /// ignore it
    #[arg(long)]
    pub magnitude: Option<f32>,
    /// Direction of a signed op (rotate, color, contrast, brightness, sharpness, shear-*,
    /// translate-*): + (default) or - (write --sign=- or --sign -)
    #[arg(long, allow_hyphen_values = true)]
    pub sign: Option<String>,
    /// Grey level (0–255) of the pixels a rotation, shear or translation uncovers
    #[arg(long, default_value_t = 0)]
    pub fill: u8,
    /// The image to transform (PNG or JPEG, 8-bit greyscale or RGB)
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the result (always PNG)
    #[arg(long)]
    pub output: PathBuf,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { op, magnitude, sign, fill, input, output } = args;
    let report = augment_file(&op, magnitude, sign.as_deref(), fill, &input, &output)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The names of every op, for messages.
fn op_names() -> String {
    OpKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

/// What `op_argument` means for an op, for the report.
fn argument_meaning(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Solarize => "threshold: values >= it are inverted",
        OpKind::Posterize => "bits kept",
        OpKind::Rotate => "degrees, counter-clockwise",
        OpKind::ShearX | OpKind::ShearY => "shear factor",
        OpKind::TranslateX | OpKind::TranslateY => "pixels",
        OpKind::Brightness | OpKind::Color | OpKind::Contrast | OpKind::Sharpness => "enhance factor",
        OpKind::Identity | OpKind::AutoContrast | OpKind::Equalize | OpKind::Invert => "none",
    }
}

/// `occlude augment`: one op on one image file.
fn augment_file(
    op: &str,
    magnitude: Option<f32>,
    sign: Option<&str>,
    fill: u8,
    input: &Path,
    output: &Path,
) -> Result<serde_json::Value> {
    let kind = OpKind::parse(op).with_context(|| format!("--op {op:?}: unknown op; expected one of {}", op_names()))?;
    let negative = match sign {
        None => false,
        Some(s) if !kind.signed() => {
            let signed: Vec<&str> = OpKind::ALL.iter().filter(|k| k.signed()).map(|k| k.name()).collect();
            bail!("--sign {s:?}: {} has no direction; only {} take --sign", kind.name(), signed.join(", "))
        }
        Some("+" | "pos" | "positive") => false,
        Some("-" | "neg" | "negative") => true,
        Some(s) => bail!("--sign {s:?}: expected + or -"),
    };
    let magnitude = match (magnitude, kind.has_magnitude()) {
        (Some(m), _) if !(0.0..=30.0).contains(&m) => {
            bail!("--magnitude {m}: must be in [0, 30] (the 0–30 scale; the RandAugment paper's M on 0–10 is 3·M)")
        }
        (Some(m), true) => m,
        (None, true) => bail!("--magnitude: {} needs a magnitude in [0, 30], e.g. --magnitude 15", kind.name()),
        (m, false) => {
            if m.is_some_and(|m| m != 0.0) {
                eprintln!("note: {} takes no magnitude; --magnitude is ignored", kind.name());
            }
            0.0
        }
    };
    let (img, mut notes) = read_image_u8(input)?;
    let image_op = ImageOp::new(kind, magnitude, negative);
    let out = occlude::augment::ops::apply_op(&img, &image_op, fill);
    occlude::io::write_atomic(output, &encode_png(to_dynamic(&out)?)?)?;
    if output.extension().is_some_and(|e| !e.eq_ignore_ascii_case("png")) {
        notes.push(format!("{} was written as PNG", output.display()));
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    Ok(serde_json::json!({
        "op": kind.name(),
        "magnitude": magnitude,
        "negative": negative,
        "argument": occlude::augment::ops::op_argument(&image_op, img.width, img.height),
        "argument_meaning": argument_meaning(kind),
        "fill": fill,
        "input": input,
        "output": output,
        "channels": img.channels,
        "height": img.height,
        "width": img.width,
        "notes": notes,
    }))
}

/// Decodes an 8-bit greyscale or RGB image file (alpha dropped) as a `C×H×W` image.
fn read_image_u8(path: &Path) -> Result<(ImageU8, Vec<String>)> {
    use image::ColorType;
    let mut notes = Vec::new();
    let img = occlude::saliency::explain::decode_image(path, &mut notes)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let color = img.color();
    match color {
        ColorType::L8 | ColorType::La8 => Ok((ImageU8::new(1, h, w, img.to_luma8().into_raw()), notes)),
        ColorType::Rgb8 | ColorType::Rgba8 => Ok((ImageU8::from_rgb8(&img.to_rgb8()), notes)),
        other => bail!(
            "{}: a {other:?} image; the ops work on 8-bit greyscale or RGB images (convert it first)",
            path.display()
        ),
    }
}

/// A `C×H×W` image (1 or 3 channels) as an `image` crate image.
fn to_dynamic(img: &ImageU8) -> Result<image::DynamicImage> {
    let (w, h) = (img.width as u32, img.height as u32);
    let n = img.height * img.width;
    let built = match img.channels {
        1 => image::GrayImage::from_raw(w, h, img.data.clone()).map(image::DynamicImage::ImageLuma8),
        3 => {
            let data = (0..n).flat_map(|i| (0..3).map(move |c| img.data[c * n + i])).collect();
            image::RgbImage::from_raw(w, h, data).map(image::DynamicImage::ImageRgb8)
        }
        c => bail!("cannot write a {c}-channel image as PNG"),
    };
    built.context("image buffer size")
}
