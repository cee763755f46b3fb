//! Saliency checks: every one compares against an independent computation (finite
//! differences, a hand-made product from captured tensors, host-side resampling
//! references) and can fail.

use super::*;
use crate::backend::{CpuAutodiff, CpuBackend};
use crate::models::params::{load_named, named_tensors};
use crate::models::ModelConfig;
use burn::module::{ModuleMapper, Param};
use burn::tensor::{DType, Distribution, TensorData};
use std::collections::HashMap;

pub(super) type I = CpuBackend;
pub(super) type A = CpuAutodiff;

/// A resnet8 (early head on) whose batch-norm running statistics are not the initial
/// 0 and 1: a few training-mode passes on random batches move them.
pub(super) fn tiny_model(channels: usize, classes: usize, seed: u64) -> Network<I> {
    let device = Default::default();
    I::seed(&device, seed);
    let mut cfg = ModelConfig::new("resnet8");
    cfg.early_head = true;
    let model = cfg.init::<I>(channels, classes, &device).unwrap();
    for _ in 0..3 {
        let x = Tensor::<I, 4>::random([8, channels, 12, 12], Distribution::Normal(0.5, 2.0), &device);
        model.forward(x, true);
    }
    // Re-read through named tensors: synchronised running statistics, fresh cells.
    let fresh = cfg.init::<I>(channels, classes, &device).unwrap();
    load_named(fresh, named_tensors::<I, _>(&model).into_iter().collect()).unwrap()
}

struct CastF64;
impl ModuleMapper<I> for CastF64 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<I, D>>) -> Param<Tensor<I, D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.cast(DType::F64), mapper)
    }
}

pub(super) fn to_f64(model: Network<I>) -> Network<I> {
    model.map(&mut CastF64)
}

pub(super) fn host(t: Tensor<I, 3>) -> Vec<f64> {
    t.into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

fn host4(t: Tensor<I, 4>) -> Vec<f64> {
    t.into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

pub(super) fn labels<B: Backend>(v: &[i64]) -> Tensor<B, 1, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
}

pub(super) fn images_f64(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Tensor<I, 4> {
    let device = Default::default();
    I::seed(&device, seed);
    Tensor::<I, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device).cast(DType::F64)
}

pub(super) fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den.max(f64::MIN_POSITIVE)
}

/// Central differences of `f(x)[n, y_n]` with respect to every input value, all
/// perturbed images evaluated in one batch (evaluation mode: images do not interact),
/// reduced like the vanilla saliency: `max_c |·|`.
fn fd_saliency(f: impl Fn(Tensor<I, 4>) -> Tensor<I, 2>, x: &Tensor<I, 4>, y: &[i64], eps: f64) -> Vec<f64> {
    let [n, c, h, w] = x.dims();
    let base = host4(x.clone());
    let per = c * h * w;
    let mut batch = Vec::with_capacity(n * per * 2 * per);
    for img in 0..n {
        for i in 0..per {
            for sign in [1.0, -1.0] {
                let mut v = base[img * per..(img + 1) * per].to_vec();
                v[i] += sign * eps;
                batch.extend(v);
            }
        }
    }
    let xs =
        Tensor::<I, 4>::from_data(TensorData::new(batch, [n * per * 2, c, h, w]), (&Default::default(), DType::F64));
    let logits = f(xs).into_data().convert::<f64>().into_vec::<f64>().unwrap();
    let k = logits.len() / (n * per * 2);
    let mut sal = vec![0.0f64; n * h * w];
    for img in 0..n {
        for i in 0..per {
            let row = (img * per + i) * 2;
            let g = (logits[row * k + y[img] as usize] - logits[(row + 1) * k + y[img] as usize]) / (2.0 * eps);
            let p = i % (h * w);
            sal[img * h * w + p] = sal[img * h * w + p].max(g.abs());
        }
    }
    sal
}

#[test]
fn method_strings_parse_and_print() {
    for s in ["vanilla", "gradxact:layer3.0.conv1", "low-res", "early-loss", "gradxact:stem"] {
        assert_eq!(SaliencyMethod::parse(s).unwrap().to_string(), s);
    }
    assert_eq!(
        " gradxact : layer1.0 ".parse::<SaliencyMethod>().unwrap(),
        SaliencyMethod::GradXAct { layer: "layer1.0".into() }
    );
    let e = SaliencyMethod::parse("gradxact").unwrap_err().to_string();
    assert!(e.contains("name the layer"), "{e}");
    let e = SaliencyMethod::parse("gradcam").unwrap_err().to_string();
    assert!(e.contains("vanilla") && e.contains("early-loss"), "{e}");
    assert!(SaliencyMethod::parse("vanilla:x").is_err());
}

