//! The host CPU kernels behind occlude's training step on the CPU: 2-D convolution
//! ([`conv`], with the direct AVX2/FMA kernel of [`direct`] for stride-1 convolutions)
//! and batch normalisation + ReLU ([`norm`]), `f32`, NCHW, forward and backward.
//!
//! A crate of its own so that its release build has no debug assertions: occlude's
//! crates keep debug assertions in the release profile for the tests, and with them
//! every raw-pointer access in these loops carries a run-time check (measured: the
//! direct convolution ran at about a quarter of its speed). The kernels are tested
//! here against direct sums and finite differences, and through occlude against
//! burn's own ops.

pub mod conv;
pub mod direct;
pub mod norm;
