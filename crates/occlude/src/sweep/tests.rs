use super::report::{mean_std, Status};
use super::*;
use crate::report::{write_summary, Summary};
use std::collections::{BTreeMap, HashMap};

const BASE: &str = r#"
    epochs = 3
    output_dir = "out"
    [data]
    kind = "embedded"
    [model]
    arch = "resnet20"
"#;

/// A 2 × 3 grid (a field axis and a variable axis), one baseline crossed with the
/// model axis, two seeds.
const SWEEP: &str = r#"
    name = "t"
    title = "Test table"
    base = "base.toml"
    output_dir = "sweeps/t"
    seeds = [0, 1]
    metrics = ["top1", "top5"]
    set = { "augment.method" = "hide-and-seek:g=4,p_keep_patch={p}", "augment.paradigm" = "joint" }

    [[axis]]
    key = "model.arch"
    name = "model"
    values = [{ "model.arch" = "resnet20", "$n" = 5 }, { "model.arch" = "resnet32", "optimizer.lr" = 0.01, "$n" = 7 }]
    labels = ["R20", "R32"]
    scale = { quick = [{ "model.arch" = "resnet8", "$n" = 5 }, { "model.arch" = "resnet8", "optimizer.lr" = 0.02, "$n" = 7 }] }

    [[axis]]
    var = "p"
    values = [0.9, 0.7, 0.5]

    [[baseline]]
    label = "no occlusion"
    set = { "augment.method" = "none", "data.train_per_class" = "{n}" }

    [table]
    columns = ["model"]
    [[plot]]
    x = "p"
    [scale.quick]
    seeds = [0, 1]
    set = { epochs = 1 }
    [scale.paper]
    set = { epochs = 5 }
"#;

fn setup(sweep_text: &str) -> (tempfile::TempDir, Sweep) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
    let path = dir.path().join("sweep.toml");
    std::fs::write(&path, sweep_text).unwrap();
    let sweep = Sweep::load(&path, "quick", None, "occlude sweep sweep.toml".into(), vec![]).unwrap();
    (dir, sweep)
}

fn summary(top1: f64, top5: f64) -> Summary {
    Summary {
        name: "x".into(),
        model: "resnet8".into(),
        dataset: "Embedded".into(),
        augment: "none".into(),
        paradigm: "standard".into(),
        epochs: 1,
        top1,
        top5,
        test_loss: 1.0,
        eval_samples: 10,
        wall_seconds: 2.0,
        images_per_second: 5.0,
        device: "cpu".into(),
        seed: 0,
        bad_images_skipped: 0,
        extra: BTreeMap::new(),
    }
}

/// Writes what the trainer writes, with top-1 chosen per run; fails the runs named
/// in `fail`.
#[derive(Default)]
struct FakeExecutor {
    calls: Vec<(String, bool)>,
    top1: HashMap<String, f64>,
    fail: Vec<String>,
}

impl Executor for FakeExecutor {
    fn train(&mut self, cfg: &RunConfig, resume: bool) -> Result<Summary> {
        let id = cfg.output_dir.file_name().unwrap().to_string_lossy().to_string();
        self.calls.push((id.clone(), resume));
        if self.fail.contains(&id) {
            anyhow::bail!("injected failure");
        }
        let paths = RunPaths::new(&cfg.output_dir);
        std::fs::create_dir_all(&paths.dir)?;
        std::fs::write(paths.config(), cfg.to_toml()?)?;
        let s = summary(self.top1.get(&id).copied().unwrap_or(0.5), 0.9);
        write_summary(&paths.summary(), &s)?;
        Ok(s)
    }
    fn eval_occluded(&mut self, _: &Path, _: &str, _: u64, _: usize) -> Result<(f64, f64)> {
        Ok((0.5, 0.9))
    }
}

