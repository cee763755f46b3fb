//! `occlude export`: a trained network in another framework's layout.

use anyhow::{Context, Result};
use clap::ValueEnum;
use occlude::models::torchvision;
use occlude::train::{checkpoint, RunConfig};
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
    ImageNet ResNets (resnet18, resnet34, resnet50, resnet101) have that layout.\n\n\
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
    let tensors = torchvision::export(&ck.model).with_context(|| format!("{what}"))?;
    torchvision::write_safetensors(&args.out, &tensors, ck.state.step as i64)?;
    eprintln!("wrote {} ({} tensors, {} in torchvision's layout)", args.out.display(), tensors.len(), cfg.model.arch);
    Ok(())
}