/// The gradient is exact: f64 network, f64 finite differences. The network is
/// piecewise linear (ReLU, max-pool subsampling), so central differences with a step
/// of 1e-6 are exact up to rounding (~1e-10 relative) unless a perturbation crosses a
/// ReLU kink, which a random input makes vanishingly unlikely; 1e-3 is the brief's
/// bound, and the test prints the error it measures.
#[test]
fn vanilla_and_early_loss_match_central_finite_differences_in_f64() {
    let model = to_f64(tiny_model(3, 5, 11));
    let ad = Network::<A>::from_inner(model.clone());
    let x = images_f64(2, 3, 12, 12, 5);
    let y = [1i64, 4];
    for (method, early) in [(SaliencyMethod::Vanilla, false), (SaliencyMethod::EarlyLoss, true)] {
        let s = compute(&ad, Tensor::from_inner(x.clone()), Target::Label(labels(&y)), &method).unwrap();
        assert_eq!(s.dtype(), DType::F64);
        assert_eq!(s.dims(), [2, 12, 12]);
        let s = host(s);
        let fd = fd_saliency(
            |xs| {
                let mut ctx = Ctx::eval();
                if early {
                    model.forward_early(xs, &mut ctx).unwrap()
                } else {
                    model.forward_with(xs, &mut ctx).0
                }
            },
            &x,
            &y,
            1e-6,
        );
        let err = rel_err(&s, &fd);
        eprintln!("{method}: relative error vs finite differences {err:.2e}");
        assert!(err < 1e-3, "{method}: {err}");
        assert!(s.iter().all(|v| *v >= 0.0) && s.iter().any(|v| *v > 0.0));
    }
}

/// PyTorch's `upsample_bilinear2d(align_corners=False)`, on the host.
fn bilinear_ref(src: &[f64], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    let coord = |o: usize, inp: usize, out: usize| -> (usize, usize, f64) {
        let s = ((o as f64 + 0.5) * inp as f64 / out as f64 - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(inp - 1);
        let i1 = (i0 + 1).min(inp - 1);
        (i0, i1, s - i0 as f64)
    };
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        let (y0, y1, fy) = coord(y, h, oh);
        for x in 0..ow {
            let (x0, x1, fx) = coord(x, w, ow);
            let at = |yy: usize, xx: usize| src[yy * w + xx];
            out[y * ow + x] = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x1))
                + fy * ((1.0 - fx) * at(y1, x0) + fx * at(y1, x1));
        }
    }
    out
}

/// PyTorch's `upsample_bicubic2d(align_corners=False)` (A = −0.75, no antialias,
/// indices clamped at the border), on the host.
fn bicubic_ref(src: &[f64], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    const A: f64 = -0.75;
    let k1 = |t: f64| ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let k2 = |t: f64| ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A;
    let taps = |o: usize, inp: usize, out: usize| -> ([usize; 4], [f64; 4]) {
        let s = (o as f64 + 0.5) * inp as f64 / out as f64 - 0.5;
        let i = s.floor();
        let t = s - i;
        let idx = [-1.0, 0.0, 1.0, 2.0].map(|d: f64| (i + d).clamp(0.0, (inp - 1) as f64) as usize);
        (idx, [k2(t + 1.0), k1(t), k1(1.0 - t), k2(2.0 - t)])
    };
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        let (iy, wy) = taps(y, h, oh);
        for x in 0..ow {
            let (ix, wx) = taps(x, w, ow);
            let mut acc = 0.0;
            for a in 0..4 {
                for b in 0..4 {
                    acc += wy[a] * wx[b] * src[iy[a] * w + ix[b]];
                }
            }
            out[y * ow + x] = acc;
        }
    }
    out
}

/// Captures a layer's activation and, through a zero probe added to it, its gradient
/// on the ordinary (trainable) model: an implementation independent of the library's
/// detach-and-leaf one.
struct Capture {
    layer: String,
    act: Option<Tensor<A, 4>>,
    probe: Option<Tensor<A, 4>>,
}

