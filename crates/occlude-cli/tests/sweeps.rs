//! The shipped sweeps (configs/experiments/seed*.toml, and fmnist*.toml: the
//! Fashion-MNIST analogues whose results are committed in docs/results/): each parses at both scales
//! (every point's run configuration validates), and at the quick scale its first
//! point and its first grid point train one step on ten images, with the report
//! written and rebuilt by `occlude report`; run again, the finished points are skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::run_ok;

/// One sweep per table or figure of the seeds the project reproduces.
const SWEEPS: &[&str] = &[
    "seed000-table1",
    "seed000-table2",
    "seed000-table3",
    "seed000-table4",
    "seed000-table5",
    "seed000-table6",
    "seed000-table7",
    "seed000-table8",
    "seed000-fig5",
    "seed003-table1-cutout",
    "seed003-table1-autoaugment",
    "seed003-table2",
    "seed003-table3",
    "seed003-table4-cutmix",
    "seed003-table6",
    "seed003-fig2a",
    "seed003-fig2b",
    "seed003-fig3",
    "seed003-table9-uda",
    "fmnist-hide-and-seek",
    "fmnist-keepcutout",
    "fmnist-keepautoaugment",
    "fmnist-tau",
];

fn occlude() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_occlude"));
    c.current_dir(repo());
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn point_ids(file: &str, scale: &str) -> Vec<String> {
    let out = run_ok(occlude().args(["sweep", file, "--dry-run", "--scale", scale]));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').next().unwrap().to_string()).collect()
}

#[test]
fn every_shipped_sweep_parses_at_both_scales_and_its_first_points_train_one_step() {
    let tmp = tempfile::tempdir().unwrap();
    let shipped: Vec<String> = std::fs::read_dir(repo().join("configs/experiments"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| (n.starts_with("seed") || n.starts_with("fmnist")) && n.ends_with(".toml"))
        .collect();
    assert_eq!(shipped.len(), SWEEPS.len(), "{shipped:?}");
    for name in SWEEPS {
        let file = format!("configs/experiments/{name}.toml");
        let paper = point_ids(&file, "paper");
        let quick = point_ids(&file, "quick");
        assert!(!quick.is_empty(), "{name}");
        // The same grid at both scales: the same cells (paper has more seeds at most).
        let cells = |ids: &[String]| -> std::collections::BTreeSet<String> {
            ids.iter().map(|i| i.rsplit_once("_seed").unwrap().0.to_string()).collect()
        };
        assert_eq!(cells(&quick), cells(&paper), "{name}");
        let first_grid = quick.iter().find(|i| !i.starts_with("baseline-")).unwrap();
        let out = tmp.path().join(name);
        let mut cmd = occlude();
        cmd.args(["sweep", &file, "--scale", "quick", "-q", "--out"]).arg(&out);
        for id in [&quick[0], first_grid] {
            cmd.args(["--only", id]);
        }
        // One step on ten images: the smoke test, not the experiment.
        for set in ["epochs=1", "data.train_per_class=1", "data.test_per_class=1", "optimizer.batch_size=16"] {
            cmd.args(["--set", set]);
        }
        if *name == "seed003-table9-uda" {
            // Its quick scale reads the real Fashion-MNIST; the smoke test uses the
            // embedded subset, with enough images to leave some unlabelled.
            for set in [
                "data.kind=\"embedded\"",
                "data.train_per_class=3",
                "semi_supervised.labels=10",
                "semi_supervised.steps_per_epoch=1",
            ] {
                cmd.args(["--set", set]);
            }
        }
        run_ok(&mut cmd);
        if *name == SWEEPS[0] {
            // Run again: the real trainer's run directories count as finished.
            let again = run_ok(&mut cmd);
            let err = String::from_utf8_lossy(&again.stderr);
            assert!(err.contains("0 trained, 2 already finished, 0 failed"), "{err}");
        }
        for id in [&quick[0], first_grid] {
            let summary = out.join("runs").join(id).join("summary.json");
            let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
            assert_eq!(s["epochs"], 1, "{name} {id}");
        }
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        let finished = if quick[0] == *first_grid { 1 } else { 2 };
        assert!(report.contains(&format!("Runs: {finished} finished")), "{name}: {report}");
        assert!(out.join("results.csv").exists());
        if *name == "fmnist-tau" {
            // Every axis is a column: the grid's row takes [table] grid_label.
            assert!(report.contains("| KeepCutout (low-res, s = 14) |"), "{report}");
        }
    }
    // `occlude report` rebuilds the report from the directory alone.
    let dir = tmp.path().join(SWEEPS[0]);
    std::fs::remove_file(dir.join("report.md")).unwrap();
    let out = run_ok(occlude().args(["report", "--print"]).arg(&dir));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("| baseline (w/o joint) |") && dir.join("report.md").exists(), "{md}");
    assert!(dir.join("stethoscope.png").exists());
}
