//! End-to-end tests of the `occlude` binary: training, evaluation, resuming after
//! SIGKILL, refusing to clobber another run, and the tools around training
//! (`augment`, `preview`, `saliency`, `bench augment`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{occlude, run_err, run_ok, stdout_json};

/// A tiny run on the embedded subset: 10 images per class, resnet8, batch 20.
fn tiny_config(dir: &Path, epochs: usize) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "tiny"
seed = 3
epochs = {epochs}
output_dir = "out"

[data]
kind = "embedded"
train_per_class = 10
test_per_class = 10

[model]
arch = "resnet8"

[optimizer]
lr = 0.05
batch_size = 20

[schedule]
kind = "step"
milestones = [2]

[train]
checkpoint_every_steps = 2
log_every_steps = 1

[loader]
workers = 2
"#
        ),
    )
    .unwrap();
    path
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Metrics lines without the wall-clock fields, which legitimately differ.
fn metrics_without_times(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("train_seconds");
            o.remove("images_per_second");
            v
        })
        .collect()
}

#[test]
fn train_then_eval_reports_the_same_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 2);
    run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg));
    let out = dir.path().join("out");
    let summary = json(&out.join("summary.json"));
    let top1 = summary["top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1));
    assert_eq!(summary["epochs"], 2);
    for f in ["config.toml", "metrics.jsonl", "curves.png", "checkpoint.safetensors", "state.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(metrics_without_times(&out.join("metrics.jsonl")).len(), 2);

    let eval = run_ok(occlude().args(["eval", "--checkpoint"]).arg(out.join("checkpoint.safetensors")));
    let eval: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(eval["samples"], 100);
    assert_eq!(eval["top1"].as_f64().unwrap(), top1, "eval must reproduce the training run's final top-1");
    assert_eq!(eval["top5"].as_f64().unwrap(), summary["top5"].as_f64().unwrap());

    // A second start in the same directory is refused without --resume / --force …
    let again = occlude().args(["train", "-q", "--config"]).arg(&cfg).output().unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    // … and a different run is refused even with a different seed.
    let other = occlude().args(["train", "-q", "--seed", "9", "--config"]).arg(&cfg).output().unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("different run"));
}

#[test]
fn resuming_after_sigkill_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 3);

    // Reference: one uninterrupted run.
    let reference = dir.path().join("reference");
    run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&reference));

    // Killed run: SIGKILL as soon as the first mid-epoch checkpoint exists.
    let killed = dir.path().join("killed");
    let mut child = occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&killed).spawn().unwrap();
    let checkpoint = killed.join("checkpoint.safetensors");
    let start = Instant::now();
    while !checkpoint.exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(!killed.join("summary.json").exists(), "the run finished before it could be killed");

    run_ok(occlude().args(["train", "-q", "--resume", "--config"]).arg(&cfg).arg("--out").arg(&killed));
    assert_eq!(
        metrics_without_times(&killed.join("metrics.jsonl")),
        metrics_without_times(&reference.join("metrics.jsonl")),
        "a resumed run must reproduce the uninterrupted run's metrics exactly"
    );
    let (a, b) = (json(&killed.join("summary.json")), json(&reference.join("summary.json")));
    for k in ["top1", "top5", "test_loss", "epochs"] {
        assert_eq!(a[k], b[k], "{k}");
    }
}

#[test]
fn invalid_config_values_are_reported_with_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 1);
    let out = occlude().args(["train", "-q", "--set", "optimizer.lr=-1", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("optimizer.lr"), "{err}");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("arch = \"resnet8\"", "arch = \"resnet9\"");
    std::fs::write(&cfg, text).unwrap();
    let out = occlude().args(["train", "-q", "--config"]).arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("model.arch") && err.contains("tiny.toml"), "{err}");
}

#[test]
fn corrupt_dataset_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fmnist");
    std::fs::create_dir(&data).unwrap();
    // Valid headers, truncated images file.
    let mut images = vec![0, 0, 8, 3];
    for d in [5u32, 28, 28] {
        images.extend_from_slice(&d.to_be_bytes());
    }
    images.extend(vec![0u8; 100]);
    std::fs::write(data.join("train-images-idx3-ubyte"), &images).unwrap();
    let mut labels = vec![0, 0, 8, 1];
    labels.extend_from_slice(&5u32.to_be_bytes());
    labels.extend([0u8, 1, 2, 3, 4]);
    std::fs::write(data.join("train-labels-idx1-ubyte"), &labels).unwrap();
    let cfg = tiny_config(dir.path(), 1);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("kind = \"embedded\"\ntrain_per_class = 10\ntest_per_class = 10", "kind = \"fashion-mnist\"");
    std::fs::write(&cfg, text).unwrap();
    let out = occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--data").arg(&data).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("truncated"), "{err}");
    assert!(!dir.path().join("out/checkpoint.safetensors").exists());
}

