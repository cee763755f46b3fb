//! `occlude import`: another framework's weights as an occlude checkpoint.

use super::export::Format;
use anyhow::{bail, Context, Result};
use occlude::backend::CpuBackend;
use occlude::models::{params::named_shapes, torchvision, ModelConfig};
use occlude::train::checkpoint::{self, RunState};
use occlude::train::RunConfig;
use std::path::PathBuf;

/// Import torchvision ResNet weights as an occlude checkpoint (for --init-from)
#[derive(clap::Args)]
#[command(long_about = "Import a torchvision ResNet state dict (safetensors, float32: e.g. \
    safetensors.torch.save_file(torchvision.models.resnet50(weights=...).state_dict(), IN)) as an occlude \
    checkpoint, so it can be fine-tuned: occlude train --config … --init-from OUT. Every tensor is checked \
    against the network --arch builds (names and shapes); the run's model.arch, input channels and class \
    count must then match it.")]
pub struct Args {
    /// Source layout
    #[arg(long, value_enum, default_value = "torchvision")]
    format: Format,
    /// Architecture of the weights: resnet18, resnet34, resnet50 or resnet101
    #[arg(long)]
    arch: String,
    /// torchvision state dict (.safetensors)
    input: PathBuf,
    /// Output occlude checkpoint (.safetensors)
    out: PathBuf,
}

pub fn exec(args: Args) -> Result<()> {
    let Format::Torchvision = args.format;
    let what = args.input.display();
    torchvision::check_arch(&args.arch)?;
    let model = torchvision::import(&torchvision::read_safetensors(&args.input)?).with_context(|| format!("{what}"))?;
    let (in_ch, classes) = match (model.get("resnet.stem.weight"), model.get("resnet.fc.weight")) {
        (Some(s), Some(f)) => (s.shape[1], f.shape[1]),
        _ => bail!("{what}: no conv1.weight or fc.weight"),
    };
    let net = ModelConfig::new(&args.arch).build::<CpuBackend>(in_ch, classes, &Default::default())?;
    let expected = named_shapes::<CpuBackend, _>(&net);
    let mut problems = Vec::new();
    for (path, shape) in &expected {
        match model.get(path) {
            None => problems.push(format!("{}: missing", torchvision::torchvision_name(path).unwrap_or_default())),
            Some(d) if d.shape.as_slice() != shape.as_slice() && !path.ends_with("fc.weight") => {
                problems.push(format!(
                    "{}: shape {:?}, {} has {:?}",
                    torchvision::torchvision_name(path).unwrap_or_default(),
                    d.shape.as_slice(),
                    args.arch,
                    shape
                ))
            }
            _ => {}
        }
    }
    if model.len() != expected.len() {
        problems.push(format!("{} tensors, {} has {}", model.len(), args.arch, expected.len()));
    }
    if !problems.is_empty() {
        bail!("{what} is not a torchvision {}: {}", args.arch, problems.join("; "));
    }
    // The configuration recorded with the weights: enough for --init-from to name the
    // network; a run that fine-tunes them brings its own.
    let config = format!(
        "# imported by `occlude import --arch {arch}` from {what}\nepochs = 1\noutput_dir = \".\"\n\
         [data]\nkind = \"embedded\"\n[model]\narch = \"{arch}\"\n",
        arch = args.arch
    );
    RunConfig::from_toml_str(&config, None).context("the recorded configuration")?;
    let mut weights: Vec<_> = model.into_iter().collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    checkpoint::write(&args.out, &weights, &[], &RunState::default(), &config)?;
    eprintln!(
        "wrote {} ({} tensors of {}, {in_ch} input channels, {classes} classes)",
        args.out.display(),
        weights.len(),
        args.arch
    );
    Ok(())
}
