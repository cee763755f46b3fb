//! Named access to a module's tensors, by their path in the module tree
//! (`resnet.stages.0.1.conv1.weight`): counting, saving and loading weights.
//!
//! Batch-norm running statistics are visited like parameters by burn; they are
//! buffers, not trainable parameters, and are told apart by their names.

use anyhow::{bail, Result};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use std::collections::HashMap;

/// Tracks the current path while a visitor or mapper walks a module.
#[derive(Default)]
pub struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    pub fn exit(&mut self) {
        self.0.pop();
    }
    pub fn path(&self) -> String {
        self.0.join(".")
    }
}

/// True for tensors that are statistics, not trainable parameters.
pub fn is_buffer(path: &str) -> bool {
    path.ends_with("running_mean") || path.ends_with("running_var")
}

struct Collect {
    stack: PathStack,
    out: Vec<(String, TensorData)>,
}

impl<B: Backend> ModuleVisitor<B> for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.out.push((self.stack.path(), param.val().into_data()));
    }
}

/// Every float tensor of `module` with its path, in visiting order.
///
/// Running statistics are read as last synchronised: call this on `model.valid()`
/// (which synchronises them) or on an inference-backend module.
pub fn named_tensors<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, TensorData)> {
    let mut c = Collect { stack: PathStack::default(), out: Vec::new() };
    module.visit(&mut c);
    c.out
}

struct Shapes {
    stack: PathStack,
    out: Vec<(String, Vec<usize>)>,
}

impl<B: Backend> ModuleVisitor<B> for Shapes {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.stack.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.out.push((self.stack.path(), param.lazy_shape().to_vec()));
    }
}

/// Paths and shapes of every float tensor, without reading values (parameters not yet
/// initialised stay so: a model can be built only to count its parameters).
pub fn named_shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut c = Shapes { stack: PathStack::default(), out: Vec::new() };
    module.visit(&mut c);
    c.out
}

/// Number of trainable parameters (what PyTorch's `sum(p.numel())` reports).
pub fn trainable_param_count<B: Backend, M: Module<B>>(module: &M) -> usize {
    named_shapes::<B, M>(module).iter().filter(|(p, _)| !is_buffer(p)).map(|(_, s)| s.iter().product::<usize>()).sum()
}

struct Materialize;

impl<B: Backend> ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// Initialises every lazily initialised parameter now, in visiting order. Without
/// this, burn draws initial weights at their first use, interleaved with whatever
/// else uses the backend's generator during the first step.
pub fn materialize<B: Backend, M: Module<B>>(module: &M) {
    module.visit(&mut Materialize);
}

struct Load<'a> {
    stack: PathStack,
    values: &'a mut HashMap<String, TensorData>,
    errors: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for Load<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.stack.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.stack.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let path = self.stack.path();
        let tensor = match self.values.remove(&path) {
            None => {
                self.errors.push(format!("{path}: missing"));
                tensor
            }
            Some(data) if data.shape.as_slice() != &tensor.dims()[..] => {
                self.errors.push(format!("{path}: shape {:?}, expected {:?}", data.shape.as_slice(), tensor.dims()));
                tensor
            }
            Some(data) => {
                let grad = tensor.is_require_grad();
                let t = Tensor::from_data(data.convert_dtype(tensor.dtype()), &tensor.device());
                if grad {
                    t.require_grad()
                } else {
                    t
                }
            }
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Replaces every tensor of `module` by the value stored under its path. Fails, naming
/// the tensors, if any is missing, has the wrong shape, or is left over.
pub fn load_named<B: Backend, M: Module<B>>(module: M, mut values: HashMap<String, TensorData>) -> Result<M> {
    let mut loader = Load { stack: PathStack::default(), values: &mut values, errors: Vec::new() };
    let module = module.map(&mut loader);
    let mut errors = loader.errors;
    let mut extra: Vec<_> = values.keys().map(|k| format!("{k}: not a tensor of this model")).collect();
    extra.sort();
    errors.extend(extra);
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(8);
        bail!("{n} tensor(s) do not match the model: {}", errors.join("; "));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::models::ModelConfig;

    #[test]
    fn paths_are_stable_and_loading_round_trips() {
        let device = Default::default();
        let a = ModelConfig::new("resnet8").init::<CpuBackend>(1, 10, &device).unwrap();
        let b = ModelConfig::new("resnet8").init::<CpuBackend>(1, 10, &device).unwrap();
        let ta = named_tensors::<CpuBackend, _>(&a);
        assert!(ta.iter().any(|(p, _)| p == "resnet.stages.0.0.conv1.weight"), "{:?}", &ta[..3]);
        assert!(ta.iter().any(|(p, _)| p == "resnet.stem_bn.running_var"));
        let loaded = load_named::<CpuBackend, _>(b, ta.iter().cloned().collect()).unwrap();
        let tb = named_tensors::<CpuBackend, _>(&loaded);
        assert_eq!(ta, tb);
    }

    #[test]
    fn mismatches_are_named() {
        let device = Default::default();
        let a = ModelConfig::new("resnet8").init::<CpuBackend>(1, 10, &device).unwrap();
        let mut values: HashMap<_, _> = named_tensors::<CpuBackend, _>(&a).into_iter().collect();
        values.remove("resnet.fc.bias");
        values.insert("resnet.fc.weight".into(), TensorData::new(vec![0f32; 6], [2, 3]));
        values.insert("resnet.extra".into(), TensorData::new(vec![0f32; 1], [1]));
        let e = load_named::<CpuBackend, _>(a, values).unwrap_err().to_string();
        assert!(e.contains("resnet.fc.bias: missing"), "{e}");
        assert!(e.contains("resnet.fc.weight: shape [2, 3]"), "{e}");
        assert!(e.contains("resnet.extra: not a tensor"), "{e}");
    }
}
