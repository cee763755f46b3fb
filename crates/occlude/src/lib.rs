//! occlude: training image classifiers with occlusion and saliency-guided data
//! augmentation.
//!
//! The two papers this crate implements are the specification:
//! * *Occlusions for Effective Data Augmentation* ([seed 000]): Hide-and-Seek, multi-patch
//!   Cutout, saliency-max occlusion, joint training and batch augmentation.
//! * *KeepAugment* ([seed 003]): Selective-Cut and Selective-Paste guided by
//!   vanilla-gradient saliency, with low-resolution and early-loss approximations.
//!
//! Modules: [`data`] (datasets, preprocessing, loader), [`models`], [`saliency`]
//! (vanilla, gradient×activation, low-resolution and early-loss maps), [`train`],
//! [`report`] (metrics, plots), plus [`rng`] (deterministic draws) and [`io`]
//! (atomic writes).
//!
//! # Use occlude from your own burn code
//!
//! A model of your own gets saliency maps by implementing one trait,
//! [`saliency::SaliencyModel`] (its forward pass, with named layers passed through a
//! hook); then, in your training loop, per batch: [`saliency::compute_model_host`]
//! (the maps), [`augment::sample::sample_batch`] with a sampler from
//! [`augment::sample::sampler_for`] (the regions), and [`augment::apply::apply_batch`]
//! (the batch, in one pass on the device). `examples/own_model.rs` trains a model
//! defined there with KeepCutout and Hide-and-Seek in under 100 lines.
//!
//! [seed 000]: https://arxiv.org/abs/1910.10651
//! [seed 003]: https://arxiv.org/abs/2011.11778

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
