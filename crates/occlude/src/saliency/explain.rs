//! `occlude saliency`: the saliency map of one image file under a trained checkpoint,
//! as a heat-map picture and, optionally, raw values in a `.npy` file.
//!
//! The model is rebuilt from the checkpoint alone (architecture from its stored
//! configuration, input channels and class count from its weights); the dataset need
//! not be on this machine. The image is preprocessed as that run's evaluation images
//! are ([`InputFormat::for_dataset`]): the dataset's normalisation, and for ImageNet
//! layouts the standard resize-256/224 and centre crop. An image of another size than
//! a fixed-size dataset's (28×28 Fashion-MNIST, 32×32 CIFAR) is resized (shorter side)
//! and centre-cropped, and the report says so.

use super::npy;
use super::render::{heatmap_png, Heatmap};
use super::{compute, method_logits, SaliencyMaps, SaliencyMethod, Target};
use crate::data::cifar::CIFAR10_CLASSES;
use crate::data::idx::FASHION_MNIST_CLASSES;
use crate::data::preprocess::{Crop, Normalization, Preprocess};
use crate::data::{DatasetKind, DatasetSpec, ImageU8};
use crate::io::write_atomic;
use crate::models::params::load_named;
use crate::models::Network;
use crate::rng::{rng_for, Stream};
use crate::train::{checkpoint, RunConfig};
use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `occlude saliency` was asked to do.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    pub checkpoint: PathBuf,
    pub input: PathBuf,
    /// The class whose logit is explained; `None`: the largest logit.
    pub label: Option<usize>,
    pub method: SaliencyMethod,
    /// The heat-map PNG.
    pub out: PathBuf,
    /// Raw values as a `.npy` (`H×W`, float32).
    pub raw: Option<PathBuf>,
}

/// What `occlude saliency` did (printed as JSON).
#[derive(Clone, Debug, Serialize)]
pub struct ExplainReport {
    pub checkpoint: PathBuf,
    pub input: PathBuf,
    pub model: String,
    pub method: String,
    /// `label` or `max-logit`.
    pub target: String,
    /// The class whose logit was differentiated.
    pub class: usize,
    pub class_name: Option<String>,
    /// The network's prediction (full network, evaluation mode) and its probability.
    pub predicted: usize,
    pub predicted_probability: f32,
    /// Size of the map (the network's input size).
    pub height: usize,
    pub width: usize,
    pub min: f32,
    pub max: f32,
    pub mean: f32,
    pub out: PathBuf,
    pub raw: Option<PathBuf>,
    /// What was done to the input to fit the model (resizing, colour conversion).
    pub notes: Vec<String>,
}

/// How a dataset's evaluation images reach the network.
#[derive(Clone, Debug, PartialEq)]
pub struct InputFormat {
    pub channels: usize,
    /// Network input size.
    pub height: usize,
    pub width: usize,
    /// The evaluation preprocessing for images of the dataset's own size.
    pub preprocess: Preprocess,
    pub class_names: Option<Vec<String>>,
}

impl InputFormat {
    /// The evaluation input of a dataset, without loading it (the same values as
    /// `load_dataset(spec)`'s `channels`, `input_size` and `eval_preprocess`).
    pub fn for_dataset(spec: &DatasetSpec) -> Self {
        let names = |n: &[&str]| Some(n.iter().map(|s| s.to_string()).collect());
        let fixed = |channels, side, normalization, class_names| Self {
            channels,
            height: side,
            width: side,
            preprocess: Preprocess { crop: Crop::None, flip: false, normalization },
            class_names,
        };
        match spec.kind {
            DatasetKind::Embedded | DatasetKind::FashionMnist => {
                fixed(1, 28, Normalization::fashion_mnist(), names(&FASHION_MNIST_CLASSES))
            }
            DatasetKind::Cifar10 => fixed(3, 32, Normalization::cifar10(), names(&CIFAR10_CLASSES)),
            DatasetKind::Cifar100 => fixed(3, 32, Normalization::cifar100(), None),
            DatasetKind::ImageFolder => {
                let size = spec.image_size;
                Self {
                    channels: 3,
                    height: size,
                    width: size,
                    preprocess: Preprocess {
                        crop: Crop::ResizeCenterCrop { resize: (size * 256).div_ceil(224), crop: size },
                        flip: false,
                        normalization: Normalization::imagenet(),
                    },
                    class_names: None,
                }
            }
            // Re-identification (`[reid]`): the Bag-of-Tricks input, 256×128.
            DatasetKind::Market1501 => Self {
                channels: 3,
                height: 256,
                width: 128,
                preprocess: Preprocess { crop: Crop::None, flip: false, normalization: Normalization::imagenet() },
                class_names: None,
            },
        }
    }