#[test]
fn grid_expands_to_cells_times_seeds_with_baselines_first_and_builds_each_runs_config() {
    let (dir, sweep) = setup(SWEEP);
    let plan = sweep.plan().unwrap();
    // 2 baseline cells (crossed with the 2 models) + 2 × 3 grid cells.
    assert_eq!(plan.cells.len(), 8);
    assert_eq!(plan.points.len(), 16);
    let ids: Vec<&str> = plan.points.iter().take(3).map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["baseline-no-occlusion_model=R20_seed0", "baseline-no-occlusion_model=R32_seed0", "model=R20_p=0.9_seed0"]
    );
    assert!(plan.points[8..].iter().all(|p| p.seed == 1));
    let base = RunConfig::parse_file(&sweep.meta.base).unwrap();
    // Grid point model=R32, p=0.5 at the quick scale: the quick value of the axis.
    let p = plan.points.iter().find(|p| p.id == "model=R32_p=0.5_seed0").unwrap();
    let cfg = sweep.point_config(&base, &plan, p).unwrap();
    assert_eq!((cfg.model.arch.as_str(), cfg.optimizer.lr, cfg.epochs), ("resnet8", 0.02, 1));
    assert_eq!(
        (cfg.augment.method.as_str(), cfg.augment.paradigm.as_str()),
        ("hide-and-seek:g=4,p_keep_patch=0.5", "joint")
    );
    assert_eq!(cfg.output_dir, dir.path().join("sweeps/t/quick/runs/model=R32_p=0.5_seed0"));
    // The baseline overrides the method; `$n` of the axis table is a variable, which
    // keeps its type where a string is exactly `{n}`.
    let b = sweep.point_config(&base, &plan, &plan.points[1]).unwrap();
    assert_eq!((b.augment.method.as_str(), b.data.train_per_class, b.seed), ("none", Some(7), 0));
    assert_eq!(b.name, "t/baseline-no-occlusion_model=R32_seed0");
    // At the paper scale the axis keeps its own values.
    let paper = Sweep::load(&dir.path().join("sweep.toml"), "paper", None, String::new(), vec![]).unwrap();
    let cfg = paper.point_config(&base, &plan, p).unwrap();
    assert_eq!((cfg.model.arch.as_str(), cfg.epochs), ("resnet32", 5));
    // Excluded cells are not run.
    let (_, s) = setup(&SWEEP.replacen(
        "seeds = [0, 1]\n",
        "seeds = [0, 1]\nexclude = [{ model = \"R32\", p = [0.9, 0.7] }]\n",
        1,
    ));
    let plan = s.plan().unwrap();
    assert_eq!(plan.cells.len(), 6);
    assert!(plan.cells.iter().all(|c| c.id != "model=R32_p=0.9" && c.id != "model=R32_p=0.7"));
}

#[test]
fn resume_skips_finished_points_and_continues_interrupted_ones() {
    let (_dir, sweep) = setup(SWEEP);
    let mut exec = FakeExecutor::default();
    let first = run(&sweep, &mut exec, &Selection { limit: Some(3), only: vec![] }, true).unwrap();
    assert_eq!(first.trained.len(), 3);
    // An interrupted point: a checkpoint, no summary.
    let plan = sweep.plan().unwrap();
    let interrupted = sweep.run_dir(&plan.points[3]);
    std::fs::create_dir_all(&interrupted).unwrap();
    std::fs::write(RunPaths::new(&interrupted).checkpoint(), b"x").unwrap();
    let mut exec = FakeExecutor::default();
    let second = run(&sweep, &mut exec, &Selection::default(), true).unwrap();
    assert_eq!(second.skipped.len(), 3);
    assert_eq!(second.trained.len(), 13);
    assert_eq!(exec.calls.len(), 13, "finished points are not trained again");
    assert_eq!(exec.calls[0], (plan.points[3].id.clone(), true), "the interrupted point resumes");
    assert!(exec.calls[1..].iter().all(|(_, resume)| !resume));
    // A finished run whose configuration differs is not skipped.
    let mut c = sweep.clone();
    c.meta.overrides = vec!["optimizer.lr=0.003".into()];
    let mut exec = FakeExecutor::default();
    assert_eq!(run(&c, &mut exec, &Selection { limit: Some(1), only: vec![] }, true).unwrap().trained.len(), 1);
}

