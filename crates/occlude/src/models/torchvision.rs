//! torchvision's state-dict names for the ImageNet ResNets, both ways.
//!
//! seed 003 §4.5 trains ResNet-50/101 backbones with KeepCutMix on ImageNet and hands
//! them to Detectron2 for detection. Detection frameworks read torchvision's layout
//! (`conv1.weight`, `bn1.running_mean`, `layer1.0.downsample.0.weight`, `fc.weight`,
//! …; Detectron2 converts from it with its `convert-torchvision-to-d2.py`), so
//! [`export`] renames an occlude ImageNet ResNet (`resnet18/34/50/101`) into exactly
//! that layout and [`import`] reads it back, so a torchvision checkpoint can be
//! fine-tuned with occlude (`occlude import` then `occlude train --init-from`).
//!
//! The mapping is one-to-one on every tensor of the network:
//!
//! | occlude | torchvision |
//! |---|---|
//! | `resnet.stem.weight` | `conv1.weight` |
//! | `resnet.stem_bn.{gamma,beta,running_mean,running_var}` | `bn1.{weight,bias,running_mean,running_var}` |
//! | `resnet.stages.S.B.convI.weight` | `layer{S+1}.B.convI.weight` |
//! | `resnet.stages.S.B.bnI.…` | `layer{S+1}.B.bnI.…` |
//! | `resnet.stages.S.B.projection.conv.weight` | `layer{S+1}.B.downsample.0.weight` |
//! | `resnet.stages.S.B.projection.bn.…` | `layer{S+1}.B.downsample.1.…` |
//! | `resnet.fc.weight` `[in, out]` | `fc.weight` `[out, in]` (transposed) |
//! | `resnet.fc.bias` | `fc.bias` |
//!
//! torchvision also keeps `num_batches_tracked` (an int64 scalar) per batch norm;
//! it is not a tensor occlude has, so the writer adds it ([`batch_norm_prefixes`])
//! and the reader skips it. The early-exit head (seed 003's early loss) has no
//! torchvision counterpart and is refused on export rather than dropped silently.

use super::Arch;
use anyhow::{bail, Context, Result};
use burn::tensor::TensorData;
use std::collections::{BTreeMap, HashMap};

const PREFIX: &str = "resnet.";

/// The torchvision ResNets: `resnet18`, `resnet34`, `resnet50`, `resnet101`.
pub fn check_arch(arch: &str) -> Result<()> {
    match Arch::parse(arch)? {
        Arch::ResNet(spec) if spec.imagenet_stem => Ok(()),
        _ => bail!(
            "{arch}: only the ImageNet ResNets (resnet18, resnet34, resnet50, resnet101) have torchvision's layout"
        ),
    }
}

fn bn_field_out(f: &str) -> Option<&'static str> {
    Some(match f {
        "gamma" => "weight",
        "beta" => "bias",
        "running_mean" => "running_mean",
        "running_var" => "running_var",
        _ => return None,
    })
}

fn bn_field_in(f: &str) -> Option<&'static str> {
    Some(match f {
        "weight" => "gamma",
        "bias" => "beta",
        "running_mean" => "running_mean",
        "running_var" => "running_var",
        _ => return None,
    })
}

/// Maps one layer of a block (`conv1.weight`, `bn2.gamma`, `projection.conv.weight`)
/// to torchvision's name.
fn block_layer_out(rest: &str) -> Option<String> {
    let (layer, field) = rest.rsplit_once('.')?;
    Some(match layer {
        "conv1" | "conv2" | "conv3" if field == "weight" => rest.to_string(),
        "bn1" | "bn2" | "bn3" => format!("{layer}.{}", bn_field_out(field)?),
        "projection.conv" if field == "weight" => "downsample.0.weight".to_string(),
        "projection.bn" => format!("downsample.1.{}", bn_field_out(field)?),
        _ => return None,
    })
}

fn block_layer_in(rest: &str) -> Option<String> {
    let (layer, field) = rest.rsplit_once('.')?;
    Some(match layer {
        "conv1" | "conv2" | "conv3" if field == "weight" => rest.to_string(),
        "bn1" | "bn2" | "bn3" => format!("{layer}.{}", bn_field_in(field)?),
        "downsample.0" if field == "weight" => "projection.conv.weight".to_string(),
        "downsample.1" => format!("projection.bn.{}", bn_field_in(field)?),
        _ => return None,
    })
}

/// Splits `"A.B.rest"` into the two indices and the rest.
fn indices(s: &str) -> Option<(usize, usize, &str)> {
    let (a, s) = s.split_once('.')?;
    let (b, rest) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?, rest))
}

