//! Wall-clock time spent in each kernel, for `occlude bench train-step --profile`
//! (a per-op profile of a training step: where the time goes).
//!
//! Off unless [`enable`] was called; then every kernel call adds its duration to a
//! global counter. Timings of calls running on several threads at once overlap, so
//! compare the totals with the step's wall time, not with its CPU time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The kernels timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    ConvForward,
    ConvBackward,
    NormForward,
    NormBackward,
}

const OPS: [(Op, &str); 4] = [
    (Op::ConvForward, "conv forward"),
    (Op::ConvBackward, "conv backward (input + weight)"),
    (Op::NormForward, "batch norm (+ReLU) forward"),
    (Op::NormBackward, "batch norm (+ReLU) backward"),
];

static ON: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 4] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static CALLS: [AtomicU64; 4] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Starts collecting (and clears the counters).
pub fn enable() {
    for i in 0..OPS.len() {
        NANOS[i].store(0, Ordering::Relaxed);
        CALLS[i].store(0, Ordering::Relaxed);
    }
    ON.store(true, Ordering::Relaxed);
}

/// Clears the counters (e.g. after warm-up).
pub fn reset() {
    for i in 0..OPS.len() {
        NANOS[i].store(0, Ordering::Relaxed);
        CALLS[i].store(0, Ordering::Relaxed);
    }
}

/// `(kernel, seconds, calls)` since [`enable`] / [`reset`].
pub fn totals() -> Vec<(&'static str, f64, u64)> {
    OPS.iter()
        .enumerate()
        .map(|(i, (_, name))| (*name, NANOS[i].load(Ordering::Relaxed) as f64 * 1e-9, CALLS[i].load(Ordering::Relaxed)))
        .collect()
}

/// Runs `f`, timing it under `op` when profiling is on.
#[inline]
pub fn time<T>(op: Op, f: impl FnOnce() -> T) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let i = OPS.iter().position(|(o, _)| *o == op).expect("a known op");
    NANOS[i].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    CALLS[i].fetch_add(1, Ordering::Relaxed);
    out
}
