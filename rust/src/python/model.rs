//! `ModelConfig`, `Model` and recurrent state bindings (streaming generation: `stream.rs`).

use numpy::{PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::arrays::{copied, grads_dict, tensor_to_numpy, to_numpy, token_pair, tokens2};
use super::errors::input;
use crate::engine::Tensor;
use crate::generate::{self, RecurrentState, Sampling};
use crate::nn::model::Batch;
use crate::nn::{Model, ModelConfig};

#[pyclass(name = "ModelConfig", module = "rnnpy._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyModelConfig {
    pub inner: ModelConfig,
}

#[pymethods]
impl PyModelConfig {
    #[new]
    #[pyo3(signature = (vocab_size, embed_size=16, hidden_size=32, num_layers=1, num_heads=4, num_experts=4, top_k=1, fast_mode=false, use_rwkv=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        vocab_size: usize,
        embed_size: usize,
        hidden_size: usize,
        num_layers: usize,
        num_heads: usize,
        num_experts: usize,
        top_k: usize,
        fast_mode: bool,
        use_rwkv: bool,
    ) -> PyResult<Self> {
        let inner = ModelConfig {
            vocab_size,
            embed_size,
            hidden_size,
            num_layers,
            fast_mode,
            use_rwkv,
            num_experts,
            top_k,
            num_heads,
        };
        inner.validate()?;
        Ok(PyModelConfig { inner })
    }
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size
    }
    #[getter]
    fn embed_size(&self) -> usize {
        self.inner.embed_size
    }
    #[getter]
    fn hidden_size(&self) -> usize {
        self.inner.hidden_size
    }
    #[getter]
    fn num_layers(&self) -> usize {
        self.inner.num_layers
    }
    #[getter]
    fn num_heads(&self) -> usize {
        self.inner.num_heads
    }
    #[getter]
    fn num_experts(&self) -> usize {
        self.inner.num_experts
    }
    #[getter]
    fn top_k(&self) -> usize {
        self.inner.top_k
    }
    #[getter]
    fn fast_mode(&self) -> bool {
        self.inner.fast_mode
    }
    #[getter]
    fn use_rwkv(&self) -> bool {
        self.inner.use_rwkv
    }
    /// Total parameter count.
    fn num_parameters(&self) -> usize {
        self.inner.num_params()
    }
    /// Parameters used per token (idle routed experts excluded).
    fn active_parameters(&self) -> usize {
        self.inner.active_params()
    }
    /// `[(name, shape), ...]` in the checkpoint's flat order.
    fn param_shapes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<Bound<PyTuple>> = self
            .inner
            .param_specs()
            .into_iter()
            .map(|s| PyTuple::new(py, [s.name.into_pyobject(py)?.into_any(), PyTuple::new(py, s.shape)?.into_any()]))
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }
    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "ModelConfig(vocab_size={}, embed_size={}, hidden_size={}, num_layers={}, num_heads={}, num_experts={}, top_k={}, fast_mode={}, use_rwkv={})",
            c.vocab_size,
            c.embed_size,
            c.hidden_size,
            c.num_layers,
            c.num_heads,
            c.num_experts,
            c.top_k,
            if c.fast_mode { "True" } else { "False" },
            if c.use_rwkv { "True" } else { "False" }
        )
    }
}

#[pyclass(name = "Model", module = "rnnpy._core")]
#[derive(Clone)]
pub struct PyModel {
    pub inner: Model,
}

/// Sampling temperatures: finite and non-negative (0 is argmax); the rule is the core's.
pub fn check_temperature(temperature: f32) -> PyResult<()> {
    Ok(Sampling::temperature(temperature).check()?)
}

#[pymethods]
impl PyModel {
    #[new]
    #[pyo3(signature = (config, seed=0))]
    fn new(config: &PyModelConfig, seed: u64) -> PyResult<Self> {
        Ok(PyModel { inner: Model::new(config.inner.clone(), seed)? })
    }

    #[getter]
    fn config(&self) -> PyModelConfig {
        PyModelConfig { inner: self.inner.config.clone() }
    }

    /// An independent copy (same parameters).
    fn copy(&self) -> PyModel {
        self.clone()
    }