/// torchvision's name for an occlude tensor path, or `None` where it has none.
pub fn torchvision_name(path: &str) -> Option<String> {
    let p = path.strip_prefix(PREFIX)?;
    if p == "fc.weight" || p == "fc.bias" {
        return Some(p.to_string());
    }
    if p == "stem.weight" {
        return Some("conv1.weight".into());
    }
    if let Some(f) = p.strip_prefix("stem_bn.") {
        return Some(format!("bn1.{}", bn_field_out(f)?));
    }
    let (s, b, rest) = indices(p.strip_prefix("stages.")?)?;
    Some(format!("layer{}.{b}.{}", s + 1, block_layer_out(rest)?))
}

/// occlude's tensor path for a torchvision name, or `None` where it has none.
pub fn occlude_path(name: &str) -> Option<String> {
    if name == "fc.weight" || name == "fc.bias" {
        return Some(format!("{PREFIX}{name}"));
    }
    if name == "conv1.weight" {
        return Some(format!("{PREFIX}stem.weight"));
    }
    if let Some(f) = name.strip_prefix("bn1.") {
        return Some(format!("{PREFIX}stem_bn.{}", bn_field_in(f)?));
    }
    let rest = name.strip_prefix("layer")?;
    let (s, rest) = rest.split_once('.')?;
    let s: usize = s.parse().ok().filter(|&s| s >= 1)?;
    let (b, rest) = rest.split_once('.')?;
    let b: usize = b.parse().ok()?;
    Some(format!("{PREFIX}stages.{}.{b}.{}", s - 1, block_layer_in(rest)?))
}

/// A 2-D tensor transposed (burn's `Linear` stores `[in, out]`, PyTorch `[out, in]`).
fn transpose(data: &TensorData) -> Result<TensorData> {
    let [r, c] = <[usize; 2]>::try_from(data.shape.as_slice()).ok().context("fc.weight is not 2-D")?;
    let v: Vec<f32> = data.clone().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut t = vec![0f32; v.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = v[i * c + j];
        }
    }
    Ok(TensorData::new(t, [c, r]))
}

/// An occlude ImageNet ResNet's tensors (paths as in a checkpoint) under
/// torchvision's names and layouts, sorted by name. Every tensor must have a
/// torchvision name: an early-exit head or another network is an error.
pub fn export(model: &HashMap<String, TensorData>) -> Result<BTreeMap<String, TensorData>> {
    let mut out = BTreeMap::new();
    for (path, data) in model {
        let name = torchvision_name(path).with_context(|| {
            format!(
                "tensor {path} has no torchvision counterpart (only the ImageNet ResNets without an early head export)"
            )
        })?;
        let data = if name == "fc.weight" { transpose(data)? } else { data.clone() };
        out.insert(name, data);
    }
    Ok(out)
}

/// torchvision tensors back under occlude's paths (the inverse of [`export`]);
/// `num_batches_tracked` entries are skipped, any other unknown name is an error
/// naming it.
pub fn import(tensors: &BTreeMap<String, TensorData>) -> Result<HashMap<String, TensorData>> {
    let mut out = HashMap::new();
    for (name, data) in tensors {
        if name.ends_with(".num_batches_tracked") {
            continue;
        }
        let path = occlude_path(name).with_context(|| format!("tensor {name} is not part of a torchvision ResNet"))?;
        let data = if name == "fc.weight" { transpose(data)? } else { data.clone() };
        out.insert(path, data);
    }
    Ok(out)
}

/// The torchvision prefixes of every batch norm in `names` (`bn1`, `layer1.0.bn2`,
/// `layer1.0.downsample.1`, …), for which torchvision keeps a `num_batches_tracked`.
pub fn batch_norm_prefixes<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    names.into_iter().filter_map(|n| n.strip_suffix(".running_mean")).map(str::to_string).collect()
}

