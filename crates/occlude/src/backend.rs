//! The compute backends occlude is built for.
//!
//! CPU: burn's `flex` backend (pure Rust, SIMD, multi-threaded), measured ~19× faster
//! than `ndarray` on a ResNet training step (see BENCHMARKS.md). GPU: burn's CUDA
//! backend (CUDA C++ compiled by NVRTC at run time) behind the `cuda` cargo feature.
//!
//! Papers: the recipes of [seed 000] §4.1 (ResNet-50, 90 ImageNet epochs) and
//! [seed 003] §4.1–4.2 need a GPU; the CPU backend serves the demo and the tests.
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

use burn::backend::Autodiff;

/// The default CPU backend.
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend with automatic differentiation, used for training.
pub type CpuAutodiff = Autodiff<CpuBackend>;

#[cfg(feature = "ndarray")]
pub type NdArrayAutodiff = Autodiff<burn::backend::NdArray>;

#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;
#[cfg(feature = "cuda")]
pub type CudaAutodiff = Autodiff<CudaBackend>;

/// Which device a command runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

impl std::str::FromStr for DeviceKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            _ => anyhow::bail!("device: expected cpu or cuda, got {s:?}"),
        }
    }
}

/// True when this build can run on CUDA.
pub const CUDA_AVAILABLE: bool = cfg!(feature = "cuda");