impl TapHook<A> for Capture {
    fn tap(&mut self, name: &str, x: Tensor<A, 4>) -> Tensor<A, 4> {
        if name != self.layer {
            return x;
        }
        let probe = Tensor::<A, 4>::zeros(x.dims(), (&x.device(), x.dtype())).require_grad();
        self.act = Some(x.clone());
        self.probe = Some(probe.clone());
        x + probe
    }
}

#[test]
fn gradxact_equals_the_product_of_captured_activation_and_gradient_norms() {
    let model = Network::<A>::from_inner(to_f64(tiny_model(3, 5, 12)));
    let x = images_f64(2, 3, 12, 12, 6);
    let y = [0i64, 3];
    // layer2.0.conv1 is 6×6 (upsampled ×2), stem 12×12 (no resampling), layer3.0 3×3.
    for layer in ["layer2.0.conv1", "stem", "layer3.0"] {
        let method = SaliencyMethod::GradXAct { layer: layer.into() };
        let got = host(compute(&model, Tensor::from_inner(x.clone()), Target::Label(labels(&y)), &method).unwrap());

        let mut cap = Capture { layer: layer.into(), act: None, probe: None };
        let logits = model.forward_with(Tensor::from_inner(x.clone()), &mut Ctx::eval().with_hook(&mut cap)).0;
        let grads = logits.gather(1, labels::<A>(&y).reshape([2, 1])).sum().backward();
        let g = host4(cap.probe.unwrap().grad(&grads).unwrap());
        let act = cap.act.unwrap();
        let [n, k, hl, wl] = act.dims();
        let a = host4(act.inner());
        let mut want = Vec::new();
        for img in 0..n {
            let mut s = vec![0.0; hl * wl];
            for (p, sp) in s.iter_mut().enumerate() {
                let at = |t: &[f64], ch: usize| t[(img * k + ch) * hl * wl + p];
                let gn = (0..k).map(|ch| at(&g, ch).powi(2)).sum::<f64>().sqrt();
                let an = (0..k).map(|ch| at(&a, ch).powi(2)).sum::<f64>().sqrt();
                *sp = gn * an;
            }
            want.extend(bilinear_ref(&s, hl, wl, 12, 12));
        }
        let err = rel_err(&got, &want);
        assert!(err < 1e-9, "{layer}: {err}");
        assert!(got.iter().all(|v| *v >= 0.0) && got.iter().any(|v| *v > 0.0), "{layer}");
    }
}

#[test]
fn low_res_is_full_size_and_equals_upsampled_saliency_of_the_bicubic_half_copy() {
    let model = Network::<A>::from_inner(to_f64(tiny_model(3, 5, 13)));
    let (h, w) = (12, 10);
    let x = images_f64(2, 3, h, w, 7);
    let y = [2i64, 2];
    let got =
        compute(&model, Tensor::from_inner(x.clone()), Target::Label(labels(&y)), &SaliencyMethod::LowRes).unwrap();
    assert_eq!(got.dims(), [2, h, w]);
    let got = host(got);

    // downsample: host bicubic reference, per image and channel.
    let xv = host4(x);
    let (h2, w2) = low_res_size(h, w);
    assert_eq!((h2, w2), (6, 5));
    let mut small = Vec::new();
    for plane in xv.chunks(h * w) {
        small.extend(bicubic_ref(plane, h, w, h2, w2));
    }
    let small = Tensor::<I, 4>::from_data(TensorData::new(small, [2, 3, h2, w2]), (&Default::default(), DType::F64));
    // saliency: the vanilla method at low resolution; upsample: host bilinear reference.
    let s =
        host(compute(&model, Tensor::from_inner(small), Target::Label(labels(&y)), &SaliencyMethod::Vanilla).unwrap());
    let want: Vec<f64> = s.chunks(h2 * w2).flat_map(|m| bilinear_ref(m, h2, w2, h, w)).collect();
    let err = rel_err(&got, &want);
    assert!(err < 1e-9, "{err}");
}

