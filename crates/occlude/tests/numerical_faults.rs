//! A diverging run stops with a message naming the step and keeps the last good
//! checkpoint intact (issue: numerical faults).

use occlude::backend::CpuAutodiff;
use occlude::train::checkpoint;
use occlude::train::config::{RunConfig, ScheduleConfig};
use occlude::train::{train, TrainOptions};

#[test]
fn a_diverging_run_names_the_step_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // One sane epoch, then the step schedule multiplies the learning rate by 1e12.
    // (Validation rejects gamma > 1, which is the point: the library is called
    // directly to force a divergence at a known epoch.)
    let toml = format!(
        r#"
name = "diverge"
seed = 3
epochs = 2
output_dir = "{}"
[data]
kind = "embedded"
train_per_class = 8
test_per_class = 2
[model]
arch = "resnet8"
[optimizer]
lr = 0.01
batch_size = 16
[train]
checkpoint_every_steps = 1
"#,
        dir.path().join("run").display()
    );
    let mut cfg = RunConfig::from_toml_str(&toml, None).unwrap();
    cfg.schedule = ScheduleConfig::Step { milestones: vec![1], gamma: 1e12, warmup_epochs: 0.0 };
    let opts = TrainOptions { quiet: true, ..Default::default() };
    let err = format!("{:#}", train::<CpuAutodiff>(&cfg, &Default::default(), &opts).unwrap_err());
    assert!(err.contains("step"), "{err}");
    assert!(err.contains("non-finite") || err.contains("diverged"), "{err}");
    assert!(err.contains("checkpoint"), "{err}");

    let ck = checkpoint::load(&dir.path().join("run").join("checkpoint.safetensors")).unwrap();
    assert!(ck.state.step >= 5, "the first epoch's 5 steps were checkpointed, got step {}", ck.state.step);
    for (name, data) in &ck.model {
        let v = data.to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{name} holds non-finite values in the kept checkpoint");
    }
}