    /// Preprocesses `img` (with the format's channel count) to the network's input,
    /// `C×H×W`; notes what was changed to fit.
    pub fn prepare(&self, img: &ImageU8, notes: &mut Vec<String>) -> Result<Vec<f32>> {
        if img.channels != self.channels {
            bail!("the image has {} channels, the model takes {}", img.channels, self.channels);
        }
        let mut pre = self.preprocess.clone();
        if pre.crop == Crop::None && (img.height, img.width) != (self.height, self.width) {
            if self.height != self.width {
                bail!(
                    "the image is {}×{} but the model takes {}×{} images",
                    img.width,
                    img.height,
                    self.width,
                    self.height
                );
            }
            notes.push(format!(
                "the image is {}×{} but the model was trained on {}×{} images: resized its shorter side to {} and centre-cropped",
                img.width, img.height, self.width, self.height, self.height
            ));
            pre.crop = Crop::ResizeCenterCrop { resize: self.height, crop: self.height };
        }
        // No randomness is drawn: evaluation crops are deterministic and never flip.
        let mut rng = rng_for(0, Stream::Preprocess, 0, 0, 0);
        let p = pre.sample(img.height, img.width, &mut rng);
        let mut out = vec![0.0; self.channels * self.height * self.width];
        pre.apply(img, &p, &mut out);
        Ok(out)
    }
}

/// Decodes an image file (PNG or JPEG, format from its content), refusing empty images;
/// notes that an alpha channel will be ignored.
pub fn decode_image(path: &Path, notes: &mut Vec<String>) -> Result<image::DynamicImage> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("reading {}", path.display()))?
        .decode()
        .with_context(|| format!("{}: not a decodable image (PNG or JPEG)", path.display()))?;
    if img.width() == 0 || img.height() == 0 {
        bail!("{}: empty image", path.display());
    }
    if img.color().has_alpha() {
        notes.push("the alpha channel was ignored".into());
    }
    Ok(img)
}

/// Decodes an image file to `channels` channels (1: grey, 3: RGB). A colour image is
/// accepted for a one-channel model only if it is grey (R = G = B everywhere); a grey
/// image is not silently coloured for an RGB model. Alpha is dropped.
pub fn load_image(path: &Path, channels: usize, notes: &mut Vec<String>) -> Result<ImageU8> {
    let img = decode_image(path, notes)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    match (channels, img.color().has_color()) {
        (1, false) => Ok(ImageU8::new(1, h, w, img.to_luma8().into_raw())),
        (1, true) => {
            let rgb = img.to_rgb8();
            if rgb.pixels().any(|p| p[0] != p[1] || p[1] != p[2]) {
                bail!(
                    "{}: a colour image, but the model takes one-channel (greyscale) images; convert it to greyscale first",
                    path.display()
                );
            }
            notes.push("the RGB image is grey (R = G = B) and was read as one channel".into());
            Ok(ImageU8::new(1, h, w, rgb.pixels().map(|p| p[0]).collect()))
        }
        (3, true) => Ok(ImageU8::from_rgb8(&img.to_rgb8())),
        (3, false) => bail!(
            "{}: a greyscale image, but the model takes 3-channel (RGB) images; convert it to RGB first",
            path.display()
        ),
        (c, _) => bail!("models with {c} input channels are not supported by `occlude saliency` (1 or 3)"),
    }
}