/// Writes torchvision tensors as a safetensors file (atomically), adding an int64
/// `num_batches_tracked` scalar holding `batches` for every batch norm, so that
/// `torchvision.models.resnetN().load_state_dict(safetensors.torch.load_file(path))`
/// accepts it with `strict=True`.
pub fn write_safetensors(path: &std::path::Path, tensors: &BTreeMap<String, TensorData>, batches: i64) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, data) in tensors {
        let v: Vec<f32> = data.clone().convert::<f32>().into_vec().map_err(|e| anyhow::anyhow!("{name}: {e:?}"))?;
        entries.push((name.clone(), Dtype::F32, data.shape.to_vec(), v.iter().flat_map(|x| x.to_le_bytes()).collect()));
    }
    for p in batch_norm_prefixes(tensors.keys()) {
        entries.push((format!("{p}.num_batches_tracked"), Dtype::I64, vec![], batches.to_le_bytes().to_vec()));
    }
    let views: Vec<(String, TensorView)> = entries
        .iter()
        .map(|(n, dt, shape, bytes)| Ok((n.clone(), TensorView::new(*dt, shape.clone(), bytes)?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(views, &None)?;
    crate::io::write_atomic(path, &bytes)
}

/// Reads a torchvision state dict saved as safetensors (`safetensors.torch.save_file`):
/// float32 tensors by name; int64 scalars (`num_batches_tracked`) are skipped, any
/// other dtype is an error naming the tensor.
pub fn read_safetensors(path: &std::path::Path) -> Result<BTreeMap<String, TensorData>> {
    use safetensors::tensor::{Dtype, SafeTensors};
    let file = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("reading {file}"))?;
    let st = SafeTensors::deserialize(&bytes).with_context(|| format!("{file}: not a safetensors file"))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        match view.dtype() {
            Dtype::F32 => {
                let v: Vec<f32> =
                    view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                out.insert(name, TensorData::new(v, view.shape().to_vec()));
            }
            Dtype::I64 if name.ends_with(".num_batches_tracked") => {}
            other => bail!("{file}: tensor {name} has dtype {other:?}; expected float32 (save the model in fp32)"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::models::{params::named_shapes, ModelConfig};

    /// torchvision's own state-dict keys and shapes, generated once with
    /// `python3 bench/torchvision_keys.py` (torchvision 0.29.2) and committed.
    const TORCHVISION_KEYS: &str = include_str!("torchvision_resnet_keys.txt");

    fn torchvision_keys(arch: &str) -> Vec<(String, Vec<usize>)> {
        TORCHVISION_KEYS
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                (f.next()? == arch).then(|| {
                    let name = f.next().unwrap().to_string();
                    let shape = f.next().unwrap_or("");
                    let shape = shape.split('x').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
                    (name, shape)
                })
            })
            .collect()
    }

    #[test]
    fn exported_names_and_shapes_are_torchvisions() {
        let device = Default::default();
        for arch in ["resnet18", "resnet34", "resnet50", "resnet101"] {
            let net = ModelConfig::new(arch).build::<CpuBackend>(3, 1000, &device).unwrap();
            let mut ours: Vec<(String, Vec<usize>)> = named_shapes::<CpuBackend, _>(&net)
                .into_iter()
                .map(|(p, s)| {
                    let n = torchvision_name(&p).unwrap_or_else(|| panic!("{arch}: {p} has no name"));
                    let s = if n == "fc.weight" { vec![s[1], s[0]] } else { s };
                    (n, s)
                })
                .collect();
            let bns = batch_norm_prefixes(ours.iter().map(|(n, _)| n).collect::<Vec<_>>());
            ours.extend(bns.into_iter().map(|p| (format!("{p}.num_batches_tracked"), vec![])));
            ours.sort();
            let mut theirs = torchvision_keys(arch);
            assert!(theirs.len() > 100, "{arch}: key list missing");
            theirs.sort();
            assert_eq!(ours, theirs, "{arch}");
            // And back: every torchvision name maps to the occlude path it came from.
            for (p, _) in named_shapes::<CpuBackend, _>(&net) {
                assert_eq!(occlude_path(&torchvision_name(&p).unwrap()).as_deref(), Some(p.as_str()));
            }
        }
    }

    #[test]
    fn round_trip_is_bit_identical_and_transposes_fc() {
        let device = Default::default();
        let net = ModelConfig::new("resnet18").init::<CpuBackend>(3, 10, &device).unwrap();
        let model: HashMap<String, TensorData> =
            crate::models::params::named_tensors::<CpuBackend, _>(&net).into_iter().collect();
        let tv = export(&model).unwrap();
        let fc = &model["resnet.fc.weight"];
        assert_eq!(tv["fc.weight"].shape.as_slice(), &[10, 512]);
        let (a, b) = (fc.to_vec::<f32>().unwrap(), tv["fc.weight"].to_vec::<f32>().unwrap());
        assert_eq!(a[3 * 10 + 7], b[7 * 512 + 3]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tv.safetensors");
        write_safetensors(&file, &tv, 5).unwrap();
        let back = import(&read_safetensors(&file).unwrap()).unwrap();
        assert_eq!(back.len(), model.len());
        for (k, v) in &model {
            assert_eq!(back[k].to_vec::<f32>().unwrap(), v.to_vec::<f32>().unwrap(), "{k}");
            assert_eq!(back[k].shape, v.shape, "{k}");
        }
    }

    #[test]
    fn refuses_what_torchvision_does_not_have() {
        let mut m = HashMap::new();
        m.insert("resnet.early_head.weight".to_string(), TensorData::new(vec![0f32; 4], [2, 2]));
        assert!(export(&m).unwrap_err().to_string().contains("resnet.early_head.weight"));
        let mut t = BTreeMap::new();
        t.insert("layer9.x.conv1.weight".to_string(), TensorData::new(vec![0f32; 1], [1]));
        assert!(import(&t).unwrap_err().to_string().contains("layer9.x.conv1.weight"));
        assert!(check_arch("resnet20").is_err() && check_arch("resnet50").is_ok());
    }
}
