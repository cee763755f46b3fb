use super::*;
use crate::augment::Targets;
use crate::backend::{CpuAutodiff, CpuBackend};
use crate::train::loss::cross_entropy;
use crate::train::sgd::{Sgd, SgdConfig};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, TensorData};
use std::collections::HashMap;

type A = CpuAutodiff;

/// Trainable parameters, counted from shapes without initialising the weights.
fn params(cfg: &ModelConfig, in_ch: usize, classes: usize) -> usize {
    let m = cfg.build::<CpuBackend>(in_ch, classes, &Default::default()).unwrap();
    params::trainable_param_count::<CpuBackend, _>(&m)
}

fn count(arch: &str, classes: usize) -> usize {
    params(&ModelConfig::new(arch), 3, classes)
}

#[test]
fn parameter_counts_match_published_figures() {
    // He et al. 2016 Table 6 (CIFAR-10): 0.27 M, 0.46 M, 0.66 M, 0.85 M, 1.7 M.
    for (arch, want) in
        [("resnet20", 0.27), ("resnet32", 0.46), ("resnet44", 0.66), ("resnet56", 0.85), ("resnet110", 1.7)]
    {
        let m = count(arch, 10) as f64 / 1e6;
        assert!((m - want).abs() / want < 0.03, "{arch}: {m} M");
    }
    // CIFAR ResNet-18 (kuangliu / Cutout code): 11,173,962 parameters exactly.
    assert_eq!(count("resnet18-cifar", 10), 11_173_962);
    // torchvision (1000 classes): resnet18, resnet50, alexnet, vgg11, vgg16, vgg16_bn.
    assert_eq!(count("resnet18", 1000), 11_689_512);
    assert_eq!(count("resnet50", 1000), 25_557_032);
    assert_eq!(count("alexnet", 1000), 61_100_840);
    assert_eq!(count("vgg11", 1000), 132_863_336);
    assert_eq!(count("vgg16", 1000), 138_357_544);
    assert_eq!(count("vgg16-bn", 1000), 138_365_992);
    // Zagoruyko & Komodakis (CIFAR-10): 36.5 M and 1.47 M; exact counts of their code.
    assert_eq!(count("wrn-28-10", 10), 36_479_194);
    assert_eq!(count("wrn-28-2", 10), 1_467_610);
    // Gastaldi 2017 Table 1: Shake-Shake 26 2×96d, 26.2 M.
    let ss = count("shake-shake-26-2x96d", 10) as f64 / 1e6;
    assert!((ss - 26.2).abs() < 0.05, "{ss} M");
    // Han et al. 2017 Table 4: PyramidNet-272 (α = 200, bottleneck) 26.0 M; the
    // AutoAugment paper lists the same network with ShakeDrop as 26.2 M.
    let pn = count("pyramidnet-272-a200", 10) as f64 / 1e6;
    assert!((26.0..26.25).contains(&pn), "{pn} M");
    // Regularisers have no parameters; the early head is a linear layer.
    let mut cfg = ModelConfig::new("resnet50");
    cfg.regularizer = Some("dropblock:p_keep=0.9,block=7".into());
    assert_eq!(params(&cfg, 3, 1000), 25_557_032);
    cfg.early_head = true;
    assert_eq!(params(&cfg, 3, 1000), 25_557_032 + 256 * 1000 + 1000);
}

/// The tiny variant of every architecture used by the step test.
fn tiny(arch: &str) -> ModelConfig {
    let mut cfg = ModelConfig::new(arch);
    cfg.early_head = true;
    if arch.starts_with("vgg") || arch == "alexnet" {
        cfg.classifier_pool = Some(1);
        cfg.classifier_width = Some(16);
    }
    if arch.starts_with("wrn") {
        cfg.dropout = Some(0.3);
    }
    if arch.starts_with("resnet") {
        cfg.regularizer = Some("dropblock:p_keep=0.8,block=3,schedule=linear".into());
    }
    cfg
}

const TINY: [&str; 7] =
    ["alexnet", "vgg11", "vgg16-bn", "wrn-10-1", "shake-shake-8-2x4d", "pyramidnet-11-a8", "resnet8"];