/// The model stored in a checkpoint, with its configuration.
pub fn load_model<B: Backend>(path: &Path, device: &B::Device) -> Result<(RunConfig, Network<B>)> {
    let ck = checkpoint::load(path)?;
    let cfg = RunConfig::from_toml_str(&ck.config_toml, None)
        .with_context(|| format!("{}: the configuration stored in the checkpoint is invalid", path.display()))?;
    if cfg.reid.is_some() {
        bail!(
            "{}: a re-ID checkpoint; saliency maps are for classifiers (`occlude eval` and `occlude export` take re-ID checkpoints)",
            path.display()
        );
    }
    let (channels, classes) = classifier_dims(&ck.model).with_context(|| {
        format!("{}: not a classifier checkpoint of occlude (no first convolution or last layer found)", path.display())
    })?;
    let model: Network<B> = cfg.model.init(channels, classes, device)?;
    let model = load_named(model, ck.model).with_context(|| format!("loading {}", path.display()))?;
    Ok((cfg, model))
}

/// Input channels and classes of a classifier's tensors (paths as in a checkpoint),
/// read from its first convolution and its last layer, whatever the architecture.
fn classifier_dims(model: &std::collections::HashMap<String, TensorData>) -> Option<(usize, usize)> {
    // (variant, first convolution's weight, last layer's bias): every [`Network`] variant.
    const LAYOUTS: [(&str, &str, &str); 6] = [
        ("resnet", "stem.weight", "fc.bias"),
        ("wrn", "stem.weight", "fc.bias"),
        ("shake_shake", "stem.weight", "fc.bias"),
        ("pyramidnet", "stem.weight", "fc.bias"),
        ("alexnet", "convs.0.weight", "fc3.bias"),
        ("vgg", "convs.0.weight", "fc3.bias"),
    ];
    LAYOUTS.iter().find_map(|(v, first, last)| {
        let c = *model.get(&format!("{v}.{first}"))?.shape.as_slice().get(1)?;
        let k = *model.get(&format!("{v}.{last}"))?.shape.as_slice().first()?;
        Some((c, k))
    })
}

