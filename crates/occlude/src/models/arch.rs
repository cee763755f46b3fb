//! Architecture names (`model.arch`) and the catalogue `occlude models` prints.

use super::resnet::ResNetSpec;
use anyhow::{bail, Result};

/// Architectures by name, with the figures of the paper that defines them. Names
/// with `D`, `K`, `W`, `A` are families (any valid depth/width); the catalogue lists
/// the published members.
pub const ARCHITECTURES: &[(&str, &str)] = &[
    ("resnet8", "CIFAR ResNet, 3 stages × 1 basic block (He et al. family, n=1); tiny, for tests and demos"),
    ("resnet20", "CIFAR ResNet-20 (He et al. 2016 §4.2), 0.27 M parameters"),
    ("resnet32", "CIFAR ResNet-32, 0.46 M parameters"),
    ("resnet44", "CIFAR ResNet-44, 0.66 M parameters"),
    ("resnet56", "CIFAR ResNet-56, 0.85 M parameters"),
    ("resnet110", "CIFAR ResNet-110, 1.7 M parameters"),
    ("resnet18-cifar", "ResNet-18 with a 3×3 stem (Cutout, KeepAugment), 11.17 M parameters"),
    ("resnet18", "ImageNet ResNet-18 (torchvision), 11.69 M parameters"),
    ("resnet34", "ImageNet ResNet-34 (torchvision), 21.80 M parameters"),
    ("resnet50", "ImageNet ResNet-50 (torchvision), 25.56 M parameters; takes model.regularizer (seed 000 Table 6)"),
    ("resnet101", "ImageNet ResNet-101 (torchvision), 44.55 M parameters"),
    ("alexnet", "AlexNet (torchvision layout), 61.10 M parameters; seed 000"),
    ("vgg16", "VGG16 (torchvision layout), 138.36 M parameters; seed 000 (also vgg11, vgg13, vgg19)"),
    ("vgg16-bn", "VGG16 with batch norm (torchvision layout), 138.37 M parameters; seed 000 (also vgg11-bn …)"),
    ("wrn-28-10", "Wide ResNet-28-10 (Zagoruyko & Komodakis), 36.5 M parameters; seed 003 (family wrn-D-K, D = 6n+4)"),
    ("wrn-28-2", "Wide ResNet-28-2, 1.47 M parameters; seed 003 semi-supervised"),
    (
        "shake-shake-26-2x96d",
        "Shake-Shake 26 2×96d (Gastaldi), 26.2 M parameters; seed 003 (family shake-shake-D-2xWd, D = 6n+2)",
    ),
    (
        "pyramidnet-272-a200",
        "PyramidNet-272 α=200 bottleneck + ShakeDrop, 26.0 M parameters (AutoAugment: 26.2 M); seed 003 (family pyramidnet-D-aA, D = 9n+2)",
    ),
];

/// A parsed `model.arch`.
#[derive(Clone, Debug, PartialEq)]
pub enum Arch {
    ResNet(ResNetSpec),
    AlexNet,
    Vgg { depth: usize, batch_norm: bool },
    Wrn { depth: usize, widen: usize },
    ShakeShake { depth: usize, width: usize },
    PyramidNet { depth: usize, alpha: usize },
}

fn number(s: &str) -> Option<usize> {
    s.parse().ok()
}

