//! `saliency=reuse` through the classification step: what the step caches is the
//! input gradient of its own loss, mapped back through each image's crop and flip.

use super::Classification;
use crate::augment::{AugmentInput, AugmentPlan, Targets};
use crate::backend::CpuAutodiff;
use crate::models::Ctx;
use crate::train::evaluate::to_device;
use crate::train::task::{StepInfo, Task};
use crate::train::{loss, RunConfig};

type A = CpuAutodiff;

fn config(paradigm: &str) -> RunConfig {
    let text = format!(
        r#"
        seed = 3
        epochs = 1
        output_dir = "unused"
        [data]
        kind = "embedded"
        [model]
        arch = "resnet8"
        early_head = true
        [optimizer]
        batch_size = 6
        [augment]
        method = "keep-cutout:s=8,saliency=reuse"
        paradigm = "{paradigm}"
        "#
    );
    RunConfig::from_toml_str(&text, None).unwrap()
}

/// The expected source-coordinate map, computed pixel by pixel from the source side:
/// source pixel `(sy, sx)` was shown at output row `sy − top` and column `sx − left`
/// (mirrored when flipped); pixels no output showed get the mean of the others.
fn expected_source(crop: &crate::data::preprocess::CropParams, map: &[f32], h: usize, w: usize) -> Vec<f32> {
    let mut src: Vec<Option<f32>> = vec![None; h * w];
    for (sy, row) in src.chunks_mut(w).enumerate() {
        for (sx, v) in row.iter_mut().enumerate() {
            let (y, xo) = (sy as i64 - crop.top, sx as i64 - crop.left);
            let x = if crop.flip { w as i64 - 1 - xo } else { xo };
            if (0..h as i64).contains(&y) && (0..w as i64).contains(&x) {
                *v = Some(map[y as usize * w + x as usize]);
            }
        }
    }
    let shown: Vec<f32> = src.iter().flatten().copied().collect();
    let mean = (shown.iter().map(|&v| v as f64).sum::<f64>() / shown.len() as f64) as f32;
    src.into_iter().map(|v| v.unwrap_or(mean)).collect()
}

#[test]
fn the_cached_map_is_the_input_gradient_of_the_steps_loss_mapped_back_through_crop_and_flip() {
    for paradigm in ["joint", "standard"] {
        let cfg = config(paradigm);
        let device = Default::default();
        let mut task = Classification::<A>::new(&cfg, &device).unwrap();
        let model = task.init_model(&device).unwrap();
        let host = task.batches(0, 0).next().unwrap().unwrap();
        let (n, [_, _, h, w]) = (host.len(), host.dims);
        assert!(host.crops.iter().any(|c| c.flip) && host.crops.iter().any(|c| (c.top, c.left) != (0, 0)));
        let at = StepInfo { epoch: 0, step: 0, steps_per_epoch: 1, total_steps: 1, lr: 0.1 };

        // Directly: the same trained batch (first visit: no map yet), tracked, the
        // step's loss, its gradient with respect to the first n rows.
        let mut aug = AugmentPlan::from_config(&cfg.augment).unwrap().build::<A>();
        let (x, y) = to_device::<A>(&host, host.images.clone(), &device);
        let input = AugmentInput {
            host: &host,
            images: x,
            labels: y,
            model: &model,
            epoch: 0,
            num_classes: 10,
            seed: cfg.seed,
        };
        let tb = aug.apply(input).unwrap();
        let images = tb.images.require_grad();
        let mut ctx = Ctx::train_at(cfg.seed, 0, 1).with_early_head(true);
        let (logits, early) = model.forward_with(images.clone(), &mut ctx);
        let smoothing = cfg.train.label_smoothing;
        let head = loss::cross_entropy(early.unwrap(), &tb.targets, smoothing);
        let l = loss::cross_entropy(logits, &tb.targets, smoothing) + head.mul_scalar(cfg.train.early_loss_weight);
        assert!(matches!(tb.targets, Targets::Hard(_)));
        let g = images.grad(&l.backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        let rows = images.dims()[0];
        assert_eq!(rows, if paradigm == "joint" { 2 * n } else { n });
        let c = g.len() / (rows * h * w);

        // Through the task: step, the loop's backward, after_backward.
        assert!(task.augment.reused_map(host.indices[0]).is_none(), "nothing cached before the first step");
        let out = task.step(&model, host.clone(), at).unwrap();
        task.after_backward(&out.loss.backward()).unwrap();
        for i in 0..n {
            // max_c |g| of row i (the clean copy in joint training, the trained image otherwise).
            let map: Vec<f32> =
                (0..h * w).map(|p| (0..c).map(|ch| g[(i * c + ch) * h * w + p].abs()).fold(0.0, f32::max)).collect();
            assert!(map.iter().any(|&v| v > 0.0));
            let want = expected_source(&host.crops[i], &map, h, w);
            let got = task.augment.reused_map(host.indices[i]).expect("cached after the step");
            for (p, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1e-6), "{paradigm} image {i} pixel {p}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn resizing_crops_are_refused_with_a_message() {
    use crate::data::preprocess::{Crop, Preprocess};
    let mut cfg = config("joint");
    let mut p: Preprocess = crate::data::load_dataset(&cfg.data).unwrap().train_preprocess;
    p.crop = Crop::RandomResizedCrop { size: 28, scale: [0.5, 1.0], ratio: [0.75, 1.33] };
    cfg.data.train_preprocess = Some(p);
    let e = Classification::<A>::new(&cfg, &Default::default()).err().expect("a resizing crop is refused");
    let e = format!("{e:#}");
    assert!(e.contains("saliency=reuse") && e.contains("augment.method"), "{e}");
}
