//! End-to-end tests of what the seeds' analyses need from a run: fine-tuning from
//! another run's checkpoint (`--init-from`, seed 000 §4.3), the training accuracy on
//! clean images (`train.clean_train_eval`, seed 003 Fig. 2), and evaluation on
//! occluded test images (`occlude eval --occlude`, seed 000 §4.2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{occlude, run_err, run_ok, stdout_json};

/// A tiny run on the embedded subset (10 images per class, resnet8, batch 20) plus
/// `extra` TOML.
fn tiny_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("tiny.toml");
    let text = format!(
        "name = \"tiny\"\nseed = 3\nepochs = 1\noutput_dir = \"out\"\n\
         [data]\nkind = \"embedded\"\ntrain_per_class = 10\ntest_per_class = 10\n\
         [model]\narch = \"resnet8\"\n[optimizer]\nlr = 0.05\nbatch_size = 20\n[loader]\nworkers = 2\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Trainable tensors of a checkpoint (batch-norm statistics left out).
fn weights(checkpoint: &Path) -> HashMap<String, Vec<f32>> {
    let ck = occlude::train::checkpoint::load(checkpoint).unwrap();
    ck.model
        .into_iter()
        .filter(|(name, _)| !name.contains("running_"))
        .map(|(name, data)| (name, data.to_vec::<f32>().unwrap()))
        .collect()
}

#[test]
fn init_from_starts_from_another_runs_weights_with_a_fresh_optimiser_and_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "");
    let source = dir.path().join("source");
    run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&source));
    let source_ck = source.join("checkpoint.safetensors");

    // Fine-tuned with a learning rate so small the weights cannot move: they are the
    // source's, not a fresh initialisation.
    let tuned = dir.path().join("tuned");
    run_ok(
        occlude()
            .args(["train", "-q", "--set", "optimizer.lr=1e-9", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&tuned)
            .arg("--init-from")
            .arg(&source_ck),
    );
    let (a, b) = (weights(&source_ck), weights(&tuned.join("checkpoint.safetensors")));
    assert_eq!(a.len(), b.len());
    for (name, va) in &a {
        let diff = va.iter().zip(&b[name]).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-6, "{name}: differs by {diff}");
    }
    // A fresh step counter: one epoch of 5 steps, not the source's 5 plus 5.
    let ck = occlude::train::checkpoint::load(&tuned.join("checkpoint.safetensors")).unwrap();
    assert_eq!((ck.state.step, ck.state.epoch), (5, 1));
    let saved = std::fs::read_to_string(tuned.join("config.toml")).unwrap();
    assert!(saved.contains("init_from"), "the source is recorded with the run: {saved}");

    // Another architecture: the mismatching tensors are named, nothing is written.
    let other = dir.path().join("other");
    let err = run_err(
        occlude()
            .args(["train", "-q", "--set", "model.arch=\"resnet20\"", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&other)
            .arg("--init-from")
            .arg(&source_ck),
    );
    assert!(err.contains("init_from") && err.contains("resnet8") && err.contains("resnet20"), "{err}");
    assert!(err.contains("resnet.stages.") && err.contains("missing"), "the tensors are named: {err}");
    assert!(!other.join("checkpoint.safetensors").exists());

    // A run may not start from the checkpoint it is about to overwrite.
    let err = run_err(
        occlude()
            .args(["train", "-q", "--force", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&source)
            .arg("--init-from")
            .arg(&source_ck),
    );
    assert!(err.contains("own checkpoint"), "{err}");
    assert!(source_ck.exists());
}

/// An ImageFolder of two classes whose `val` split is a copy of `train`.
fn twin_image_folder(root: &Path) {
    for split in ["train", "val"] {
        for (class, base) in [("a", 40u8), ("b", 200u8)] {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..6u32 {
                image::RgbImage::from_fn(20, 20, |x, y| {
                    let v = base.wrapping_add(((x * 7 + y * 3 + i * 11) % 50) as u8);
                    image::Rgb([v, v / 2, 255 - v])
                })
                .save(d.join(format!("{i}.png")))
                .unwrap();
            }
        }
    }
}

#[test]
fn clean_training_accuracy_is_measured_on_unaugmented_training_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("twins");
    twin_image_folder(&data);
    let extra = "[train]\nclean_train_eval = 1000\n[augment]\nmethod = \"cutout:n=1,s=8\"\n";
    let cfg = tiny_config(dir.path(), extra).to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "kind = \"embedded\"\ntrain_per_class = 10\ntest_per_class = 10",
            "kind = \"image-folder\"\nimage_size = 16",
        )
        .replace("batch_size = 20", "batch_size = 4");
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("out");
    run_ok(occlude().args(["train", "-q", "--epochs", "2", "--config", &cfg, "--data"]).arg(&data));
    // The training split is the evaluation split here, so with every training image
    // seen as the test images are (no random crop, flip or cutout) the figures agree.
    for m in metrics(&out) {
        assert_eq!(m["extra"]["clean_train_top1"], m["test_top1"], "{m}");
        assert_eq!(m["extra"]["clean_train_loss"], m["test_loss"], "{m}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["extra"]["clean_train_top1"], summary["top1"]);

    // A subset of 5 of the 12 images.
    let sub = dir.path().join("sub");
    run_ok(
        occlude()
            .args(["train", "-q", "--set", "train.clean_train_eval=5", "--config", &cfg, "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&sub),
    );
    let top1 = metrics(&sub)[0]["extra"]["clean_train_top1"].as_f64().unwrap();
    assert!(((top1 * 5.0).round() - top1 * 5.0).abs() < 1e-9, "{top1} is not a fraction of 5 images");
}

#[test]
fn eval_on_occluded_images_is_deterministic_and_occludes_what_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "");
    // Three epochs: better than chance (one epoch may still predict one class).
    run_ok(occlude().args(["train", "-q", "--epochs", "3", "--config"]).arg(&cfg));
    let checkpoint = dir.path().join("out/checkpoint.safetensors");
    let eval =
        |extra: &[&str]| stdout_json(&run_ok(occlude().arg("eval").arg("--checkpoint").arg(&checkpoint).args(extra)));

    // No occlusion: the plain evaluation.
    let plain = eval(&[]);
    let none = eval(&["--occlude", "none"]);
    for k in ["top1", "top5", "loss", "samples"] {
        assert_eq!(none[k], plain[k], "{k}");
    }
    assert_eq!(none["occluded_fraction"], 0.0);
    assert!(plain["top1"].as_f64().unwrap() > 0.15, "{plain}");

    // Every cell hidden: every image is the same mean-colour image, so the network
    // gives one prediction for all 100 test images, right for the 10 of its class.
    let all = eval(&["--occlude", "hide-and-seek:g=4,p_keep_patch=0"]);
    assert_eq!(all["occluded_fraction"], 1.0);
    assert_eq!(all["top1"].as_f64().unwrap(), 0.1, "{all}");

    // Random occlusions: reproduced by their seed, different under another seed, and
    // never larger than one 8×8 square of a 28×28 image.
    let a = eval(&["--occlude", "cutout:n=1,s=8", "--seed", "1"]);
    let b = eval(&["--occlude", "cutout:n=1,s=8", "--seed", "1"]);
    let c = eval(&["--occlude", "cutout:n=1,s=8", "--seed", "2"]);
    assert_eq!(a, b, "the same occlusions for the same seed");
    let f = a["occluded_fraction"].as_f64().unwrap();
    assert!(f > 0.0 && f <= 64.0 / 784.0, "{f}");
    assert_ne!(a["occluded_fraction"], c["occluded_fraction"]);
    assert!(a["occlude"].as_str().unwrap().starts_with("cutout:n=1,s=8") && a["seed"] == 1, "{a}");
    // … whatever the batch size (up to the order of floating-point sums).
    let d = eval(&["--occlude", "cutout:n=1,s=8", "--seed", "1", "--batch-size", "32"]);
    assert_eq!((&d["top1"], &d["top5"]), (&a["top1"], &a["top5"]));
    for k in ["loss", "occluded_fraction"] {
        assert!((d[k].as_f64().unwrap() - a[k].as_f64().unwrap()).abs() < 1e-6, "{k}: {d} {a}");
    }

    // Saliency-guided occlusion uses the checkpoint's own network.
    let s = eval(&["--occlude", "saliency-occlusion:n=1,s=8,saliency=vanilla"]);
    let f = s["occluded_fraction"].as_f64().unwrap();
    assert!((f - 64.0 / 784.0).abs() < 1e-12, "one 8×8 square inside every image: {f}");
    assert_eq!(s, eval(&["--occlude", "saliency-occlusion:n=1,s=8,saliency=vanilla"]));

    for (spec, why) in
        [("cutmix", "mixes labels"), ("randaugment:n=2,m=9", "image-level"), ("cutout:n=0,s=8", "at least 1")]
    {
        let err = run_err(occlude().arg("eval").arg("--checkpoint").arg(&checkpoint).args(["--occlude", spec]));
        assert!(err.contains("--occlude") && err.contains(why), "{spec}: {err}");
    }
}

#[test]
fn keep_cutout_reuse_trains_as_cutout_until_it_has_maps_then_follows_them() {
    // Epoch 1 has no cached map for any image, so it is Cutout draw for draw (same
    // loss, same accuracy); epoch 2 samples from the maps the steps of epoch 1 cached.
    let dir = tempfile::tempdir().unwrap();
    let train = |method: &str, out: &str| -> Vec<serde_json::Value> {
        let extra = format!("[augment]\nmethod = \"{method}\"\nparadigm = \"joint\"\n");
        let cfg = tiny_config(dir.path(), &extra);
        let out = dir.path().join(out);
        run_ok(occlude().args(["train", "-q", "--epochs", "2", "--config"]).arg(&cfg).arg("--out").arg(&out));
        metrics(&out)
    };
    let reuse = train("keep-cutout:s=14,saliency=reuse", "reuse");
    let cutout = train("cutout:s=14", "cutout");
    assert_eq!(reuse.len(), 2);
    assert_eq!(reuse[0]["train_loss"], cutout[0]["train_loss"], "first epoch: {} vs {}", reuse[0], cutout[0]);
    assert_eq!(reuse[0]["test_loss"], cutout[0]["test_loss"]);
    assert_ne!(reuse[1]["train_loss"], cutout[1]["train_loss"], "second epoch: the cached maps guide the cuts");
    assert!(reuse[1]["train_loss"].as_f64().unwrap().is_finite());
}
