//! The kernels on burn's `flex` backend: plain `Flex` (evaluation) and
//! `Autodiff<Flex>` (training and saliency), the latter as custom autodiff nodes
//! whose backward passes call the host kernels.

use super::conv::{self, ConvGeom};
use super::norm::{self, NormGeom, NormStats};
use super::profile::{time, Op};
use super::{cast, device_vec, host, BatchStats, NormParams};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::{TensorData, TensorPrimitive};
use std::sync::Arc;

type Ad = Autodiff<Flex>;

/// The tensor's values, contiguous.
fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

fn flex_tensor<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

fn same<S: 'static, T: 'static>(s: S) -> T {
    cast::<S, T>(s).ok().expect("same backend")
}

fn float<const D: usize, K: Backend>(t: Tensor<K, D>) -> K::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

fn wrap<const D: usize, K: Backend>(t: K::FloatTensorPrimitive) -> Tensor<K, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

// ---------------------------------------------------------------------------------
// Convolution
// ---------------------------------------------------------------------------------

fn conv_geom(x: [usize; 4], w: [usize; 4], stride: [usize; 2], pad: [usize; 2]) -> Option<ConvGeom> {
    let [n, c_in, h, wd] = x;
    let [c_out, wc, kh, kw] = w;
    let ok = wc == c_in
        && n > 0
        && c_out > 0
        && stride[0] > 0
        && stride[1] > 0
        && h + 2 * pad[0] >= kh
        && wd + 2 * pad[1] >= kw
        && pad[0] < kh.max(1)
        && pad[1] < kw.max(1);
    ok.then_some(ConvGeom { n, c_in, h, w: wd, c_out, kh, kw, stride, pad })
}

fn conv_forward(g: &ConvGeom, x: &FlexTensor, w: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
    let (x, w) = (contiguous(x), contiguous(w));
    let bias = bias.map(contiguous);
    let mut y = vec![0.0f32; g.n * g.c_out * g.p()];
    time(Op::ConvForward, || conv::forward(g, values(&x), values(&w), bias.as_ref().map(values), &mut y));
    flex_tensor(y, [g.n, g.c_out, g.out_h(), g.out_w()])
}

/// `(dx, dw, dbias)` of those asked for.
fn conv_backward(
    g: &ConvGeom,
    x: &FlexTensor,
    w: &FlexTensor,
    dy: &FlexTensor,
    want: [bool; 3],
) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
    let (x, w, dy) = (contiguous(x), contiguous(w), contiguous(dy));
    let mut dx = want[0].then(|| vec![0.0f32; g.n * g.c_in * g.h * g.w]);
    let mut dw = want[1].then(|| vec![0.0f32; g.c_out * g.k()]);
    if want[0] || want[1] {
        time(Op::ConvBackward, || {
            conv::backward(g, values(&x), values(&w), values(&dy), dx.as_deref_mut(), dw.as_deref_mut())
        });
    }
    let db = want[2].then(|| {
        let p = g.p();
        let mut db = vec![0.0f64; g.c_out];
        for (row, r) in values(&dy).chunks(p).enumerate() {
            db[row % g.c_out] += r.iter().map(|&v| v as f64).sum::<f64>();
        }
        flex_tensor(db.into_iter().map(|v| v as f32).collect(), [g.c_out])
    });
    (dx.map(|v| flex_tensor(v, [g.n, g.c_in, g.h, g.w])), dw.map(|v| flex_tensor(v, [g.c_out, g.c_in, g.kh, g.kw])), db)
}

#[derive(Debug)]
struct ConvNoBias;

impl Backward<Flex, 2> for ConvNoBias {
    type State = (FlexTensor, FlexTensor, ConvGeom);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nx, nw] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, g) = ops.state;
        let (dx, dw, _) = conv_backward(&g, &x, &w, &dy, [nx.is_some(), nw.is_some(), false]);
        if let (Some(n), Some(d)) = (nx, dx) {
            grads.register::<Flex>(n.id, d);
        }
        if let (Some(n), Some(d)) = (nw, dw) {
            grads.register::<Flex>(n.id, d);
        }
    }
}

#[derive(Debug)]
struct ConvBias;

impl Backward<Flex, 3> for ConvBias {
    type State = (FlexTensor, FlexTensor, ConvGeom);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nx, nw, nb] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, g) = ops.state;
        let (dx, dw, db) = conv_backward(&g, &x, &w, &dy, [nx.is_some(), nw.is_some(), nb.is_some()]);
        for (node, grad) in [(nx, dx), (nw, dw), (nb, db)] {
            if let (Some(n), Some(d)) = (node, grad) {
                grads.register::<Flex>(n.id, d);
            }
        }
    }
}

type ConvArgs<B> = (Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 1>>);

