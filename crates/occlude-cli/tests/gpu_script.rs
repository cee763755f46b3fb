//! bench/gpu.sh, the one-call GPU measurement script, on its CPU path: every step runs
//! and writes its figures, so the script is known to work before a GPU is lent.

use std::path::Path;
use std::process::Command;

#[test]
fn gpu_script_cpu_path_writes_every_figure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(root.join("bench/gpu.sh"))
        .arg(out.path())
        .args(["--backend", "flex", "--quick", "--bin", env!("CARGO_BIN_EXE_occlude")])
        .current_dir(&root)
        .status()
        .expect("bash runs");
    let log = std::fs::read_to_string(out.path().join("log.txt")).unwrap_or_default();
    assert!(status.success(), "bench/gpu.sh failed:\n{log}");
    let lines = |f: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(out.path().join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}\n{log}"))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{f}: {l:?}: {e}")))
            .collect()
    };
    let steps = lines("train-step.jsonl");
    let saliency: Vec<&str> = steps.iter().map(|v| v["saliency"].as_str().unwrap()).collect();
    assert_eq!(saliency, ["none", "vanilla", "low-res", "early-loss"]);
    assert!(steps.iter().all(|v| v["images_per_second"].as_f64().unwrap() > 0.0));
    let epochs = lines("epoch.jsonl");
    assert!(epochs.len() >= 4, "{epochs:?}");
    assert!(epochs[0]["augment"].as_str().unwrap().starts_with("cutout"));
    assert!(out.path().join("device.txt").exists());
    assert!(!out.path().join("data").exists(), "the generated data is removed");
}
