//! The re-ID pieces that are not pure functions of their own module: the P×K sampler,
//! the network's last stride and BNNeck, initialisation from an ImageNet checkpoint,
//! and one step plus an evaluation of the task on a generated Market-1501 tree.

use super::sampler::IdentitySampler;
use super::*;
use crate::backend::{CpuAutodiff, CpuBackend};
use crate::models::{ResNetSpec, TapHook};
use std::collections::HashMap;

#[test]
fn the_sampler_yields_p_identities_times_k_images_the_same_number_every_epoch() {
    // 6 identities with 9, 4, 4, 2, 5, 8 images (identity 3 has fewer than K).
    let sizes = [9, 4, 4, 2, 5, 8];
    let labels: Vec<usize> = sizes.iter().enumerate().flat_map(|(id, &n)| std::iter::repeat_n(id, n)).collect();
    let (p, k) = (3, 4);
    let s = IdentitySampler::new(&labels, p, k, 7).unwrap();
    // Chunks: 2 + 1 + 1 + 1 + 1 + 2 = 8 → 8 / 3 = 2 batches.
    assert_eq!(s.batches_per_epoch(), 2);
    for epoch in 0..5 {
        let batches = s.epoch(epoch);
        assert_eq!(batches.len(), 2);
        for b in &batches {
            assert_eq!(b.len(), p * k);
            for chunk in b.chunks(k) {
                let id = labels[chunk[0]];
                assert!(chunk.iter().all(|&i| labels[i] == id), "a chunk is one identity: {b:?}");
            }
            let ids: std::collections::HashSet<usize> = b.iter().map(|&i| labels[i]).collect();
            assert_eq!(ids.len(), p, "P distinct identities: {b:?}");
        }
        assert_eq!(batches, s.epoch(epoch), "a function of (seed, epoch)");
    }
    assert_ne!(s.epoch(0), s.epoch(1));
    // The loader order numbers repeated draws of an image (identity 3 is oversampled).
    let order = s.order(0);
    assert_eq!(order.len(), 2 * p * k);
    for (pos, &(i, draw)) in order.iter().enumerate() {
        assert_eq!(draw, order[..pos].iter().filter(|e| e.0 == i).count());
    }
    assert!(IdentitySampler::new(&labels, 7, 4, 0).is_err(), "more identities per batch than exist");
}

struct Sizes(HashMap<String, [usize; 4]>);

impl<B: Backend> TapHook<B> for Sizes {
    fn tap(&mut self, name: &str, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.0.insert(name.to_string(), x.dims());
        x
    }
}

#[test]
fn last_stride_one_doubles_the_last_stage_resolution_and_the_bnneck_has_a_frozen_shift() {
    let device = Default::default();
    let x = Tensor::<CpuBackend, 4>::zeros([2, 3, 64, 32], &device);
    let mut out = Vec::new();
    for last_stride in [2, 1] {
        let spec = ResNetSpec { last_stride, ..ResNetSpec::imagenet(18) };
        let net = ReidNet::<CpuBackend>::new(&spec, 3, 5, &device);
        let mut sizes = Sizes(HashMap::new());
        let (f_t, logits) = net.forward(x.clone(), &mut Ctx::eval().with_hook(&mut sizes));
        assert_eq!((f_t.dims(), logits.dims()), ([2, 512], [2, 5]));
        out.push(sizes.0["layer4.1"]);
    }
    assert_eq!(out, [[2, 512, 2, 1], [2, 512, 4, 2]]);
    // The BNNeck's shift gets no gradient (frozen at 0), its scale does.
    let net = ReidNet::<CpuAutodiff>::new(&ResNetSpec::imagenet(18), 3, 5, &device);
    let xs = Tensor::<CpuAutodiff, 4>::ones([4, 3, 32, 16], &device);
    let (_, logits) = net.forward(xs, &mut Ctx::train());
    let grads = logits.powi_scalar(2).sum().backward();
    let names: Vec<String> = crate::models::params::named_tensors::<CpuAutodiff, _>(&net)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("neck.") || n.starts_with("classifier."))
        .collect();
    assert!(names.contains(&"classifier.weight".to_string()) && !names.iter().any(|n| n == "classifier.bias"));
    assert!(net.neck_params().0.grad(&grads).is_some());
    assert!(net.neck_params().1.grad(&grads).is_none());
}

#[test]
fn the_backbone_loads_from_an_imagenet_checkpoint_without_its_fc() {
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let imagenet = crate::models::ModelConfig::new("resnet18").init::<CpuBackend>(3, 1000, &device).unwrap();
    let tensors = crate::models::params::named_tensors::<CpuBackend, _>(&imagenet);
    let path = dir.path().join("imagenet.safetensors");
    crate::train::checkpoint::write(&path, &tensors, &[], &Default::default(), "").unwrap();
    let spec = ResNetSpec { last_stride: 1, ..ResNetSpec::imagenet(18) };
    let net = ReidNet::<CpuBackend>::new(&spec, 3, 5, &device).load_backbone(&path).unwrap();
    let loaded: HashMap<String, _> = crate::models::params::named_tensors::<CpuBackend, _>(&net).into_iter().collect();
    let want = tensors.iter().find(|(n, _)| n == "resnet.stages.3.1.conv2.weight").unwrap();
    assert_eq!(loaded["backbone.stages.3.1.conv2.weight"], want.1);
    // A checkpoint of another network is refused, naming a missing tensor.
    let small = crate::models::ModelConfig::new("resnet8").init::<CpuBackend>(3, 10, &device).unwrap();
    let other = dir.path().join("resnet8.safetensors");
    let t = crate::models::params::named_tensors::<CpuBackend, _>(&small);
    crate::train::checkpoint::write(&other, &t, &[], &Default::default(), "").unwrap();
    let e = format!("{:#}", ReidNet::<CpuBackend>::new(&spec, 3, 5, &device).load_backbone(&other).unwrap_err());
    assert!(e.contains("resnet8.safetensors") && e.contains("missing"), "{e}");
}