#[test]
fn full_fashion_mnist_from_debian_is_read_when_installed() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        eprintln!("skipped: {} not installed (apt-get install dataset-fashion-mnist)", dir.display());
        return;
    }
    use occlude::data::{load_dataset, Dataset, DatasetKind, DatasetSpec};
    let s = load_dataset(&DatasetSpec::new(DatasetKind::FashionMnist, Some(dir.to_path_buf()))).unwrap();
    assert_eq!((s.train.len(), s.test.len(), s.num_classes), (60_000, 10_000, 10));
    let mut counts = [0usize; 10];
    for i in 0..s.test.len() {
        counts[s.test.label(i)] += 1;
    }
    assert_eq!(counts, [1000; 10]);
    // The embedded subset is the first images of each class of these files.
    let embedded = occlude::data::embedded::train().unwrap();
    let first = s.train.image(0).unwrap();
    assert_eq!(embedded.image(0).unwrap(), first);
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_resume_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 3);
    let reference = dir.path().join("reference");
    run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&reference));

    let run = dir.path().join("interrupted");
    let child = occlude()
        .args(["train", "-q", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training is under way (the config file is written first).
    let start = Instant::now();
    while !run.join("config.toml").exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "the run never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if run.join("summary.json").exists() {
        eprintln!("the run finished before the interrupt arrived; nothing to check");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("checkpoint written") && err.contains("--resume"), "{err}");
    assert!(run.join("checkpoint.safetensors").exists());

    run_ok(occlude().args(["train", "-q", "--resume", "--config"]).arg(&cfg).arg("--out").arg(&run));
    assert_eq!(
        metrics_without_times(&run.join("metrics.jsonl")),
        metrics_without_times(&reference.join("metrics.jsonl"))
    );
}

/// Runs `occlude augment` on `input` and returns the decoded output and the report.
fn augment(input: &Path, output: &Path, args: &[&str]) -> (image::DynamicImage, serde_json::Value) {
    let out = run_ok(occlude().arg("augment").args(args).arg("--input").arg(input).arg("--output").arg(output));
    (image::open(output).unwrap(), stdout_json(&out))
}

#[test]
fn augment_applies_pil_lookup_table_ops_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let grey: Vec<u8> = vec![0, 1, 60, 100, 127, 128, 129, 200, 3, 254, 255, 64, 127, 128, 250, 252];
    let input = dir.path().join("grey.png");
    image::GrayImage::from_raw(8, 2, grey.clone()).unwrap().save(&input).unwrap();
    let output = dir.path().join("out.png");
    let luma = |img: &image::DynamicImage| {
        assert_eq!(img.color(), image::ColorType::L8, "a greyscale input stays greyscale");
        img.to_luma8().into_raw()
    };

    // Solarize: threshold t = 255·(1 − m/30); p >= t → 255 − p.
    for (m, t) in [(15.0, 127.5), (30.0, 0.0), (0.0, 255.0)] {
        let (img, report) = augment(&input, &output, &["--op", "solarize", "--magnitude", &m.to_string()]);
        let expected: Vec<u8> = grey.iter().map(|&p| if p as f64 >= t { 255 - p } else { p }).collect();
        assert_eq!(luma(&img), expected, "solarize m={m}");
        assert_eq!(report["argument"].as_f64().unwrap(), t, "solarize m={m}");
    }
    // Posterize: bits b = 8 − round(m/7.5), p & !(2^(8−b) − 1).
    for (m, bits) in [(15.0, 6u32), (30.0, 4), (7.5, 7), (0.0, 8)] {
        let (img, report) = augment(&input, &output, &["--op", "posterize", "--magnitude", &m.to_string()]);
        let mask = !((1u16 << (8 - bits)) - 1) as u8;
        assert_eq!(luma(&img), grey.iter().map(|&p| p & mask).collect::<Vec<_>>(), "posterize m={m}");
        assert_eq!(report["argument"].as_f64().unwrap(), bits as f64);
    }
    // Translate-x at m = 30 on an 8-pixel-wide image: trunc(150/331 · 8) = 3 pixels,
    // right for +, left for −; uncovered pixels get --fill.
    let row = |v: &[u8], y: usize| v[y * 8..(y + 1) * 8].to_vec();
    let (img, _) = augment(&input, &output, &["--op", "translate-x", "--magnitude", "30", "--fill", "9"]);
    let v = luma(&img);
    for y in 0..2 {
        let src = row(&grey, y);
        assert_eq!(row(&v, y), [&[9, 9, 9][..], &src[..5]].concat(), "translate-x + row {y}");
    }
    let (img, _) =
        augment(&input, &output, &["--op", "translate-x", "--magnitude", "30", "--sign", "-", "--fill", "9"]);
    let v = luma(&img);
    for y in 0..2 {
        let src = row(&grey, y);
        assert_eq!(row(&v, y), [&src[3..], &[9, 9, 9][..]].concat(), "translate-x − row {y}");
    }

    // RGB: invert and per-channel autocontrast. R spans [10, 95] (scale 255/85 = 3),
    // G spans [0, 51] (scale 5), B is constant (left unchanged).
    let (r, g): (Vec<u8>, Vec<u8>) = (vec![10, 95, 50, 11, 30, 94], vec![0, 51, 10, 1, 50, 25]);
    let rgb = image::RgbImage::from_fn(3, 2, |x, y| {
        let i = (y * 3 + x) as usize;
        image::Rgb([r[i], g[i], 77])
    });
    let rgb_input = dir.path().join("rgb.png");
    rgb.save(&rgb_input).unwrap();
    let (img, _) = augment(&rgb_input, &output, &["--op", "invert"]);
    assert_eq!(img.color(), image::ColorType::Rgb8);
    let expected: Vec<u8> = rgb.as_raw().iter().map(|&p| 255 - p).collect();
    assert_eq!(img.to_rgb8().into_raw(), expected);
    let (img, report) = augment(&rgb_input, &output, &["--op", "autocontrast"]);
    assert_eq!((report["channels"].as_u64(), report["width"].as_u64()), (Some(3), Some(3)));
    let out = img.to_rgb8();
    for (i, p) in out.pixels().enumerate() {
        assert_eq!(p.0, [(r[i] - 10) * 3, g[i] * 5, 77], "pixel {i}");
    }
}

