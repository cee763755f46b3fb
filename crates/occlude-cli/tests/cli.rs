//! End-to-end tests of the `occlude` binary: training, evaluation, resuming after
//! SIGKILL, and refusing to clobber another run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn occlude() -> Command {
    Command::new(env!("CARGO_BIN_EXE_occlude"))
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn occlude");
    assert!(
        out.status.success(),
        "occlude failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

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