/// The convolution on `Flex` / `Autodiff<Flex>`; the arguments back otherwise.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    w: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    stride: [usize; 2],
    pad: [usize; 2],
) -> Result<Tensor<B, 4>, ConvArgs<B>> {
    let Some(g) = conv_geom(x.dims(), w.dims(), stride, pad) else { return Err((x, w, bias)) };
    if bias.as_ref().is_some_and(|b| b.dims() != [g.c_out]) {
        return Err((x, w, bias));
    }
    let x = match cast::<Tensor<B, 4>, Tensor<Flex, 4>>(x) {
        Ok(x) => {
            let w: Tensor<Flex, 4> = same(w);
            let b: Option<Tensor<Flex, 1>> = bias.map(same);
            let y = conv_forward(&g, &float(x), &float(w), b.map(float).as_ref());
            return Ok(same(wrap::<4, Flex>(y)));
        }
        Err(x) => x,
    };
    let x = match cast::<Tensor<B, 4>, Tensor<Ad, 4>>(x) {
        Ok(x) => x,
        Err(x) => return Err((x, w, bias)),
    };
    let (x, w) = (float(x), float::<4, Ad>(same(w)));
    let b = bias.map(|b| float::<1, Ad>(same(b)));
    let y = conv_forward(&g, &x.primitive, &w.primitive, b.as_ref().map(|b| &b.primitive));
    let out = match b {
        None => {
            match ConvNoBias.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => prep.finish((x.primitive.clone(), w.primitive.clone(), g), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        Some(b) => match ConvBias
            .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive.clone(), w.primitive.clone(), g), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        },
    };
    Ok(same(wrap::<4, Ad>(out)))
}

// ---------------------------------------------------------------------------------
// Batch normalisation
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct NormState {
    x: FlexTensor,
    gamma: Arc<Vec<f32>>,
    stats: Arc<NormStats>,
    geom: NormGeom,
    train: bool,
    relu: bool,
}

#[derive(Debug)]
struct BatchNormOp;

impl Backward<Flex, 3> for BatchNormOp {
    type State = NormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nx, ng, nb] = ops.parents;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let x = contiguous(&s.x);
        let g = s.geom;
        let mut dx = nx.as_ref().map(|_| vec![0.0f32; g.n * g.c * g.hw]);
        let (dgamma, dbeta) = time(Op::NormBackward, || {
            norm::backward(&g, values(&x), &s.gamma, &s.stats, s.train, s.relu, values(&dy), dx.as_deref_mut())
        });
        let shape = s.x.layout().shape().clone();
        if let (Some(n), Some(d)) = (nx, dx) {
            grads.register::<Flex>(n.id, FlexTensor::from_data(TensorData::new(d, shape)));
        }
        if let Some(n) = ng {
            grads.register::<Flex>(n.id, flex_tensor(dgamma, [g.c]));
        }
        if let Some(n) = nb {
            grads.register::<Flex>(n.id, flex_tensor(dbeta, [g.c]));
        }
    }
}

/// `relu(BN(x) + s)`: parents `x`, `γ`, `β`, `s`; the state keeps the output for the
/// ReLU mask.
#[derive(Debug)]
struct BatchNormAddReluOp;

impl Backward<Flex, 4> for BatchNormAddReluOp {
    type State = (NormState, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nx, ng, nb, ns] = ops.parents;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let (s, y) = ops.state;
        let y = contiguous(&y);
        let g = s.geom;
        let shape = s.x.layout().shape().clone();
        let mut gd = vec![0.0f32; g.n * g.c * g.hw];
        time(Op::NormBackward, || norm::relu_grad(values(&y), values(&dy), &mut gd));
        let gd = FlexTensor::from_data(TensorData::new(gd, shape.clone()));
        let x = contiguous(&s.x);
        let mut dx = nx.as_ref().map(|_| vec![0.0f32; g.n * g.c * g.hw]);
        let (dgamma, dbeta) = time(Op::NormBackward, || {
            norm::backward(&g, values(&x), &s.gamma, &s.stats, s.train, false, values(&gd), dx.as_deref_mut())
        });
        if let (Some(n), Some(d)) = (nx, dx) {
            grads.register::<Flex>(n.id, FlexTensor::from_data(TensorData::new(d, shape)));
        }
        if let Some(n) = ng {
            grads.register::<Flex>(n.id, flex_tensor(dgamma, [g.c]));
        }
        if let Some(n) = nb {
            grads.register::<Flex>(n.id, flex_tensor(dbeta, [g.c]));
        }
        if let Some(n) = ns {
            grads.register::<Flex>(n.id, gd);
        }
    }
}

