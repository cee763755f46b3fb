//! `occlude export`: a trained network in another framework's layout.

use anyhow::{Context, Result};
use clap::ValueEnum;
use occlude::models::torchvision;
use occlude::train::{checkpoint, RunConfig};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// torchvision's ResNet state dict (resnet18/34/50/101), as safetensors
    Torchvision,
}

/// Export a checkpoint's network in torchvision's layout (for Detectron2 and PyTorch)
#[derive(clap::Args)]
#[command(long_about = "Export a checkpoint's network under torchvision's state-dict names and layouts \
    (conv1.weight, layer1.0.bn1.running_mean, …, fc.weight as [out, in]), as safetensors. Only the \
    ImageNet ResNets (resnet18, resnet34, resnet50, resnet101) have that layout. A re-ID checkpoint \
    exports its backbone (no fc).\n\n\
    In Python: torchvision.models.resnet50().load_state_dict(safetensors.torch.load_file(OUT)); \
    Detectron2 reads it after torch.save(...) and its tools/convert-torchvision-to-d2.py.")]
pub struct Args {
    /// Target layout
    #[arg(long, value_enum, default_value = "torchvision")]
    format: Format,
    /// An occlude checkpoint (checkpoint.safetensors of a run)
    checkpoint: PathBuf,
    /// Output file (.safetensors)
    out: PathBuf,
}

pub fn exec(args: Args) -> Result<()> {
    let Format::Torchvision = args.format;
    let ck = checkpoint::load(&args.checkpoint)?;
    let what = args.checkpoint.display();
    let cfg = RunConfig::from_toml_str(&ck.config_toml, None).with_context(|| format!("{what}: its configuration"))?;
    torchvision::check_arch(&cfg.model.arch).with_context(|| format!("{what}"))?;
    let reid = cfg.reid.as_ref();
    let model = match reid {
        Some(_) => reid_backbone(ck.model),
        None => ck.model,
    };
    let tensors = torchvision::export(&model).with_context(|| format!("{what}"))?;
    torchvision::write_safetensors(&args.out, &tensors, ck.state.step as i64)?;
    eprintln!("wrote {} ({} tensors, {} in torchvision's layout)", args.out.display(), tensors.len(), cfg.model.arch);
    if let Some(r) = reid {
        eprintln!(
            "re-ID checkpoint: the backbone only (no fc; the BNNeck and the identity classifier are left out){}. \
             In PyTorch: load_state_dict(..., strict=False), missing keys fc.weight and fc.bias.",
            if r.last_stride == 1 {
                "; it was trained with last stride 1: set layer4[0].conv2.stride and layer4[0].downsample[0].stride \
                 to (1, 1) to compute the same features"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// A re-ID network's backbone under the classifier's paths (`backbone.…` → `resnet.…`),
/// without its unused two-output `fc`, the BNNeck and the identity classifier.
fn reid_backbone<T>(model: HashMap<String, T>) -> HashMap<String, T> {
    model
        .into_iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("backbone.")?;
            (!rest.starts_with("fc.")).then(|| (format!("resnet.{rest}"), v))
        })
        .collect()
}
