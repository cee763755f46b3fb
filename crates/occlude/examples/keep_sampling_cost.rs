//! Host cost of drawing the parameters of a saliency-guided method for one batch
//! (candidate regions, their scores, the τ-quantile and the draw), without the
//! saliency pass itself.
//!
//! ```text
//! cargo run --release -p occlude --example keep_sampling_cost -- [spec] [batch] [HxW] [rounds]
//! # defaults: keep-cutout:s=40 256 224x224 5
//! ```
//!
//! Maps are smooth random fields (a sum of Gaussian bumps per image, fixed seed), one
//! per image. Each round draws the whole batch once with a fresh seed; the median and
//! the minimum over rounds are printed as one JSON line. Only the public sampler API
//! (`sampler_for`, `BatchContext`, `Sampler::sample`) is used, so the same file
//! measures any version of the samplers.

use occlude::augment::sample::{sampler_for, BatchContext};
use occlude::augment::spec::AugmentSpec;
use rand::{Rng as _, SeedableRng};
use std::time::Instant;

fn bumps(h: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut rng = occlude::rng::Rng::seed_from_u64(seed);
    let centres: Vec<(f32, f32, f32, f32)> = (0..6)
        .map(|_| {
            let (cy, cx) = (rng.random::<f32>() * h as f32, rng.random::<f32>() * w as f32);
            let r = (0.05 + 0.2 * rng.random::<f32>()) * h.min(w) as f32;
            (cy, cx, r, rng.random::<f32>())
        })
        .collect();
    (0..h * w)
        .map(|p| {
            let (y, x) = ((p / w) as f32, (p % w) as f32);
            let v: f32 = centres
                .iter()
                .map(|&(cy, cx, r, a)| a * (-((y - cy).powi(2) + (x - cx).powi(2)) / (2.0 * r * r)).exp())
                .sum();
            v + 1e-3 * rng.random::<f32>()
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec_text = args.first().map_or("keep-cutout:s=40", String::as_str);
    let batch: usize = args.get(1).map_or(Ok(256), |s| s.parse())?;
    let (h, w) = match args.get(2) {
        Some(s) => {
            let (a, b) = s.split_once('x').ok_or_else(|| anyhow::anyhow!("size as HxW"))?;
            (a.parse()?, b.parse()?)
        }
        None => (224, 224),
    };
    let rounds: usize = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let spec = AugmentSpec::parse(spec_text)?;
    spec.check_image_size(h, w)?;
    let region = spec.region.as_ref().ok_or_else(|| anyhow::anyhow!("{spec_text}: no region-level method"))?;
    let sampler = sampler_for(region).ok_or_else(|| anyhow::anyhow!("{spec_text}: no sampler"))?;
    let maps: Vec<Vec<f32>> = (0..batch).map(|i| bumps(h, w, i as u64)).collect();
    let mut times = Vec::with_capacity(rounds);
    let mut sink = 0usize;
    for round in 0..rounds {
        let t = Instant::now();
        let ctx = BatchContext::new(round as u64, 0, 0, (0..batch).collect(), vec![0; batch], h, w);
        for (i, map) in maps.iter().enumerate() {
            sink += sampler.sample(&ctx, i, Some(map)).rects().len();
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "bench": "keep-sampling",
            "method": spec.to_string(),
            "batch": batch,
            "input": [h, w],
            "rounds": rounds,
            "median_ms": sorted[rounds / 2],
            "min_ms": sorted[0],
            "rects": sink,
        })
    );
    Ok(())
}