/// Runs `occlude saliency`: writes the heat map (and raw values) and reports.
pub fn explain<B: AutodiffBackend>(req: &ExplainRequest, device: &B::Device) -> Result<ExplainReport> {
    let (cfg, model) = load_model::<B>(&req.checkpoint, device)?;
    req.method.check(&model).with_context(|| format!("--method {}", req.method))?;
    let classes = model.num_classes();
    if let Some(k) = req.label {
        if k >= classes {
            bail!("--label {k}: the model has {classes} classes (0..{})", classes - 1);
        }
    }
    let format = InputFormat::for_dataset(&cfg.data);
    if format.channels != model.input_channels() {
        bail!(
            "{}: the model takes {} channels but its dataset ({:?}) has {}",
            req.checkpoint.display(),
            model.input_channels(),
            cfg.data.kind,
            format.channels
        );
    }
    let mut notes = Vec::new();
    let img = load_image(&req.input, format.channels, &mut notes)?;
    let pixels = format.prepare(&img, &mut notes).with_context(|| format!("{}", req.input.display()))?;
    let (c, h, w) = (format.channels, format.height, format.width);
    let x = Tensor::<B, 4>::from_data(TensorData::new(pixels.clone(), [1, c, h, w]), device);

    // What the network predicts, and which class the method differentiates.
    let inner = model.valid();
    let probs: Vec<f32> = burn::tensor::activation::softmax(inner.forward(x.clone().inner(), false), 1)
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let argmax = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    let predicted = argmax(&probs);
    let (target, class, target_name) = match req.label {
        Some(k) => {
            let y = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![k as i64], [1]), device);
            (Target::Label(y), k, "label")
        }
        None => {
            let logits: Vec<f32> = method_logits(&inner, x.clone().inner(), &req.method)?
                .into_data()
                .convert::<f32>()
                .into_vec()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            (Target::MaxLogit, argmax(&logits), "max-logit")
        }
    };

    let maps = SaliencyMaps::from_tensor(compute(&model, x, target, &req.method)?)?;
    let map = maps.map(0);
    let (min, max) = map.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let mean = map.iter().map(|&v| v as f64).sum::<f64>() as f32 / map.len() as f32;
    let class_name = format.class_names.as_ref().and_then(|n| n.get(class).cloned());
    let title = format!(
        "{} · {} · class {class}{} ({target_name}) · predicted {predicted} ({:.1}%) · max {max:.3e}",
        cfg.model.arch,
        req.method,
        class_name.as_ref().map(|n| format!(" {n}")).unwrap_or_default(),
        100.0 * probs[predicted],
    );
    let png = heatmap_png(&Heatmap {
        image: &pixels,
        channels: c,
        height: h,
        width: w,
        normalization: &format.preprocess.normalization,
        map,
        title,
    })?;
    write_atomic(&req.out, &png)?;
    if let Some(raw) = &req.raw {
        npy::write_f32(raw, &[h, w], map)?;
    }
    Ok(ExplainReport {
        checkpoint: req.checkpoint.clone(),
        input: req.input.clone(),
        model: cfg.model.arch.clone(),
        method: req.method.to_string(),
        target: target_name.into(),
        class,
        class_name,
        predicted,
        predicted_probability: probs[predicted],
        height: h,
        width: w,
        min,
        max,
        mean,
        out: req.out.clone(),
        raw: req.raw.clone(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff;
    use crate::data::load_dataset;
    use crate::train::checkpoint::RunState;
    use crate::train::sgd::{Sgd, SgdConfig};

    type A = CpuAutodiff;

    #[test]
    fn input_format_matches_the_loaded_dataset() {
        let spec = DatasetSpec::new(DatasetKind::Embedded, None);
        let splits = load_dataset(&spec).unwrap();
        let f = InputFormat::for_dataset(&spec);
        assert_eq!(f.preprocess, splits.eval_preprocess);
        assert_eq!((f.channels, (f.height, f.width)), (splits.channels, splits.input_size));
        assert_eq!(f.class_names.unwrap(), splits.test.class_names());
        let mut spec = DatasetSpec::new(DatasetKind::ImageFolder, Some("x".into()));
        spec.image_size = 64;
        let f = InputFormat::for_dataset(&spec);
        assert_eq!(f.preprocess.crop, Crop::ResizeCenterCrop { resize: 74, crop: 64 });
    }

    fn write_checkpoint(dir: &Path, early_head: bool) -> PathBuf {
        let toml = format!(
            "name = \"t\"\nepochs = 1\noutput_dir = \"{}\"\n[data]\nkind = \"embedded\"\n[model]\narch = \"resnet8\"\nearly_head = {early_head}\n",
            dir.display()
        );
        let cfg = RunConfig::from_toml_str(&toml, None).unwrap();
        let model = cfg.model.init::<A>(1, 10, &Default::default()).unwrap();
        let sgd = Sgd::<A>::new(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 0.0 });
        let path = dir.join("checkpoint.safetensors");
        checkpoint::save(&path, &model, &sgd, &RunState::default(), &cfg.to_toml().unwrap()).unwrap();
        path
    }

    #[test]
    fn explains_an_image_of_another_size_and_writes_png_and_npy() {
        let dir = tempfile::tempdir().unwrap();
        let ck = write_checkpoint(dir.path(), true);
        let input = dir.path().join("in.png");
        image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 5 + y * 3) % 256) as u8])).save(&input).unwrap();
        for method in ["vanilla", "gradxact:layer3.0.conv1", "low-res", "early-loss"] {
            let req = ExplainRequest {
                checkpoint: ck.clone(),
                input: input.clone(),
                label: if method == "low-res" { Some(7) } else { None },
                method: method.parse().unwrap(),
                out: dir.path().join("map.png"),
                raw: Some(dir.path().join("sub/map.npy")),
            };
            let r = explain::<A>(&req, &Default::default()).unwrap();
            assert_eq!((r.height, r.width, r.model.as_str()), (28, 28, "resnet8"));
            assert!(r.notes.iter().any(|n| n.contains("40×30") && n.contains("centre-cropped")), "{:?}", r.notes);
            assert_eq!(r.target, if method == "low-res" { "label" } else { "max-logit" });
            if method == "low-res" {
                assert_eq!((r.class, r.class_name.as_deref()), (7, Some("Sneaker")));
            }
            let png = image::open(&req.out).unwrap();
            // Three 196-pixel panels (28 × 7), gaps and a title line.
            assert_eq!((png.width(), png.height()), (3 * 196 + 4 * 8, 28 + 196 + 8));
            let (shape, values) = npy::decode_f32(&std::fs::read(req.raw.as_ref().unwrap()).unwrap()).unwrap();
            assert_eq!(shape, vec![28, 28]);
            assert!(values.iter().all(|v| *v >= 0.0));
            assert_eq!(values.iter().copied().fold(0.0f32, f32::max), r.max);
            assert!(r.max > 0.0, "{method}");
        }
    }

    #[test]
    fn wrong_inputs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ck = write_checkpoint(dir.path(), false);
        let colour = dir.path().join("rgb.png");
        image::RgbImage::from_fn(28, 28, |x, _| image::Rgb([x as u8 * 9, 0, 0])).save(&colour).unwrap();
        let grey_rgb = dir.path().join("grey_rgb.png");
        image::RgbImage::from_fn(28, 28, |x, _| image::Rgb([x as u8; 3])).save(&grey_rgb).unwrap();
        let req = |input: &Path, method: &str, label: Option<usize>| ExplainRequest {
            checkpoint: ck.clone(),
            input: input.to_path_buf(),
            label,
            method: method.parse().unwrap(),
            out: dir.path().join("o.png"),
            raw: None,
        };
        let err = |r: ExplainRequest| format!("{:#}", explain::<A>(&r, &Default::default()).unwrap_err());
        let e = err(req(&colour, "vanilla", None));
        assert!(e.contains("colour image") && e.contains("greyscale"), "{e}");
        let e = err(req(&grey_rgb, "early-loss", None));
        assert!(e.contains("early_head = true"), "{e}");
        let e = err(req(&grey_rgb, "vanilla", Some(10)));
        assert!(e.contains("--label 10") && e.contains("10 classes"), "{e}");
        let e = err(req(&dir.path().join("missing.png"), "vanilla", None));
        assert!(e.contains("missing.png"), "{e}");
        let r = explain::<A>(&req(&grey_rgb, "gradxact:stem", Some(3)), &Default::default()).unwrap();
        assert!(r.notes.iter().any(|n| n.contains("grey")), "{:?}", r.notes);
        assert!(r.notes.iter().all(|n| !n.contains("resized")));
        // Grey input for an RGB model.
        let img = ImageU8::new(1, 2, 2, vec![0; 4]);
        let cifar = InputFormat::for_dataset(&DatasetSpec::new(DatasetKind::Cifar10, Some("x".into())));
        assert!(cifar.prepare(&img, &mut Vec::new()).unwrap_err().to_string().contains("3"));
        let grey = dir.path().join("grey.png");
        image::GrayImage::from_fn(8, 8, |x, _| image::Luma([x as u8])).save(&grey).unwrap();
        let e = load_image(&grey, 3, &mut Vec::new()).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("greyscale image") && e.contains("RGB"), "{e}");
        let rgb = load_image(&colour, 3, &mut Vec::new()).unwrap();
        assert_eq!((rgb.channels, rgb.at(0, 0, 2), rgb.at(1, 0, 2)), (3, 18, 0));
    }
}