#[test]
fn max_logit_equals_label_mode_at_the_argmax_for_every_method() {
    let inner = tiny_model(1, 6, 14);
    let model = Network::<A>::from_inner(inner.clone());
    let device = Default::default();
    I::seed(&device, 8);
    let x = Tensor::<I, 4>::random([3, 1, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    for method in ["vanilla", "gradxact:layer1.0.conv2", "low-res", "early-loss"] {
        let method = SaliencyMethod::parse(method).unwrap();
        let arg = method_logits(&inner, x.clone(), &method).unwrap().argmax(1).reshape([3]);
        let by_label =
            compute(&model, Tensor::from_inner(x.clone()), Target::Label(Tensor::from_inner(arg.clone())), &method)
                .unwrap();
        let by_max = compute(&model, Tensor::from_inner(x.clone()), Target::MaxLogit, &method).unwrap();
        assert_eq!(by_label.to_data(), by_max.into_data(), "{method}");
        // And another label gives another map (the comparison can fail).
        let other = Tensor::from_inner(arg.add_scalar(1).remainder_scalar(6));
        let by_other = compute(&model, Tensor::from_inner(x.clone()), Target::Label(other), &method).unwrap();
        assert_ne!(by_label.into_data(), by_other.into_data(), "{method}");
    }
}

#[test]
fn a_batch_gives_each_image_its_own_map() {
    let model = Network::<A>::from_inner(tiny_model(1, 4, 15));
    let device = Default::default();
    I::seed(&device, 9);
    let x = Tensor::<A, 4>::random([3, 1, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    let y = [0i64, 1, 3];
    for method in [SaliencyMethod::Vanilla, SaliencyMethod::GradXAct { layer: "layer2.0".into() }] {
        let batch = host(compute(&model, x.clone(), Target::Label(labels(&y)), &method).unwrap());
        for i in 0..3 {
            let one =
                host(compute(&model, x.clone().narrow(0, i, 1), Target::Label(labels(&y[i..i + 1])), &method).unwrap());
            let err = rel_err(&batch[i * 256..(i + 1) * 256], &one);
            assert!(err < 1e-5, "{method} image {i}: {err}");
        }
    }
}

pub(super) fn snapshot(model: &Network<A>) -> Vec<(String, TensorData)> {
    named_tensors::<I, _>(&model.valid())
}

#[test]
fn saliency_changes_no_parameter_no_statistic_and_no_training_gradient() {
    let device = Default::default();
    let base = named_tensors::<I, _>(&tiny_model(1, 4, 16));
    let make = || {
        let mut cfg = ModelConfig::new("resnet8");
        cfg.early_head = true;
        let m = cfg.init::<A>(1, 4, &device).unwrap();
        load_named(m, base.iter().cloned().collect::<HashMap<_, _>>()).unwrap()
    };
    I::seed(&device, 10);
    let x = Tensor::<A, 4>::random([4, 1, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    let y = labels::<A>(&[0, 1, 2, 3]);
    let methods: Vec<SaliencyMethod> =
        ["vanilla", "gradxact:layer2.0.conv1", "low-res", "early-loss"].iter().map(|s| s.parse().unwrap()).collect();

    // A training step's parameter gradients, with every saliency method run between
    // its forward and its backward pass (on images that are part of a graph), equal
    // those of the same step without saliency.
    let step = |with_saliency: bool| {
        let model = make();
        let before = snapshot(&model);
        let leaf = x.clone().require_grad();
        let images = leaf.clone().mul_scalar(1.0);
        let logits = model.forward_with(images.clone(), &mut Ctx::train()).0;
        if with_saliency {
            let mid = snapshot(&model);
            for m in &methods {
                compute(&model, images.clone(), Target::Label(y.clone()), m).unwrap();
                compute(&model, images.clone(), Target::MaxLogit, m).unwrap();
            }
            // Bit-identical parameters and running statistics (the ones the training
            // forward pass just updated).
            assert_eq!(snapshot(&model), mid);
            assert_ne!(mid, before, "the training pass moves the running statistics");
        }
        let loss = logits.gather(1, y.clone().reshape([4, 1])).sum();
        let grads = loss.backward();
        let input_grad = leaf.grad(&grads).unwrap().into_data();
        // Every parameter still requires its gradient and the step computes it.
        struct Grads<'a> {
            grads: &'a <A as AutodiffBackend>::Gradients,
            out: Vec<Option<TensorData>>,
            all_require_grad: bool,
        }
        impl burn::module::ModuleVisitor<A> for Grads<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<A, D>>) {
                let t = param.val();
                let g = t.grad(self.grads);
                // Running statistics are visited too; they never require a gradient.
                self.all_require_grad &= t.is_require_grad() || g.is_none();
                self.out.push(g.map(|g| g.into_data()));
            }
        }
        let mut v = Grads { grads: &grads, out: Vec::new(), all_require_grad: true };
        model.visit(&mut v);
        assert!(v.all_require_grad);
        (v.out, input_grad, snapshot(&model))
    };
    let (p0, g0, s0) = step(false);
    let (p1, g1, s1) = step(true);
    assert!(p0.iter().filter(|g| g.is_some()).count() > 10);
    assert_eq!(p0, p1);
    assert_eq!(g0, g1);
    assert_eq!(s0, s1);
}

#[test]
fn early_loss_saliency_depends_only_on_the_stem_and_first_stage() {
    let base = named_tensors::<I, _>(&tiny_model(1, 4, 17));
    let device = Default::default();
    let build = |perturb: &dyn Fn(&str) -> bool| {
        let mut cfg = ModelConfig::new("resnet8");
        cfg.early_head = true;
        let values: HashMap<_, _> = base
            .iter()
            .map(|(k, v)| {
                if perturb(k) {
                    let perturbed: Vec<f32> = v.to_vec::<f32>().unwrap().iter().map(|x| x * -1.7 + 0.3).collect();
                    (k.clone(), TensorData::new(perturbed, v.shape.clone()))
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        Network::<A>::from_inner(load_named(cfg.init::<I>(1, 4, &device).unwrap(), values).unwrap())
    };
    I::seed(&device, 11);
    let x = Tensor::<A, 4>::random([2, 1, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    let run = |m: &Network<A>, method: &str| {
        compute(m, x.clone(), Target::Label(labels(&[1, 2])), &method.parse().unwrap()).unwrap().into_data()
    };
    let reference = build(&|_| false);
    let later =
        |k: &str| k.starts_with("resnet.stages.1.") || k.starts_with("resnet.stages.2.") || k.starts_with("resnet.fc.");
    let changed_later = build(&later);
    assert_eq!(run(&reference, "early-loss"), run(&changed_later, "early-loss"));
    // The change is real: the full-network saliency sees it …
    assert_ne!(run(&reference, "vanilla"), run(&changed_later, "vanilla"));
    // … and the early saliency sees a change in the first stage or the early head.
    let first = build(&|k: &str| k.starts_with("resnet.stages.0.0.conv2"));
    assert_ne!(run(&reference, "early-loss"), run(&first, "early-loss"));
    let head = build(&|k: &str| k.starts_with("resnet.early_head.weight"));
    assert_ne!(run(&reference, "early-loss"), run(&head, "early-loss"));
}

#[test]
fn unsupported_requests_are_errors_that_say_why() {
    let device = Default::default();
    let plain = Network::<A>::from_inner(ModelConfig::new("resnet8").init::<I>(1, 4, &device).unwrap());
    let x = Tensor::<A, 4>::zeros([2, 1, 16, 16], &device);
    let err = |m: &Network<A>, x: Tensor<A, 4>, t: Target<A>, s: &str| {
        format!("{:#}", compute(m, x, t, &s.parse().unwrap()).unwrap_err())
    };
    let e = err(&plain, x.clone(), Target::MaxLogit, "early-loss");
    assert!(e.contains("early_head = true"), "{e}");
    let e = err(&plain, x.clone(), Target::MaxLogit, "gradxact:layer9.0");
    assert!(e.contains("layer9.0") && e.contains("layer1.0.conv1"), "{e}");
    let e = err(&plain, Tensor::zeros([2, 3, 16, 16], &device), Target::MaxLogit, "vanilla");
    assert!(e.contains("3 channels") && e.contains("takes 1"), "{e}");
    let e = err(&plain, x, Target::Label(labels(&[1])), "vanilla");
    assert!(e.contains("1 labels for 2 images"), "{e}");
}

#[test]
fn host_maps_and_f32_models() {
    let model = Network::<A>::from_inner(tiny_model(1, 4, 18));
    let x = Tensor::<A, 4>::ones([2, 1, 16, 16], &Default::default());
    let maps = compute_host(&model, x, Target::MaxLogit, &SaliencyMethod::LowRes).unwrap();
    assert_eq!((maps.count, maps.height, maps.width, maps.values.len()), (2, 16, 16, 512));
    assert_eq!(maps.map(1), &maps.values[256..]);
    assert_eq!(maps.to_vecs()[0], maps.values[..256].to_vec());
    assert!(maps.values.iter().all(|v| v.is_finite() && *v >= 0.0));
}
