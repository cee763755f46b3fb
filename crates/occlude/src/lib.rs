//! occlude: training image classifiers with occlusion and saliency-guided data
//! augmentation.
//!
//! The two papers this crate implements are the specification:
//! * *Occlusions for Effective Data Augmentation* (seed 000): Hide-and-Seek, multi-patch
//!   Cutout, saliency-max occlusion, joint training and batch augmentation.
//! * *KeepAugment* (seed 003): Selective-Cut and Selective-Paste guided by
//!   vanilla-gradient saliency, with low-resolution and early-loss approximations.
//!
//! Modules: [`data`] (datasets, preprocessing, loader), [`models`], [`saliency`]
//! (vanilla, gradient×activation, low-resolution and early-loss maps), [`train`],
//! [`report`] (metrics, plots), plus [`rng`] (deterministic draws) and [`io`]
//! (atomic writes).

pub mod augment;
pub mod backend;
pub mod bench;
pub mod data;
pub mod io;
pub mod kernels;
pub mod models;
pub mod report;
pub mod rng;
pub mod saliency;
pub mod sweep;
pub mod train;