#[test]
fn augment_rejects_unknown_ops_and_misplaced_signs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    image::GrayImage::from_pixel(4, 4, image::Luma([100])).save(&input).unwrap();
    let output = dir.path().join("out.png");
    let augment = |args: &[&str]| {
        let mut cmd = occlude();
        cmd.arg("augment").args(args).arg("--input").arg(&input).arg("--output").arg(&output);
        cmd
    };
    let err = run_err(&mut augment(&["--op", "blur", "--magnitude", "5"]));
    assert!(err.contains("blur"), "{err}");
    for name in ["solarize", "posterize", "autocontrast", "shear-x", "translate-y", "invert"] {
        assert!(err.contains(name), "the valid ops must be listed: {err}");
    }
    let err = run_err(&mut augment(&["--op", "solarize", "--magnitude", "5", "--sign", "-"]));
    assert!(err.contains("--sign") && err.contains("solarize has no direction"), "{err}");
    let err = run_err(&mut augment(&["--op", "posterize"]));
    assert!(err.contains("--magnitude"), "{err}");
    let err = run_err(&mut augment(&["--op", "rotate", "--magnitude", "31"]));
    assert!(err.contains("--magnitude 31") && err.contains("[0, 30]"), "{err}");
    assert!(!output.exists(), "nothing is written on error");
}

#[test]
fn preview_draws_original_and_augmented_rows() {
    let dir = tempfile::tempdir().unwrap();
    let preview = |spec: &str, name: &str| {
        let path = dir.path().join(name);
        let out =
            run_ok(occlude().args(["preview", "--count", "4", "--seed", "5", "--augment", spec, "--out"]).arg(&path));
        (image::open(&path).unwrap().to_rgb8(), stdout_json(&out))
    };
    let (cut, report) = preview("cutout:n=1,s=8", "cutout.png");
    let (plain, _) = preview("none", "none.png");
    let (w, h) = cut.dimensions();
    // Four 28×28 columns, two rows, magnified and separated by gaps.
    assert!(w >= 4 * 28 && h >= 2 * 28 && w > h && w < 4 * 28 * 8, "{w}×{h}");
    assert_eq!(plain.dimensions(), (w, h));
    assert_eq!((report["width"].as_u64(), report["height"].as_u64()), (Some(w as u64), Some(h as u64)));
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4);
    for s in samples {
        assert_eq!(s["params"]["kind"], "erase", "{s}");
        let rects = s["params"]["rects"].as_array().unwrap();
        assert_eq!(rects.len(), 1);
        assert!(rects[0]["height"].as_u64().unwrap() <= 8 && rects[0]["width"].as_u64().unwrap() <= 8);
    }
    // Same seed, same crops: the original rows agree, the augmented rows do not.
    let half = (w * 3 * (h / 2)) as usize;
    assert_eq!(cut.as_raw()[..half], plain.as_raw()[..half], "the top rows are the originals");
    assert_ne!(cut.as_raw()[half..], plain.as_raw()[half..], "cutout changed nothing");
    assert_eq!(plain.as_raw()[..half].len(), plain.as_raw()[half..half * 2].len());

    let bad = dir.path().join("bad.png");
    let err = run_err(occlude().args(["preview", "--augment", "cutout:n=0,s=8", "--out"]).arg(&bad));
    assert!(err.contains("cutout: n") && err.contains("at least 1"), "{err}");
    assert!(!bad.exists());
}