    /// `{name: float32 array}` copies, in the checkpoint's order.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (spec, t) in self.inner.specs.iter().zip(self.inner.params()) {
            d.set_item(&spec.name, tensor_to_numpy(py, t, &spec.shape)?)?;
        }
        Ok(d)
    }

    /// Replaces the named parameters from float32 arrays of their exact
    /// shapes. Every name and shape is checked before anything changes.
    fn set_parameters(&mut self, params: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut checked = Vec::with_capacity(params.len());
        for (name, values) in params.iter() {
            let name: String = name.extract()?;
            let values: PyReadonlyArrayDyn<f32> = values.extract()?;
            let i = self
                .inner
                .specs
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| input(format!("unknown parameter '{name}'")))?;
            let want = &self.inner.specs[i].shape;
            if values.shape() != want.as_slice() {
                return Err(input(format!("parameter '{name}' must have shape {want:?}, got {:?}", values.shape())));
            }
            checked.push((i, copied(&values)));
        }
        let params = self.inner.params_mut();
        for (i, values) in checked {
            params[i].data = values;
        }
        Ok(())
    }

    /// All parameters as one flat float32 array (checkpoint order).
    fn flat_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.inner.flat();
        let n = f.len();
        to_numpy(py, f, &[n])
    }

    /// `inputs [B, T]` uint32 -> logits `[B, T, V]` float32, zero initial state.
    fn logits<'py>(&self, py: Python<'py>, inputs: PyReadonlyArray2<u32>) -> PyResult<Bound<'py, PyAny>> {
        let (ids, b, t) = tokens2(&inputs);
        let model = &self.inner;
        let out = py.allow_threads(|| model.logits(Batch { tokens: &ids, b, t }))?;
        let v = out.cols;
        to_numpy(py, out.data, &[b, t, v])
    }

    /// `(loss, {name: gradient})` or `(loss, None)`.
    #[pyo3(signature = (inputs, targets, want_grad=true))]
    fn loss_and_grad<'py>(
        &self,
        py: Python<'py>,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        want_grad: bool,
    ) -> PyResult<(f32, Option<Bound<'py, PyDict>>)> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        let model = &self.inner;
        let (loss, grads) = py.allow_threads(|| model.loss_and_grad(Batch { tokens: &ids, b, t }, &tg, want_grad))?;
        let grads = grads.map(|g| grads_dict(py, &self.inner, g)).transpose()?;
        Ok((loss, grads))
    }

    /// Mean loss of `inputs -> targets [B, T]` from `state`, which advances
    /// to the end of the sequences (a long text read in windows).
    fn loss_from(
        &self,
        py: Python<'_>,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        state: &mut PyRecurrentState,
    ) -> PyResult<f32> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        let (model, st) = (&self.inner, &mut state.inner);
        Ok(py.allow_threads(|| model.loss_from(Batch { tokens: &ids, b, t }, &tg, st))?)
    }

    /// Fresh zero state for `batch` sequences.
    fn new_state(&self, batch: usize) -> PyResult<PyRecurrentState> {
        if batch == 0 {
            return Err(input("batch must be at least 1"));
        }
        Ok(PyRecurrentState { inner: RecurrentState::zeros(&self.inner, batch) })
    }

    /// Feeds one token per sequence, advancing `state`; returns logits `[B, V]`.
    fn step<'py>(
        &self,
        py: Python<'py>,
        state: &mut PyRecurrentState,
        tokens: Vec<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let out = generate::step(&self.inner, &mut state.inner, &tokens)?;
        let (b, v) = (out.rows, out.cols);
        to_numpy(py, out.data, &[b, v])
    }

    /// Feeds `prompt`, then samples `length` tokens (temperature 0: argmax;
    /// `top_k` 0 and `top_p` 1 keep every token).
    #[pyo3(signature = (prompt, length, temperature=0.8, seed=0, top_k=0, top_p=1.0))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: Vec<u32>,
        length: usize,
        temperature: f32,
        seed: u64,
        top_k: usize,
        top_p: f32,
    ) -> PyResult<Vec<u32>> {
        let how = Sampling { temperature, top_k, top_p };
        how.check()?;
        let model = &self.inner;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(py.allow_threads(|| generate::generate(model, &prompt, length, &how, &mut rng))?)
    }
}

#[pyclass(name = "RecurrentState", module = "rnnpy._core")]
#[derive(Clone)]
pub struct PyRecurrentState {
    pub inner: RecurrentState,
}

#[pymethods]
impl PyRecurrentState {
    #[getter]
    fn batch(&self) -> usize {
        self.inner.b
    }
    /// Per layer: `[s, num, den, xp]` (RWKV) or `[s]`, each `[B, H]`.
    fn tensors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Vec<Bound<'py, PyAny>>>> {
        self.inner
            .layers
            .iter()
            .map(|ts| ts.iter().map(|t: &Tensor| tensor_to_numpy(py, t, &[t.rows, t.cols])).collect())
            .collect()
    }
    /// Overwrites every tensor from arrays laid out as `tensors()` returns
    /// them (a training run resumed mid-stream continues from its saved state).
    fn set_tensors(&mut self, tensors: Vec<Vec<PyReadonlyArray2<f32>>>) -> PyResult<()> {
        let layers = &mut self.inner.layers;
        let fits = tensors.len() == layers.len()
            && tensors.iter().zip(layers.iter()).all(|(new, old)| {
                new.len() == old.len() && new.iter().zip(old).all(|(a, t)| a.shape() == [t.rows, t.cols])
            });
        if !fits {
            return Err(input("the tensors do not have this recurrent state's layout (see tensors())"));
        }
        for (new, old) in tensors.iter().zip(layers.iter_mut()) {
            for (a, t) in new.iter().zip(old.iter_mut()) {
                t.data = copied(a);
            }
        }
        Ok(())
    }
}
