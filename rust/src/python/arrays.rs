//! numpy <-> core conversions. Inputs are copied into Rust values before the
//! GIL is released; shape rules that only exist on the Python side (two
//! arrays of the same shape) are checked here, once.

use numpy::ndarray::Dimension;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::errors::input;
use crate::engine::Tensor;

/// The elements of any array, copied in row-major order.
pub fn copied<T: numpy::Element + Copy, D: Dimension>(a: &PyReadonlyArray<T, D>) -> Vec<T> {
    match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    }
}

/// A `[B, T]` uint32 array as (ids, B, T).
pub fn tokens2(a: &PyReadonlyArray2<u32>) -> (Vec<u32>, usize, usize) {
    let shape = a.shape();
    (copied(a), shape[0], shape[1])
}

/// Inputs and targets of one shape, copied: `(inputs, targets, shape)`.
pub fn token_pair<D: Dimension>(
    inputs: &PyReadonlyArray<u32, D>,
    targets: &PyReadonlyArray<u32, D>,
) -> PyResult<(Vec<u32>, Vec<u32>, Vec<usize>)> {
    if inputs.shape() != targets.shape() {
        return Err(input(format!("targets have shape {:?}, inputs {:?}", targets.shape(), inputs.shape())));
    }
    Ok((copied(inputs), copied(targets), inputs.shape().to_vec()))
}

/// A float32 numpy array of the given shape holding `data`.
pub fn to_numpy<'py>(py: Python<'py>, data: Vec<f32>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let arr = PyArray1::from_vec(py, data);
    Ok(arr.reshape(shape.to_vec())?.into_any())
}

pub fn tensor_to_numpy<'py>(py: Python<'py>, t: &Tensor, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    to_numpy(py, t.data.clone(), shape)
}

/// `{name: gradient}` in the checkpoint's order, each shaped like its parameter.
pub fn grads_dict<'py>(
    py: Python<'py>,
    specs: &[crate::nn::config::ParamSpec],
    grads: Vec<Tensor>,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let d = pyo3::types::PyDict::new(py);
    for (spec, g) in specs.iter().zip(grads) {
        d.set_item(&spec.name, to_numpy(py, g.data, &spec.shape)?)?;
    }
    Ok(d)
}

pub fn check_len(what: &str, got: usize, want: usize) -> PyResult<()> {
    if got != want {
        return Err(input(format!("{what}: {got} values given, {want} expected")));
    }
    Ok(())
}