#[test]
fn preview_takes_data_and_augmentation_from_a_run_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 1);
    let text = std::fs::read_to_string(&cfg).unwrap() + "\n[augment]\nmethod = \"hide-and-seek:g=2\"\n";
    std::fs::write(&cfg, text).unwrap();
    let grid = dir.path().join("grid.png");
    let out = run_ok(occlude().args(["preview", "--count", "3", "--config"]).arg(&cfg).arg("--out").arg(&grid));
    let report = stdout_json(&out);
    assert!(report["augment"].as_str().unwrap().starts_with("hide-and-seek"), "{report}");
    assert_eq!(report["seed"], 3, "the config's seed");
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    // train_per_class = 10: only the first 100 images are drawn from.
    assert!(samples.iter().all(|s| s["params"]["kind"] == "hide-and-seek" && s["index"].as_u64().unwrap() < 100));
    image::open(&grid).unwrap();
    // A directory that is no dataset is named.
    let err = run_err(
        occlude().args(["preview", "--augment", "cutout:n=1,s=8", "--data"]).arg(dir.path()).arg("--out").arg(&grid),
    );
    assert!(err.contains("--kind"), "{err}");
}

/// Parses a version-1.0 `.npy` of little-endian f32 independently of the library:
/// the header text and the values.
fn read_npy(path: &Path) -> (String, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "magic and version");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0, "data aligned to 64 bytes");
    let header = String::from_utf8(bytes[10..10 + header_len].to_vec()).unwrap();
    assert!(header.ends_with('\n'));
    let data = &bytes[10 + header_len..];
    assert_eq!(data.len() % 4, 0);
    (header, data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
}

/// Saliency of a non-ResNet checkpoint: the network is rebuilt from its own tensors
/// whatever the architecture.
#[test]
fn saliency_reads_every_architecture_s_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 1);
    run_ok(occlude().args(["train", "-q", "--set", "model.arch=\"wrn-10-1\"", "--config"]).arg(&cfg));
    let input = dir.path().join("x.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * y) as u8])).save(&input).unwrap();
    let out = run_ok(
        occlude()
            .args(["saliency", "--method", "vanilla", "--checkpoint"])
            .arg(dir.path().join("out/checkpoint.safetensors"))
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(dir.path().join("map.png")),
    );
    let report = stdout_json(&out);
    assert!(report["predicted"].as_u64().is_some_and(|p| p < 10), "{report}");
    assert!(dir.path().join("map.png").exists());
}

#[test]
fn saliency_of_an_image_under_a_trained_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), 1);
    run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg));
    let checkpoint = dir.path().join("out/checkpoint.safetensors");
    let input = dir.path().join("shirt.png");
    image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([if (6..22).contains(&x) && y > 4 { 200 } else { (x + y) as u8 }])
    })
    .save(&input)
    .unwrap();
    let saliency = |method: &str, extra: &[&str]| {
        let mut cmd = occlude();
        cmd.args(["saliency", "--method", method, "--checkpoint"])
            .arg(&checkpoint)
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(dir.path().join("map.png"))
            .args(extra);
        cmd
    };

    let npy = dir.path().join("raw/map.npy");
    let out = run_ok(&mut saliency("vanilla", &["--raw", npy.to_str().unwrap()]));
    let report = stdout_json(&out);
    assert_eq!(
        (report["model"].as_str(), report["height"].as_u64(), report["width"].as_u64()),
        (Some("resnet8"), Some(28), Some(28))
    );
    assert_eq!(report["target"], "max-logit");
    let map = image::open(dir.path().join("map.png")).unwrap();
    assert!(map.width() >= 28 && map.height() >= 28);
    let (header, values) = read_npy(&npy);
    assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (28, 28)"), "{header}");
    assert_eq!(values.len(), 28 * 28);
    assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0));
    let max = values.iter().copied().fold(0.0f32, f32::max);
    assert!(max > 0.0, "an all-zero map");
    assert_eq!(report["max"].as_f64().unwrap() as f32, max);

    let out = run_ok(&mut saliency("gradxact:layer1.0.conv1", &["--label", "3"]));
    let report = stdout_json(&out);
    assert_eq!((report["target"].as_str(), report["class"].as_u64()), (Some("label"), Some(3)));
    assert_eq!(report["class_name"], "Dress");

    let err = run_err(&mut saliency("gradxact:layer9", &[]));
    assert!(err.contains("layer9") && err.contains("layer1.0.conv1"), "the valid layers are listed: {err}");
    let err = run_err(&mut saliency("early-loss", &[]));
    assert!(err.contains("early_head"), "{err}");
    let err = run_err(&mut saliency("blur", &[]));
    assert!(err.contains("vanilla") && err.contains("gradxact"), "{err}");
}

