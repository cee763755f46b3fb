//! seed 003's recipes as chains train: KeepAutoAugment in AutoAugment's CIFAR setting
//! (policy → Cutout → paste back an important region of the original), its AA+Cutout
//! baseline, and chains around Selective-Cut, each for one step on the embedded
//! Fashion-MNIST subset (28 px, 20 images, batch 20).

use occlude::augment::spec::AugmentSpec;
use occlude::backend::CpuAutodiff;
use occlude::train::config::RunConfig;
use occlude::train::{train, TrainOptions};

fn one_step(method: &str, dir: &std::path::Path) -> occlude::report::Summary {
    let toml = format!(
        r#"
name = "chain"
seed = 5
epochs = 1
output_dir = "{}"
[data]
kind = "embedded"
train_per_class = 2
test_per_class = 1
[model]
arch = "resnet8"
[optimizer]
lr = 0.01
batch_size = 20
[augment]
method = "{method}"
"#,
        dir.display()
    );
    let cfg = RunConfig::from_toml_str(&toml, None).unwrap_or_else(|e| panic!("{method}: {e:#}"));
    let opts = TrainOptions { quiet: true, ..Default::default() };
    train::<CpuAutodiff>(&cfg, &Default::default(), &opts).unwrap_or_else(|e| panic!("{method}: {e:#}"))
}

#[test]
fn seed_003_chains_parse_print_back_and_train_one_step() {
    let dir = tempfile::tempdir().unwrap();
    for (k, method) in [
        // KeepAutoAugment in AutoAugment's CIFAR setting, and its baseline (Cutout-16 on
        // CIFAR; 14 = the default side at 28 px, written out here).
        "keep-autoaugment:policy=cifar10+cutout:n=1,s=14",
        "autoaugment:policy=cifar10+cutout:n=1,s=14",
        // The same, spelled out, with low-resolution saliency and batch statistics.
        "autoaugment:policy=cifar10+cutout+selective-paste:saliency=low-res,saliency_bn=batch",
        // A selective cut between the policy and the paste (one map serves both).
        "keep-randaugment:n=2,m=9+keep-cutout",
    ]
    .into_iter()
    .enumerate()
    {
        let spec = AugmentSpec::parse(method).unwrap();
        assert_eq!(AugmentSpec::parse(&spec.to_string()).unwrap(), spec, "{method} prints back");
        let summary = one_step(method, &dir.path().join(k.to_string()));
        assert_eq!(summary.augment, method);
        assert!(summary.test_loss.is_finite(), "{method}: test loss {}", summary.test_loss);
        assert_eq!(summary.eval_samples, 10);
    }
}
