//! [`SaliencyMaps`]: maps read back to the host, as the samplers take them.

use anyhow::Result;
use burn::prelude::*;

/// Saliency maps on the host: `count` maps of `height × width` values, row-major, one
/// after the other.
#[derive(Clone, Debug, PartialEq)]
pub struct SaliencyMaps {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

impl SaliencyMaps {
    /// Reads an `N×H×W` tensor back (as `f32`).
    pub fn from_tensor<B: Backend>(maps: Tensor<B, 3>) -> Result<Self> {
        let [count, height, width] = maps.dims();
        let values = maps.into_data().convert::<f32>().into_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(Self { count, height, width, values })
    }

    /// The map of image `i` (`height × width`, row-major).
    pub fn map(&self, i: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.values[i * n..(i + 1) * n]
    }

    /// One `Vec` per image.
    pub fn to_vecs(&self) -> Vec<Vec<f32>> {
        (0..self.count).map(|i| self.map(i).to_vec()).collect()
    }

    /// The maps of images `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let values = indices.iter().flat_map(|&i| self.map(i).iter().copied()).collect();
        Self { count: indices.len(), height: self.height, width: self.width, values }
    }
}