#[test]
fn bench_augment_prints_one_json_line_per_configuration() {
    let out = run_ok(occlude().args([
        "bench",
        "augment",
        "--method",
        "cutout:n=1,s=4",
        "--method",
        "randaugment:n=2,m=9",
        "--batch",
        "2,3",
        "--input",
        "3x8x8",
        "--warmup",
        "1",
        "--steps",
        "2",
    ]));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 4);
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["bench"], "augment");
        assert_eq!(v["batch"].as_u64().unwrap(), [2, 3][i % 2]);
        assert_eq!(v["input"], serde_json::json!([3, 8, 8]));
        assert_eq!(v["iters"], 2);
        assert!(v["apply_ms"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["device_ms"].as_f64().unwrap() > 0.0, "{v}");
    }
    assert!(lines[0]["method"].as_str().unwrap().starts_with("cutout"));
    assert!(lines[2]["image_ops_ms"].as_f64().unwrap() > 0.0, "{}", lines[2]);

    let err = run_err(occlude().args(["bench", "augment", "--method", "cutout:s=0"]));
    assert!(err.contains("cutout: s"), "{err}");
    let err = run_err(occlude().args(["bench", "augment", "--input", "3x8"]));
    assert!(err.contains("CxHxW"), "{err}");
}

#[test]
fn demo_trains_keep_cutout_draws_its_pictures_and_compares_with_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let args = ["demo", "--quiet", "--compare", "--epochs", "1", "--per-class", "4", "--out"];
    let run = run_ok(occlude().args(args).arg(&out));
    let stdout = String::from_utf8_lossy(&run.stdout);
    // The demo trains the method of its config; --compare adds the baseline beside it.
    let summary = |dir: &Path| json(&dir.join("summary.json"));
    assert_eq!(summary(&out)["augment"], "keep-cutout:s=8,saliency=low-res", "{stdout}");
    assert_eq!(summary(&out.join("baseline"))["augment"], "none");
    let line = stdout.lines().find(|l| l.contains("baseline (none) top-1")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("keep-cutout:s=8,saliency=low-res (p_keep_image 0.5) top-1"), "{line}");
    // The pictures: 8 columns of 3 rows (original, augmented, saliency), 4 heat-map
    // rows of test images, and the curves.
    let png = |name: &str| image::open(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")).to_rgb8();
    let (preview, saliency, curves) = (png("preview.png"), png("saliency.png"), png("curves.png"));
    let (pw, ph) = preview.dimensions();
    assert!(pw > 8 * 96 && ph > 3 * 96 && ph < 4 * 96 + 16, "preview {pw}×{ph}");
    assert!(preview.pixels().filter(|p| p.0 == [0, 255, 255]).count() >= 8 * 4 * 8, "no cut squares outlined");
    let (sw, sh) = saliency.dimensions();
    assert!(sw > 3 * 192 && sh > 4 * 192 && sh < 5 * 260, "saliency {sw}×{sh}");
    assert_eq!(curves.dimensions(), (1200, 500));
    let last: Vec<&str> = stdout.lines().rev().take(4).collect();
    assert!(last[0].contains("occlude bench epoch --config configs/experiments/keepaugment-table6.toml"), "{stdout}");
    for name in ["preview.png", "saliency.png", "curves.png"] {
        assert!(last.iter().any(|l| l.contains(name)), "{name} not named in {last:?}");
    }
}

/// A reader that stops early (`occlude sweep --dry-run | head -1`) ends the command
/// quietly, by SIGPIPE as for other Unix tools, and not with a panic.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let sweep = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/experiments/seed000-table1.toml");
    let mut child = occlude()
        .args(["sweep", "--dry-run"])
        .arg(&sweep)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // The reader is gone before the first line is written.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(13), "{:?}: {stderr}", out.status);
}