type NormOut<B> = (Tensor<B, 4>, Option<BatchStats<B>>);
/// The input and the residual, handed back when the kernels do not apply.
type NormArgs<B> = (Tensor<B, 4>, Option<Tensor<B, 4>>);

/// Runs the host forward pass; returns the output and the statistics.
#[allow(clippy::too_many_arguments)]
fn norm_forward(
    g: &NormGeom,
    x: &FlexTensor,
    gamma: &[f32],
    beta: &[f32],
    running: Option<(Vec<f32>, Vec<f32>)>,
    epsilon: f64,
    relu: bool,
    residual: Option<&FlexTensor>,
) -> (FlexTensor, NormStats) {
    let x = contiguous(x);
    let residual = residual.map(contiguous);
    let mut y = vec![0.0f32; g.n * g.c * g.hw];
    let run = running.as_ref().map(|(m, v)| (&m[..], &v[..]));
    let res = residual.as_ref().map(values);
    let stats = time(Op::NormForward, || norm::forward(g, values(&x), gamma, beta, run, epsilon, relu, res, &mut y));
    (FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone())), stats)
}

fn batch_stats<B: Backend>(g: &NormGeom, stats: &NormStats, device: &B::Device) -> BatchStats<B> {
    let count = (g.n * g.hw) as f64;
    let unbiased = stats.batch_var.iter().map(|&v| (v as f64 * count / (count - 1.0).max(1.0)) as f32).collect();
    BatchStats { mean: device_vec::<B>(stats.mean.clone(), device), unbiased_var: device_vec::<B>(unbiased, device) }
}

/// Batch norm (+ ReLU) on `Flex` / `Autodiff<Flex>`; `x` back otherwise.
pub fn batch_norm<B: Backend>(
    x: Tensor<B, 4>,
    p: &NormParams<B>,
    train: bool,
    relu: bool,
    residual: Option<Tensor<B, 4>>,
) -> Result<NormOut<B>, NormArgs<B>> {
    let [n, c, h, w] = x.dims();
    if p.gamma.dims() != [c] || n * h * w == 0 || residual.as_ref().is_some_and(|r| r.dims() != x.dims()) {
        return Err((x, residual));
    }
    let relu = relu || residual.is_some();
    let g = NormGeom { n, c, hw: h * w };
    let device = x.device();
    let running = (!train).then(|| (host(p.running_mean.clone()), host(p.running_var.clone())));
    let x = match cast::<Tensor<B, 4>, Tensor<Flex, 4>>(x) {
        Ok(x) => {
            let (gamma, beta) = (host(p.gamma.clone()), host(p.beta.clone()));
            let r: Option<Tensor<Flex, 4>> = residual.map(same);
            let r = r.map(float);
            let (y, stats) = norm_forward(&g, &float(x), &gamma, &beta, running, p.epsilon, relu, r.as_ref());
            let bs = train.then(|| batch_stats::<B>(&g, &stats, &device));
            return Ok((same(wrap::<4, Flex>(y)), bs));
        }
        Err(x) => x,
    };
    let x = match cast::<Tensor<B, 4>, Tensor<Ad, 4>>(x) {
        Ok(x) => float(x),
        Err(x) => return Err((x, residual)),
    };
    let residual = residual.map(|r| float::<4, Ad>(same(r)));
    let gamma_t = float::<1, Ad>(same(p.gamma.clone()));
    let beta_t = float::<1, Ad>(same(p.beta.clone()));
    let gamma = contiguous(&gamma_t.primitive);
    let beta = contiguous(&beta_t.primitive);
    let (gamma, beta) = (values(&gamma).to_vec(), values(&beta).to_vec());
    let (y, stats) = norm_forward(
        &g,
        &x.primitive,
        &gamma,
        &beta,
        running,
        p.epsilon,
        relu,
        residual.as_ref().map(|r| &r.primitive),
    );
    let bs = train.then(|| batch_stats::<B>(&g, &stats, &device));
    if let Some(r) = residual {
        let out = match BatchNormAddReluOp
            .prepare::<NoCheckpointing>([x.node.clone(), gamma_t.node.clone(), beta_t.node.clone(), r.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = NormState {
                    x: x.primitive.clone(),
                    gamma: Arc::new(gamma),
                    stats: Arc::new(stats),
                    geom: g,
                    train,
                    relu: false,
                };
                prep.finish((state, y.clone()), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        return Ok((same(wrap::<4, Ad>(out)), bs));
    }
    let out = match BatchNormOp
        .prepare::<NoCheckpointing>([x.node.clone(), gamma_t.node.clone(), beta_t.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            NormState { x: x.primitive.clone(), gamma: Arc::new(gamma), stats: Arc::new(stats), geom: g, train, relu },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Ok((same(wrap::<4, Ad>(out)), bs))
}
