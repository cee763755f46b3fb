//! Re-identification end to end (seed 003 §4.4): a generated Market-1501 tree
//! (`occlude data synth-market1501`), `occlude train` with a `[reid]` section, and the
//! rank-1 / mAP it reports in the summary and in `metrics.jsonl`.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{occlude, run_err, run_ok};

/// P = 4 identities × K = 4 images of 64×32, ResNet-18 with last stride 1, Adam.
fn config(dir: &Path, method: &str) -> std::path::PathBuf {
    config_with(dir, method, "epochs = 1\n", "")
}

/// [`config`] with other top-level fields and `[train]` lines.
fn config_with(dir: &Path, method: &str, top: &str, train: &str) -> std::path::PathBuf {
    let text = format!(
        "name = \"tiny-reid\"\nseed = 1\n{top}output_dir = \"out\"\n\
         [data]\nkind = \"market1501\"\npath = \"data\"\n[model]\narch = \"resnet18\"\n\
         [reid]\np = 4\nk = 4\ninput_size = [64, 32]\npad = 4\n\
         [optimizer]\nkind = \"adam\"\nlr = 3.5e-4\nweight_decay = 5e-4\nbatch_size = 16\n\
         [schedule]\nkind = \"step\"\nmilestones = [1]\nwarmup_epochs = 0.5\n\
         [augment]\nmethod = \"{method}\"\n[loader]\nworkers = 2\n[train]\nlabel_smoothing = 0.1\n{train}"
    );
    let path = dir.join("reid.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `occlude data synth-market1501`: 8 training and 4 test identities, 3 cameras.
fn synth(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let args = ["synth-market1501", "--train-ids", "8", "--test-ids", "4", "--height", "64", "--width", "32"];
    run_ok(occlude().arg("data").args(args).arg("--out").arg(&data));
    data
}

#[test]
fn train_on_a_generated_market1501_tree_reports_rank1_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    for split in ["bounding_box_train", "query", "bounding_box_test"] {
        assert!(std::fs::read_dir(data.join(split)).unwrap().count() > 0, "{split}");
    }
    // The baseline's Random Erasing and seed 003's selective version (a saliency pass
    // per step through the BNNeck classifier).
    for (method, out) in
        [("random-erasing:p=0.5", "re"), ("keep-random-erasing:p=0.5,tau=0.6,saliency=low-res", "keep-re")]
    {
        let cfg = config(dir.path(), method);
        let run_dir = dir.path().join(out);
        let o = run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&run_dir));
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let extra = &summary["extra"];
        for key in ["rank1", "rank5", "rank10", "map", "id_loss", "triplet_loss"] {
            assert!(extra[key].as_f64().is_some_and(f64::is_finite), "{method}: {key} in {summary}");
        }
        let (r1, r5, r10, map) = (
            extra["rank1"].as_f64().unwrap(),
            extra["rank5"].as_f64().unwrap(),
            extra["rank10"].as_f64().unwrap(),
            extra["map"].as_f64().unwrap(),
        );
        assert!(0.0 <= r1 && r1 <= r5 && r5 <= r10 && r10 <= 1.0 && map > 0.0 && map <= 1.0, "{summary}");
        assert_eq!(summary["top1"].as_f64(), Some(r1), "rank-1 is the headline top-1");
        assert!(summary["test_loss"].is_null(), "no evaluation loss: {summary}");
        // 4 test identities × 3 cameras: one query each, two gallery images each, and
        // 8 distractors (junk boxes dropped).
        assert_eq!(summary["eval_samples"], 12 + 24 + 8);
        let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
        let line: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
        assert_eq!(line["extra"]["map"].as_f64(), Some(map), "{line}");
        let ck = occlude::train::checkpoint::load(&run_dir.join("checkpoint.safetensors")).unwrap();
        assert!(ck.model.contains_key("neck.gamma") && ck.model.contains_key("classifier.weight"));
        assert!(ck.momentum.iter().any(|(k, _)| k == "adam.t"), "Adam's state is checkpointed");
        // `occlude eval` of the checkpoint ranks exactly as the run's last evaluation.
        let checkpoint = run_dir.join("checkpoint.safetensors");
        let o = run_ok(occlude().arg("eval").arg("--checkpoint").arg(&checkpoint).args(["--batch-size", "16"]));
        let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for key in ["rank1", "rank5", "rank10", "map"] {
            assert_eq!(e[key].as_f64(), extra[key].as_f64(), "{key}: {e} vs {summary}");
        }
        assert_eq!(e["samples"], 12 + 24 + 8);
        let err = run_err(occlude().arg("eval").arg("--checkpoint").arg(&checkpoint).args(["--occlude", "cutout:s=8"]));
        assert!(err.contains("re-ID checkpoint"), "{err}");
        // `occlude export`: the backbone under torchvision's names, bit for bit.
        let out = dir.path().join(format!("{out}-backbone.safetensors"));
        let o = run_ok(occlude().arg("export").arg(&checkpoint).arg(&out));
        assert!(String::from_utf8_lossy(&o.stderr).contains("last stride 1"));
        let tv = occlude::models::torchvision::read_safetensors(&out).unwrap();
        // Every name of torchvision's resnet18 with its shape (the committed list), fc aside.
        let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("../occlude/src/models/torchvision_resnet_keys.txt");
        let want: Vec<String> = std::fs::read_to_string(list)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("resnet18 "))
            .filter(|l| !l.starts_with("fc.") && !l.contains("num_batches_tracked")) // read_safetensors skips those
            .map(String::from)
            .collect();
        let got: Vec<String> = tv
            .iter()
            .map(|(k, t)| {
                let dims: Vec<String> = t.shape.as_slice().iter().map(|d| d.to_string()).collect();
                format!("{k} {}", dims.join("x"))
            })
            .collect();
        let (mut want, mut got) = (want, got);
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(tv["layer4.1.conv2.weight"], ck.model["backbone.stages.3.1.conv2.weight"]);
    }
}

