//! `occlude._native`: the Python extension module behind the `occlude` package
//! (python/occlude/__init__.py holds the Python API and its documentation).
//!
//! Written without PyO3's macros (see Cargo.toml): the module is a plain
//! `PyModuleDef` ([`PyInit__native`]) holding two closures over plain buffers, so that
//! the package needs NumPy only:
//! `sample_lines` draws parameters with occlude's own samplers and returns the JSON
//! lines `occlude sample` prints; `apply_into` applies such parameters to a batch of
//! images in place. The apply renders the parameters with the renderer training uses
//! ([`occlude::augment::apply::render`]) and then mixes the pixels on the host
//! (`host::apply_draws`), instead of through burn tensors as training does; the
//! Python tests compare its pixels with `occlude sample --apply`, which goes through
//! training's batched apply.

mod host;

use anyhow::{bail, Context};
use occlude::augment::draws::{draw_lines, sample_draws_at, DrawSites};
use occlude::augment::params::RegionParams;
use occlude::augment::spec::AugmentSpec;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyModule, PyModuleMethods, PyTuple};
use serde::Deserialize;

/// An error of ours as a Python `ValueError` with its whole chain of context.
fn value_error(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

/// The values of a C-contiguous float32 buffer and its shape.
fn read_f32(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<usize>, Vec<f32>)> {
    let buffer = PyBuffer::<f32>::get(obj).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?;
    let values = buffer.to_vec(obj.py())?;
    Ok((buffer.shape().to_vec(), values))
}

/// The arguments of [`sample_lines`].
type SampleArgs<'py> = (String, (usize, usize), Option<Bound<'py, PyAny>>, u64, usize, usize, Vec<usize>);

/// `sample_lines(spec, (H, W), saliency, seed, epoch, batch_index, indices)`: the JSON
/// lines of the draws of `spec` on `H × W` images for the dataset indices `indices` in
/// batch `batch_index` of epoch `epoch` with seed `seed` — what `occlude sample`
/// prints (it draws indices `0..count`, epoch 0, batch 0). `saliency`: `None`, or a
/// float32 buffer holding one `H × W` map or one per index.
fn sample_lines(args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let (spec, (h, w), saliency, seed, epoch, batch_index, indices): SampleArgs = args.extract()?;
    let spec = AugmentSpec::parse(&spec).with_context(|| format!("spec {spec:?}")).map_err(value_error)?;
    let maps = saliency.map(|m| read_f32(&m, "saliency")).transpose()?.map(|(_, values)| values);
    if let (None, Some(method)) = (&maps, spec.saliency()) {
        return Err(value_error(anyhow::anyhow!(
            "{spec} samples from a saliency map ({method} saliency in training): give saliency, an {h}×{w} array \
             (or one per index)"
        )));
    }
    let at = DrawSites { seed, epoch, batch_index, indices };
    let draws = sample_draws_at(&spec, h, w, maps.as_deref(), &at).map_err(value_error)?;
    draw_lines(&draws).map_err(value_error)
}

/// One image's parameters: a stage, or a list of stages (`[region, paste]`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Draw {
    One(RegionParams),
    Stages(Vec<RegionParams>),
}

/// Parses one JSON text of parameters per image.
fn parse_draws(params: &[String]) -> anyhow::Result<Vec<Vec<RegionParams>>> {
    params
        .iter()
        .enumerate()
        .map(|(i, text)| match serde_json::from_str::<Draw>(text) {
            Ok(Draw::One(p)) => Ok(vec![p]),
            Ok(Draw::Stages(stages)) => Ok(stages),
            Err(e) => bail!("params[{i}] is not a parameter set (or a list of them) of occlude sample: {e}: {text}"),
        })
        .collect()
}

/// The arguments of [`apply_into`].
type ApplyArgs<'py> = (Bound<'py, PyAny>, Vec<String>, Option<Bound<'py, PyAny>>);

/// `apply_into(images, params, augmented)`: applies `params` (one JSON text per image,
/// as [`sample_lines`] returns them) to `images`, a writable C-contiguous float32
/// `N × C × H × W` buffer, in place. `augmented`: `None`, or the image-level view A(x)
/// of the same shape, which selective-paste needs.
fn apply_into(args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let (images, params, augmented): ApplyArgs = args.extract()?;
    let py = images.py();
    let buffer = PyBuffer::<f32>::get(&images).map_err(|e| PyValueError::new_err(format!("images: {e}")))?;
    let dims: [usize; 4] = buffer
        .shape()
        .try_into()
        .map_err(|_| PyValueError::new_err(format!("images: shape {:?}; expected N×C×H×W", buffer.shape())))?;
    if buffer.readonly() || !buffer.is_c_contiguous() {
        return Err(PyValueError::new_err("images: expected a writable C-contiguous float32 array"));
    }
    let clean = buffer.to_vec(py)?;
    let view = match augmented {
        Some(a) => {
            let (shape, values) = read_f32(&a, "augmented")?;
            if shape != dims {
                return Err(PyValueError::new_err(format!("augmented: shape {shape:?}; the images are {dims:?}")));
            }
            Some(values)
        }
        None => None,
    };
    let out = py
        .detach(|| -> anyhow::Result<Vec<f32>> {
            let draws = parse_draws(&params)?;
            host::apply_draws(&clean, view.as_deref(), dims, &draws)
        })
        .map_err(value_error)?;
    buffer.copy_from_slice(py, &out)
}

/// The module's definition (single-phase initialisation).
static mut MODULE_DEF: ffi::PyModuleDef = ffi::PyModuleDef {
    m_base: ffi::PyModuleDef_HEAD_INIT,
    m_name: c"occlude._native".as_ptr(),
    m_doc: c"occlude's samplers and apply; use the occlude package, not this module".as_ptr(),
    m_size: -1,
    m_methods: std::ptr::null_mut(),
    m_slots: std::ptr::null_mut(),
    m_traverse: None,
    m_clear: None,
    m_free: None,
};

/// The module with its two functions.
fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    // SAFETY: MODULE_DEF is only ever used here, by the interpreter that imports us,
    // with the GIL held; PyModule_Create returns a new reference or NULL with an error set.
    let module = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyModule_Create(&raw mut MODULE_DEF))? };
    let module = module.cast_into::<PyModule>()?;
    module.add_function(PyCFunction::new_closure(py, Some(c"sample_lines"), None, sample_lines)?)?;
    module.add_function(PyCFunction::new_closure(py, Some(c"apply_into"), None, apply_into)?)?;
    Ok(module)
}

/// The entry point Python calls on `import occlude._native`.
///
/// # Safety
/// Called by the interpreter, once per import, with the GIL held.
#[allow(non_snake_case)]
#[no_mangle]
pub unsafe extern "C" fn PyInit__native() -> *mut ffi::PyObject {
    // SAFETY: the interpreter holds the GIL while it initialises a module.
    let py = unsafe { Python::assume_attached() };
    match module(py) {
        Ok(module) => module.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}