impl Arch {
    /// Parses a name of [`ARCHITECTURES`] or of one of its families; errors name the
    /// field.
    pub fn parse(name: &str) -> Result<Self> {
        let a = name;
        let parsed = match a {
            "resnet18-cifar" => Some(Self::ResNet(ResNetSpec::resnet18_cifar())),
            "resnet18" | "resnet34" | "resnet50" | "resnet101" => {
                Some(Self::ResNet(ResNetSpec::imagenet(number(&a[6..]).unwrap_or(0))))
            }
            "alexnet" => Some(Self::AlexNet),
            _ => {
                if let Some(d) = a.strip_prefix("resnet").and_then(number) {
                    [8, 20, 32, 44, 56, 110].contains(&d).then(|| Self::ResNet(ResNetSpec::cifar(d)))
                } else if let Some(rest) = a.strip_prefix("vgg") {
                    let (d, batch_norm) = rest.strip_suffix("-bn").map_or((rest, false), |d| (d, true));
                    number(d).filter(|&d| super::vgg::blocks(d).is_some()).map(|depth| Self::Vgg { depth, batch_norm })
                } else if let Some(rest) = a.strip_prefix("wrn-") {
                    let (d, k) = rest.split_once('-').unwrap_or((rest, ""));
                    let (depth, widen) = (number(d).unwrap_or(0), number(k).unwrap_or(0));
                    (depth >= 10 && (depth - 4).is_multiple_of(6) && widen >= 1).then_some(Self::Wrn { depth, widen })
                } else if let Some(rest) = a.strip_prefix("shake-shake-") {
                    let (d, w) = rest.split_once("-2x").unwrap_or((rest, ""));
                    let (depth, width) = (number(d).unwrap_or(0), w.strip_suffix('d').and_then(number).unwrap_or(0));
                    (depth >= 8 && (depth - 2).is_multiple_of(6) && width >= 1)
                        .then_some(Self::ShakeShake { depth, width })
                } else if let Some(rest) = a.strip_prefix("pyramidnet-") {
                    let (d, al) = rest.split_once("-a").unwrap_or((rest, ""));
                    let (depth, alpha) = (number(d).unwrap_or(0), number(al));
                    match alpha {
                        Some(alpha) if depth >= 11 && (depth - 2).is_multiple_of(9) => {
                            Some(Self::PyramidNet { depth, alpha })
                        }
                        _ => None,
                    }
                } else {
                    None
                }
            }
        };
        match parsed {
            Some(arch) => Ok(arch),
            None => bail!(
                "model.arch: unknown architecture {a:?}; expected one of {} (families: vgg11/13/16/19[-bn], \
                 wrn-D-K with D = 6n+4, shake-shake-D-2xWd with D = 6n+2, pyramidnet-D-aA with D = 9n+2)",
                ARCHITECTURES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// ImageNet networks (class count 1000 in the catalogue) vs CIFAR networks (10).
    pub fn is_imagenet(&self) -> bool {
        match self {
            Self::ResNet(spec) => spec.imagenet_stem,
            Self::AlexNet | Self::Vgg { .. } => true,
            _ => false,
        }
    }
}

/// One row of `occlude models`.
#[derive(Clone, Debug)]
pub struct ArchInfo {
    pub name: String,
    pub about: String,
    /// Trainable parameters at 3 input channels and `classes` classes.
    pub params: usize,
    pub classes: usize,
    /// Named taps, in forward order (layers for `saliency=gradxact:<tap>`).
    pub taps: Vec<String>,
}

impl ArchInfo {
    /// The row as `occlude models` prints it: name, parameters, description, then the
    /// taps ([`summarize_taps`]) on an indented line.
    pub fn display(&self) -> String {
        format!(
            "{:22} {:>8.2} M params ({} classes)  {}\n{:22} taps: {}",
            self.name,
            self.params as f64 / 1e6,
            self.classes,
            self.about,
            "",
            summarize_taps(&self.taps)
        )
    }
}

/// Every architecture of [`ARCHITECTURES`] with its parameter count (ImageNet
/// networks with 1000 classes, CIFAR networks with 10) and its taps. Models are built
/// without initialising their weights, so this is quick.
pub fn catalog() -> Result<Vec<ArchInfo>> {
    use crate::backend::CpuBackend;
    ARCHITECTURES
        .iter()
        .map(|&(name, about)| {
            let cfg = super::ModelConfig::new(name);
            let classes = if Arch::parse(name)?.is_imagenet() { 1000 } else { 10 };
            let model = cfg.build::<CpuBackend>(3, classes, &Default::default())?;
            Ok(ArchInfo {
                name: name.to_string(),
                about: about.to_string(),
                params: super::params::trainable_param_count::<CpuBackend, _>(&model),
                classes,
                taps: model.tap_names(),
            })
        })
        .collect()
}

/// Tap names summarised by pattern: runs of digits that vary become `{lo..hi}`
/// (`layer{1..4}.{0..5}.conv{1..3}`), patterns in order of first appearance.
pub fn summarize_taps(names: &[String]) -> String {
    // (literal text between numbers, (min, max) of each number) per pattern.
    type Pattern = (Vec<String>, Vec<(usize, usize)>);
    let mut patterns: Vec<Pattern> = Vec::new();
    for name in names {
        let mut text = vec![String::new()];
        let mut nums = Vec::new();
        let mut cur: Option<usize> = None;
        for ch in name.chars() {
            match ch.to_digit(10) {
                Some(d) => cur = Some(cur.unwrap_or(0) * 10 + d as usize),
                None => {
                    if let Some(n) = cur.take() {
                        nums.push(n);
                        text.push(String::new());
                    }
                    text.last_mut().expect("non-empty").push(ch);
                }
            }
        }
        if let Some(n) = cur {
            nums.push(n);
            text.push(String::new());
        }
        match patterns.iter_mut().find(|(t, _)| *t == text) {
            Some((_, ranges)) => {
                for (r, n) in ranges.iter_mut().zip(nums) {
                    *r = (r.0.min(n), r.1.max(n));
                }
            }
            None => patterns.push((text, nums.iter().map(|&n| (n, n)).collect())),
        }
    }
    patterns
        .iter()
        .map(|(text, ranges)| {
            let mut s = text[0].clone();
            for (part, &(lo, hi)) in text[1..].iter().zip(ranges) {
                s += &if lo == hi { lo.to_string() } else { format!("{{{lo}..{hi}}}") };
                s += part;
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_parse_and_bad_names_name_the_field() {
        assert_eq!(Arch::parse("wrn-28-10").unwrap(), Arch::Wrn { depth: 28, widen: 10 });
        assert_eq!(Arch::parse("shake-shake-26-2x96d").unwrap(), Arch::ShakeShake { depth: 26, width: 96 });
        assert_eq!(Arch::parse("pyramidnet-272-a200").unwrap(), Arch::PyramidNet { depth: 272, alpha: 200 });
        assert_eq!(Arch::parse("vgg16-bn").unwrap(), Arch::Vgg { depth: 16, batch_norm: true });
        for bad in ["wrn-27-10", "wrn-28-0", "vgg17", "shake-shake-26-96d", "pyramidnet-272", "pyramidnet-273-a200"] {
            let e = Arch::parse(bad).unwrap_err().to_string();
            assert!(e.contains("model.arch") && e.contains("wrn-D-K"), "{e}");
        }
    }

    #[test]
    fn taps_are_summarised_by_pattern() {
        let names: Vec<String> =
            ["stem", "layer1.0.conv1", "layer1.0", "layer1.1.conv1", "layer1.1", "layer2.0.conv1", "layer2.0"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(summarize_taps(&names), "stem, layer{1..2}.{0..1}.conv1, layer{1..2}.{0..1}");
        let convs: Vec<String> = (1..=5).map(|i| format!("conv{i}")).collect();
        assert_eq!(summarize_taps(&convs), "conv{1..5}");
    }
}