#[test]
fn a_reid_config_with_a_wrong_batch_size_or_dataset_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "none");
    for (set, field) in [("optimizer.batch_size=32", "optimizer.batch_size"), ("data.kind=\"cifar10\"", "data.kind")] {
        let out = occlude().args(["train", "-q", "--set", set, "--config"]).arg(&cfg).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(field), "{set}: {err}");
    }
}

#[test]
fn a_killed_reid_run_resumes_to_the_uninterrupted_result() {
    // Adam's moments, the P×K sampler's order and the saliency-guided erasing all
    // come back from the checkpoint: the resumed run's metrics equal the reference's.
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path());
    let method = "keep-random-erasing:p=0.5,tau=0.6,saliency=low-res";
    let cfg = config_with(dir.path(), method, "epochs = 2\n", "checkpoint_every_steps = 1\nlog_every_steps = 1\n");
    let reference = dir.path().join("reference");
    run_ok(occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&reference));
    let killed = dir.path().join("killed");
    let mut child = occlude().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&killed).spawn().unwrap();
    let start = Instant::now();
    while !killed.join("checkpoint.safetensors").exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join("summary.json").exists(), "the run finished before it could be killed");
    run_ok(occlude().args(["train", "-q", "--resume", "--config"]).arg(&cfg).arg("--out").arg(&killed));
    let metrics = |d: &Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                for k in ["train_seconds", "images_per_second"] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            })
            .collect()
    };
    let (a, b) = (metrics(&killed), metrics(&reference));
    assert_eq!(a.len(), 2);
    assert_eq!(a, b, "a resumed re-ID run must reproduce the uninterrupted one");
}

#[test]
fn the_shipped_config_is_seed_003_table_10s_setting() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/market1501-reid.toml");
    let c = occlude::train::RunConfig::parse_file(&path).unwrap();
    let r = c.reid.clone().expect("a [reid] section");
    assert_eq!((r.p, r.k, r.margin, r.input_size, r.pad, r.last_stride), (16, 4, 0.3, [256, 128], 10, 1));
    assert_eq!((c.model.arch.as_str(), c.epochs, c.optimizer.batch_size), ("resnet101", 120, 64));
    assert_eq!(
        (c.optimizer.kind, c.optimizer.lr, c.optimizer.weight_decay),
        (occlude::train::config::OptimizerKind::Adam, 3.5e-4, 5e-4)
    );
    assert_eq!(
        c.schedule,
        occlude::train::config::ScheduleConfig::Step { milestones: vec![40, 70], gamma: 0.1, warmup_epochs: 10.0 }
    );
    assert_eq!((c.augment.method.as_str(), c.train.label_smoothing), ("random-erasing:p=0.5", 0.1));
    // The seed's variant, as the config's comment writes it.
    let keep =
        c.with_overrides(&["augment.method=\"keep-random-erasing:p=0.5,tau=0.6,saliency=low-res\"".into()]).unwrap();
    keep.validate().unwrap();
}