#[test]
fn report_aggregates_mean_and_sample_std_over_seeds_and_bolds_the_best() {
    let (_dir, sweep) = setup(&SWEEP.replace("seeds = [0, 1]\n    set", "seeds = [0, 1, 2]\n    set"));
    let mut exec = FakeExecutor::default();
    // Cell model=R20, p=0.9: top-1 70 %, 74 %, 72 % → mean 72.00, sample std 2.00.
    for (seed, v) in [(0, 0.70), (1, 0.74), (2, 0.72)] {
        exec.top1.insert(format!("model=R20_p=0.9_seed{seed}"), v);
    }
    // Cell model=R20, p=0.5: 80 % and 81 % → 80.50 ± 0.71 (√0.5 = 0.7071); its third
    // seed fails, so n=2.
    exec.top1.insert("model=R20_p=0.5_seed0".into(), 0.80);
    exec.top1.insert("model=R20_p=0.5_seed1".into(), 0.81);
    exec.fail.push("model=R20_p=0.5_seed2".into());
    let outcome = run(&sweep, &mut exec, &Selection::default(), true).unwrap();
    assert_eq!(outcome.failed.len(), 1);
    let md = std::fs::read_to_string(sweep.dir.join("report.md")).unwrap();
    assert!(md.contains("| 0.9 | 72.00 ± 2.00 | **90.00** ± 0.00 |"), "{md}");
    assert!(md.contains("| 0.5 | **80.50** ± 0.71 (n=2) | **90.00** ± 0.00 (n=2) |"), "{md}");
    assert!(md.contains("| no occlusion | 50.00 ± 0.00 |"), "{md}");
    assert!(md.contains("occlude sweep sweep.toml") && md.contains("## Failed runs"), "{md}");
    assert!(sweep.dir.join("plot-p-top1.png").exists());
    let csv = std::fs::read_to_string(sweep.dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 24);
    assert!(csv.lines().any(|l| l.starts_with("model=R20_p=0.9_seed1,,R20,0.9,1,finished,1,0.74,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("model=R20_p=0.5_seed2,") && l.contains(",failed,")), "{csv}");
    let s = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert!((s.mean - 2.5).abs() < 1e-12 && (s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    // The report is rebuilt from the directory alone.
    std::fs::remove_file(sweep.dir.join("report.md")).unwrap();
    let again = report::write(&Sweep::open(&sweep.dir).unwrap()).unwrap();
    assert_eq!(again, md);
}

#[test]
fn a_failing_point_is_recorded_and_the_sweep_goes_on() {
    let (_dir, sweep) = setup(SWEEP);
    let mut exec = FakeExecutor { fail: vec!["model=R20_p=0.7_seed0".into()], ..Default::default() };
    // A point whose configuration is invalid fails too, without stopping the others.
    let mut bad = sweep.clone();
    bad.cfg.axes[1].scale.insert("quick".into(), vec![0.9.into(), 0.7.into(), 7.into()]);
    let outcome = run(&bad, &mut exec, &Selection::default(), true).unwrap();
    let failed: Vec<&str> = outcome.failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        failed,
        [
            "model=R20_p=0.7_seed0",
            "model=R20_p=0.5_seed0",
            "model=R32_p=0.5_seed0",
            "model=R20_p=0.5_seed1",
            "model=R32_p=0.5_seed1"
        ]
    );
    assert_eq!(outcome.trained.len(), 16 - 5);
    let plan = bad.plan().unwrap();
    let results = report::collect(&bad, &plan);
    assert_eq!(results.iter().filter(|r| r.status == Status::Failed).count(), 5);
    let err = std::fs::read_to_string(bad.dir.join("runs/model=R20_p=0.7_seed0/error.txt")).unwrap();
    assert!(err.contains("injected failure"), "{err}");
    // Once it succeeds, the error file goes.
    let mut exec = FakeExecutor::default();
    run(&sweep, &mut exec, &Selection::default(), true).unwrap();
    assert!(!sweep.dir.join("runs/model=R20_p=0.7_seed0/error.txt").exists());
}

#[test]
fn bad_sweep_files_are_rejected_naming_the_field() {
    let err = |text: &str| format!("{:#}", SweepConfig::parse(text, Path::new("s.toml")).unwrap_err());
    let e = err(&SWEEP.replace("columns = [\"model\"]", "columns = [\"modle\"]"));
    assert!(e.contains("s.toml") && e.contains("table.columns") && e.contains("modle"), "{e}");
    let e = err(&SWEEP.replace("labels = [\"R20\", \"R32\"]", ""));
    assert!(e.contains("labels"), "{e}");
    let e = err(&SWEEP.replace("var = \"p\"", "key = \"seed\""));
    assert!(e.contains("seeds"), "{e}");
    let e = err(&SWEEP.replace("x = \"p\"", "x = \"p\"\nonly = { model = \"R64\" }"));
    assert!(e.contains("plot[0].only") && e.contains("R64"), "{e}");
    let (dir, _) = setup(SWEEP);
    let e =
        format!("{:#}", Sweep::load(&dir.path().join("sweep.toml"), "huge", None, String::new(), vec![]).unwrap_err());
    assert!(e.contains("scale.huge"), "{e}");
}

#[test]
fn stethoscope_lines_are_named_like_the_table_rows() {
    let text = SWEEP.replace("[table]\n", "[table]\n    grid_label = \"H&S joint\"\n").replace(
        "[[plot]]",
        "[stethoscope]\n    spec = \"hide-and-seek:g=4,p_keep_patch={level}\"\n    levels = [1.0, 0.5]\n    [[plot]]",
    );
    let (_dir, sweep) = setup(&text);
    run(&sweep, &mut FakeExecutor::default(), &Selection::default(), true).unwrap();
    let plan = sweep.plan().unwrap();
    let results = report::collect(&sweep, &plan);
    let (_, fig) = report_plots::stethoscope_figure(&sweep, &plan, &results).unwrap();
    let labels: Vec<&str> = fig.series.iter().map(|s| s.label.as_str()).collect();
    assert!(labels.contains(&"no occlusion (model=R20)"), "{labels:?}");
    assert!(labels.contains(&"H&S joint (model=R32, p=0.7)"), "{labels:?}");
    assert_eq!(labels.len(), 2 + 6, "{labels:?}");
    let pts = &fig.series[0].points;
    assert_eq!(pts.len(), 2);
    assert!((pts[0].1 - 50.0).abs() < 1e-9, "{pts:?}");
}
