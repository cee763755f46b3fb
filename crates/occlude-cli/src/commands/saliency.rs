//! `occlude saliency`: the saliency map of one image under a trained checkpoint.

use anyhow::{Context, Result};

use occlude::backend::DeviceKind;
use occlude::saliency::explain::{ExplainReport, ExplainRequest};
use occlude::saliency::SaliencyMethod;
use std::path::PathBuf;

/// Saliency map of one image under a trained checkpoint (heat-map PNG, optional raw .npy)
#[derive(clap::Args)]
#[command(long_about = "Compute the saliency map of one image under a trained checkpoint: which pixels \
    the network's decision depends on.\n\n\
    The image is preprocessed as the run's evaluation images are (resized and centre-cropped \
    if its size differs). The heat map is written as a PNG (input, map, overlay); --raw writes \
    the map's values (H×W float32) as a NumPy .npy file. A JSON report (prediction, class \
    explained, map statistics) is printed on stdout.\n\n\
    Example: occlude saliency --checkpoint runs/demo/checkpoint.safetensors --input shoe.png \
    --method vanilla --out map.png --raw map.npy")]
pub struct Args {
    /// A checkpoint.safetensors written by `occlude train`
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The image to explain (PNG or JPEG)
    #[arg(long)]
    pub input: PathBuf,
    /// Class whose logit is explained (default: the class with the largest logit)
    #[arg(long)]
    pub label: Option<usize>,
    /// vanilla, gradxact:<layer> (e.g. gradxact:layer3.0.conv1), low-res, or early-loss
    /// (needs a model trained with model.early_head = true)
    #[arg(long, default_value = "vanilla")]
    pub method: String,
    /// Where to write the heat-map PNG
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the raw map (H×W float32) as a .npy file
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// cpu or cuda
    #[arg(long, default_value = "cpu")]
    pub device: DeviceKind,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { checkpoint, input, label, method, out, raw, device } = args;
    let method = SaliencyMethod::parse(&method).context("--method")?;
    let req = ExplainRequest { checkpoint, input, label, method, out, raw };
    let report = match device {
        DeviceKind::Cpu => {
            occlude::saliency::explain::explain::<occlude::backend::CpuAutodiff>(&req, &Default::default())?
        }
        DeviceKind::Cuda => cuda_explain(&req)?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[cfg(feature = "cuda")]
fn cuda_explain(req: &ExplainRequest) -> Result<ExplainReport> {
    occlude::saliency::explain::explain::<occlude::backend::CudaAutodiff>(req, &Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda_explain(_: &ExplainRequest) -> Result<ExplainReport> {
    anyhow::bail!(crate::common::NO_CUDA)
}
