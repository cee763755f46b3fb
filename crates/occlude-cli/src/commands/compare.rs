//! `occlude compare`: seed 000 Fig. 4 — two checkpoints' saliency maps on the test
//! images where the second is right and the first wrong.

use anyhow::{Context, Result};

use occlude::backend::DeviceKind;
use occlude::data::DatasetSpec;
use occlude::saliency::compare::{compare, CompareReport, CompareRequest};
use occlude::saliency::SaliencyMethod;
use std::path::PathBuf;

/// Two checkpoints' saliency maps where one is right and the other wrong (seed 000 Fig. 4)
#[derive(clap::Args)]
#[command(long_about = "Seed 000 Fig. 4: compare two trained networks (e.g. a baseline and an \
    occlusion-trained one) on the test images where the second is right and the first wrong, \
    in test-set order. Each image gets two rows (input, saliency map, overlay), one per network, \
    titled with the ground truth and that network's top prediction; each map explains the \
    network's own top prediction. A JSON report (top-1 of both, how many images each gets right \
    that the other gets wrong, the indices shown) is printed on stdout.\n\n\
    Example: occlude compare --a runs/base/checkpoint.safetensors --b runs/hs/checkpoint.safetensors \
    --method gradxact:layer3.0.conv1 --out fig4.png")]
pub struct Args {
    /// The reference checkpoint (the paper: the baseline)
    #[arg(long)]
    pub a: PathBuf,
    /// The checkpoint whose correct answers are shown (the paper: trained with occlusions)
    #[arg(long)]
    pub b: PathBuf,
    /// Names of the two in titles and the report
    #[arg(long, num_args = 2, value_names = ["A", "B"], default_values = ["baseline", "occlusion-trained"])]
    pub names: Vec<String>,
    /// Saliency method: gradxact:<layer> (the paper's: gradxact:layer3.0.conv1), vanilla, low-res, early-loss
    #[arg(long, default_value = "gradxact:layer3.0.conv1")]
    pub method: String,
    /// Images shown at most
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// Evaluate on this dataset directory (same kind as --a's run) instead of --a's evaluation split
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to write the figure (PNG)
    #[arg(long)]
    pub out: PathBuf,
    /// cpu or cuda
    #[arg(long, default_value = "cpu")]
    pub device: DeviceKind,
}

pub fn exec(args: Args) -> Result<()> {
    let Args { a, b, names, method, count, data, out, device } = args;
    let method = SaliencyMethod::parse(&method).context("--method")?;
    let data = match data {
        Some(d) => Some(DatasetSpec::new(super::eval::peek_kind(&a)?, Some(d))),
        None => None,
    };
    let names = [names[0].clone(), names[1].clone()];
    let req = CompareRequest { a, b, names, method, count, data, out };
    let report = match device {
        DeviceKind::Cpu => compare::<occlude::backend::CpuAutodiff>(&req, &Default::default())?,
        DeviceKind::Cuda => cuda_compare(&req)?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[cfg(feature = "cuda")]
fn cuda_compare(req: &CompareRequest) -> Result<CompareReport> {
    compare::<occlude::backend::CudaAutodiff>(req, &Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda_compare(_: &CompareRequest) -> Result<CompareReport> {
    anyhow::bail!(crate::common::NO_CUDA)
}