struct Record(Vec<(String, [usize; 4])>);
impl<B: Backend> TapHook<B> for Record {
    fn tap(&mut self, name: &str, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.0.push((name.to_string(), x.dims()));
        x
    }
}

#[test]
fn every_architecture_trains_a_step_on_one_channel_28px_images() {
    let device = Default::default();
    for arch in TINY {
        let model = tiny(arch).init::<A>(1, 10, &device).unwrap();
        assert_eq!((model.input_channels(), model.num_classes(), model.has_early_head()), (1, 10, true), "{arch}");
        let x = Tensor::<A, 4>::random([2, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        let y = Targets::Hard(Tensor::<A, 1, Int>::from_data(TensorData::new(vec![3i64, 7], [2]), &device));
        let before = params::named_tensors::<CpuBackend, _>(&model.valid());
        let mut ctx = Ctx::train_at(1, 5, 10).with_early_head(true);
        let (logits, early) = model.forward_with(x.clone(), &mut ctx);
        assert_eq!(logits.dims(), [2, 10], "{arch}");
        let loss = cross_entropy(logits, &y, 0.1) + cross_entropy(early.unwrap(), &y, 0.1).mul_scalar(0.3);
        let l: f32 = loss.clone().into_scalar();
        assert!(l.is_finite(), "{arch}: loss {l}");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut sgd = Sgd::<A>::new(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 5e-4 });
        let model = sgd.step(0.01, model, grads);
        let after = params::named_tensors::<CpuBackend, _>(&model.valid());
        let changed = before.iter().zip(&after).filter(|(a, b)| a.1 != b.1).count();
        assert!(changed * 2 > before.len(), "{arch}: only {changed} of {} tensors moved", before.len());

        // Evaluation: deterministic, early head alone, every tap seen in order.
        let mut rec = Record(vec![]);
        let e1 = model.forward_with(x.clone(), &mut Ctx::eval().with_hook(&mut rec)).0;
        let seen: Vec<_> = rec.0.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(seen, model.tap_names(), "{arch}");
        let e2 = model.forward(x.clone(), false);
        assert_eq!(e1.into_data(), e2.into_data(), "{arch}");
        assert_eq!(model.forward_early(x, &mut Ctx::eval()).unwrap().dims(), [2, 10], "{arch}");
    }
}

#[test]
fn taps_of_alexnet_and_vgg_are_post_relu_block_ends() {
    let device = Default::default();
    for (arch, last) in [("alexnet", [1, 256, 2, 2]), ("vgg16-bn", [1, 512, 1, 1])] {
        let m = tiny(arch).init::<CpuBackend>(1, 10, &device).unwrap();
        assert_eq!(m.tap_names(), ["conv1", "conv2", "conv3", "conv4", "conv5"]);
        struct MinOf(Vec<f32>);
        impl TapHook<CpuBackend> for MinOf {
            fn tap(&mut self, _: &str, x: Tensor<CpuBackend, 4>) -> Tensor<CpuBackend, 4> {
                self.0.push(x.clone().min().into_scalar());
                x
            }
        }
        let mut rec = Record(vec![]);
        let x = Tensor::<CpuBackend, 4>::random([1, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        m.forward_with(x.clone(), &mut Ctx::eval().with_hook(&mut rec));
        assert_eq!(rec.0.last().unwrap().1, last, "{arch}");
        // VGG16 at 28 px: blocks at 28, 14, 7, 3, 1 (pre-pooling sizes).
        if arch == "vgg16-bn" {
            let sides: Vec<_> = rec.0.iter().map(|(_, d)| d[2]).collect();
            assert_eq!(sides, [28, 14, 7, 3, 1]);
        }
        let mut mins = MinOf(vec![]);
        m.forward_with(x, &mut Ctx::eval().with_hook(&mut mins));
        assert!(mins.0.iter().all(|&v| v >= 0.0), "{arch}: taps are post-ReLU {:?}", mins.0);
    }
}

#[test]
fn gradxact_saliency_runs_at_vgg_conv4() {
    use crate::saliency::{compute_host, SaliencyMethod, Target};
    let device = Default::default();
    let model = tiny("vgg16").init::<A>(3, 10, &device).unwrap();
    let method = SaliencyMethod::parse("gradxact:conv4").unwrap();
    let x = Tensor::<A, 4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let maps = compute_host(&model, x, Target::Label(Tensor::from_ints([1, 2], &device)), &method).unwrap();
    assert_eq!(maps.map(0).len(), 32 * 32);
    assert!(maps.map(1).iter().any(|&v| v > 0.0));
    let e = SaliencyMethod::parse("gradxact:conv6").unwrap().check(&model).unwrap_err().to_string();
    assert!(e.contains("conv5"), "{e}");
}

/// Activations at every tap of a training-mode pass.
fn tap_values<B: Backend>(m: &Network<B>, x: Tensor<B, 4>) -> Vec<(String, TensorData)> {
    struct Values<B: Backend>(Vec<(String, TensorData)>, std::marker::PhantomData<B>);
    impl<B: Backend> TapHook<B> for Values<B> {
        fn tap(&mut self, name: &str, x: Tensor<B, 4>) -> Tensor<B, 4> {
            self.0.push((name.to_string(), x.clone().into_data()));
            x
        }
    }
    let mut v = Values(vec![], std::marker::PhantomData);
    m.forward_with(x, &mut Ctx::train_at(4, 2, 10).with_hook(&mut v));
    v.0
}

/// ResNet-50's layout (ImageNet stem, four stages of bottlenecks, projection
/// shortcuts) at a width and depth a test can afford: stages of 1, 1, 2, 1 blocks.
fn mini_resnet50(regularizer: Option<&str>, weights: Option<&HashMap<String, TensorData>>) -> Network<CpuBackend> {
    let spec =
        ResNetSpec { stage_channels: vec![4, 8, 8, 8], blocks_per_stage: vec![1, 1, 2, 1], ..ResNetSpec::imagenet(50) };
    let reg = regularizer.map(|r| Regularizer::parse(r).unwrap());
    let m = Network::resnet(ResNet::new(&spec, 1, 10, false, reg.as_ref(), &Default::default()));
    match weights {
        Some(w) => params::load_named(m, w.clone()).unwrap(),
        None => m,
    }
}

#[test]
fn regularisers_sit_after_every_convolution_of_the_last_two_stages() {
    let device = Default::default();
    let plain = mini_resnet50(None, None);
    params::materialize::<CpuBackend, _>(&plain);
    let weights: HashMap<_, _> = params::named_tensors::<CpuBackend, _>(&plain).into_iter().collect();
    let x = Tensor::<CpuBackend, 4>::random([2, 1, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let reference = tap_values(&plain, x.clone());
    for spec in ["dropout:p_keep=0.5", "spatial-dropout:p_keep=0.5", "dropblock:p_keep=0.5,block=7"] {
        let taps = tap_values(&mini_resnet50(Some(spec), Some(&weights)), x.clone());
        let differs = |name: &str| {
            let i = taps.iter().position(|(n, _)| n == name).unwrap();
            taps[i].1 != reference[i].1
        };
        // Stages 1–2 and the first convolution of stage 3 see unregularised inputs.
        for name in ["stem", "layer1.0", "layer2.0", "layer3.0.conv1"] {
            assert!(!differs(name), "{spec}: {name} changed");
        }
        // After bn1+ReLU and bn2+ReLU of stage 3's first block, and in stage 4.
        for name in ["layer3.0.conv2", "layer3.0.conv3", "layer3.0", "layer3.1.conv1", "layer4.0.conv1", "layer4.0"] {
            assert!(differs(name), "{spec}: {name} unchanged");
        }
        // Identity in evaluation (fresh copies: the passes above moved running statistics).
        let (reg, plain) = (mini_resnet50(Some(spec), Some(&weights)), mini_resnet50(None, Some(&weights)));
        assert_eq!(reg.forward(x.clone(), false).into_data(), plain.forward(x.clone(), false).into_data());
    }
}

#[test]
fn dropblock_also_drops_on_the_shortcuts() {
    // Draw sites of one training pass: one per convolution of the last two stages'
    // bottlenecks (3 each), plus one per shortcut for DropBlock.
    let device = Default::default();
    let x = Tensor::<CpuBackend, 4>::random([1, 1, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let sites = |m: &Network<CpuBackend>, mut ctx: Ctx<CpuBackend>| {
        m.forward_with(x.clone(), &mut ctx);
        ctx.draws()
    };
    for (spec, n) in [("dropout:p_keep=0.9", 9), ("spatial-dropout:p_keep=0.9", 9), ("dropblock:p_keep=0.9", 12)] {
        let m = mini_resnet50(Some(spec), None);
        assert_eq!((sites(&m, Ctx::train()), sites(&m, Ctx::eval())), (n, 0), "{spec}");
    }
    // ResNet-50 itself: 6 + 3 bottlenecks in stages 3 and 4.
    let mut cfg = ModelConfig::new("resnet50");
    cfg.regularizer = Some("dropblock:p_keep=0.9".into());
    assert_eq!(sites(&cfg.init::<CpuBackend>(1, 10, &device).unwrap(), Ctx::train()), 36);
}

#[test]
fn configuration_errors_name_the_field() {
    let with = |arch: &str, f: &dyn Fn(&mut ModelConfig)| {
        let mut c = ModelConfig::new(arch);
        f(&mut c);
        c.validate().map(|_| ()).map_err(|e| e.to_string())
    };
    type Case<'a> = (&'a str, &'a dyn Fn(&mut ModelConfig), &'a str);
    let cases: [Case; 6] = [
        ("resnet21", &|_| {}, "model.arch"),
        ("wrn-28-10", &|c| c.regularizer = Some("dropout:p_keep=0.9".into()), "model.regularizer"),
        ("resnet50", &|c| c.regularizer = Some("dropout:p_keep=2".into()), "model.regularizer"),
        ("resnet50", &|c| c.dropout = Some(0.3), "model.dropout"),
        ("wrn-28-10", &|c| c.dropout = Some(1.0), "model.dropout"),
        ("vgg16", &|c| c.classifier_pool = Some(0), "model.classifier_pool"),
    ];
    for (arch, f, field) in cases {
        let e = with(arch, f).unwrap_err();
        assert!(e.contains(field), "{arch}: {e}");
    }
    assert!(with("wrn-28-10", &|c| c.classifier_width = Some(8)).unwrap_err().contains("model.classifier_width"));
    // Unset options stay out of saved configurations.
    assert_eq!(toml::to_string(&ModelConfig::new("resnet20")).unwrap(), "arch = \"resnet20\"\nearly_head = false\n");
}

#[test]
fn tensor_paths_of_resnets_are_unchanged_and_others_are_prefixed() {
    let paths = |arch: &str| -> Vec<String> {
        let m = ModelConfig::new(arch).build::<CpuBackend>(3, 10, &Default::default()).unwrap();
        params::named_shapes::<CpuBackend, _>(&m).into_iter().map(|(p, _)| p).collect()
    };
    let r = paths("resnet20");
    assert!(r.contains(&"resnet.stages.0.1.conv1.weight".to_string()) && r.contains(&"resnet.fc.bias".to_string()));
    assert!(paths("wrn-10-1").iter().all(|p| p.starts_with("wrn.")));
    assert!(paths("vgg16-bn").contains(&"vgg.bns.12.running_var".to_string()));
    assert!(paths("pyramidnet-11-a8").iter().all(|p| p.starts_with("pyramidnet.")));
    assert!(paths("shake-shake-8-2x4d").contains(&"shake_shake.stages.0.0.skip.conv2.weight".to_string()));
}

#[test]
fn catalog_lists_every_architecture_with_count_and_taps() {
    let rows = catalog().unwrap();
    assert_eq!(rows.len(), ARCHITECTURES.len());
    let vgg = rows.iter().find(|r| r.name == "vgg16").unwrap();
    assert_eq!((vgg.params, vgg.classes), (138_357_544, 1000));
    assert_eq!(arch::summarize_taps(&vgg.taps), "conv{1..5}");
    let r50 = rows.iter().find(|r| r.name == "resnet50").unwrap();
    assert_eq!(arch::summarize_taps(&r50.taps), "stem, maxpool, layer{1..4}.{0..5}.conv{1..3}, layer{1..4}.{0..5}");
}
