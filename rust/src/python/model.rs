//! `ModelConfig`, `Model` and recurrent state bindings (streaming generation: `stream.rs`).
//!
//! Every object that changes (a model, a state, a stream) sits behind a
//! lock, so that several Python threads may share one: a training step and
//! a `logits` call on the same model run one after the other, never
//! interleaved. Locks are only ever waited for with the GIL released
//! (`py.allow_threads`), so a thread waiting for one never blocks the thread
//! that holds it.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
    /// Bytes training takes with batches of `batch_size × seq_length` tokens.
    fn training_bytes(&self, batch_size: usize, seq_length: usize) -> u128 {
        self.inner.training_bytes(batch_size, seq_length)
    }
    /// Raises MemoryLimitError when training on such batches needs more
    /// memory than the machine has (the message gives both sizes).
    fn check_training_memory(&self, py: Python<'_>, batch_size: usize, seq_length: usize) -> PyResult<()> {
        let c = &self.inner;
        Ok(py.allow_threads(|| c.check_training_memory(batch_size, seq_length))?)
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

#[pyclass(name = "Model", module = "rnnpy._core", frozen)]
pub struct PyModel {
    inner: RwLock<Model>,
}

impl PyModel {
    pub fn wrap(model: Model) -> Self {
        PyModel { inner: RwLock::new(model) }
    }
    /// Shared access: call with the GIL released (inside `allow_threads`).
    pub fn read(&self) -> RwLockReadGuard<'_, Model> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
    /// Exclusive access (training, new parameters): with the GIL released too.
    pub fn write(&self) -> RwLockWriteGuard<'_, Model> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A lock held by a Python object: poison (a panic, a bug) does not make
/// the object unusable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sampling temperatures: finite and non-negative (0 is argmax); the rule is the core's.
pub fn check_temperature(temperature: f32) -> PyResult<()> {
    Ok(Sampling::temperature(temperature).check()?)
}

#[pymethods]
impl PyModel {
    #[new]
    #[pyo3(signature = (config, seed=0))]
    fn new(py: Python<'_>, config: &PyModelConfig, seed: u64) -> PyResult<Self> {
        let c = config.inner.clone();
        Ok(PyModel::wrap(py.allow_threads(|| Model::new(c, seed))?))
    }

    #[getter]
    fn config(&self, py: Python<'_>) -> PyModelConfig {
        PyModelConfig { inner: py.allow_threads(|| self.read().config.clone()) }
    }

    /// An independent copy (same parameters).
    fn copy(&self, py: Python<'_>) -> PyModel {
        PyModel::wrap(py.allow_threads(|| self.read().clone()))
    }

    /// Whether every parameter is finite (no NaN or infinity).
    fn is_finite(&self, py: Python<'_>) -> bool {
        py.allow_threads(|| self.read().params().iter().all(|t| t.data.iter().all(|x| x.is_finite())))
    }

    /// `{name: float32 array}` copies, in the checkpoint's order.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (specs, tensors) = py.allow_threads(|| {
            let m = self.read();
            (m.specs.clone(), m.params().to_vec())
        });
        let d = PyDict::new(py);
        for (spec, t) in specs.iter().zip(&tensors) {
            d.set_item(&spec.name, tensor_to_numpy(py, t, &spec.shape)?)?;
        }
        Ok(d)
    }

    /// Replaces the named parameters from float32 arrays of their exact
    /// shapes. Every name and shape is checked before anything changes.
    fn set_parameters(&self, py: Python<'_>, params: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut given = Vec::with_capacity(params.len());
        for (name, values) in params.iter() {
            let name: String = name.extract()?;
            let values: PyReadonlyArrayDyn<f32> = values.extract()?;
            given.push((name, values.shape().to_vec(), copied(&values)));
        }
        py.allow_threads(|| {
            let mut m = self.write();
            let mut checked = Vec::with_capacity(given.len());
            for (name, shape, values) in given {
                let i = m
                    .specs
                    .iter()
                    .position(|s| s.name == name)
                    .ok_or_else(|| crate::Error::Input(format!("unknown parameter '{name}'")))?;
                let want = &m.specs[i].shape;
                if shape != *want {
                    return Err(crate::Error::Input(format!(
                        "parameter '{name}' must have shape {want:?}, got {shape:?}"
                    )));
                }
                checked.push((i, values));
            }
            let params = m.params_mut();
            for (i, values) in checked {
                params[i].data = values;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// All parameters as one flat float32 array (checkpoint order).
    fn flat_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = py.allow_threads(|| self.read().flat());
        let n = f.len();
        to_numpy(py, f, &[n])
    }

    /// `inputs [B, T]` uint32 -> logits `[B, T, V]` float32, zero initial state.
    fn logits<'py>(&self, py: Python<'py>, inputs: PyReadonlyArray2<u32>) -> PyResult<Bound<'py, PyAny>> {
        let (ids, b, t) = tokens2(&inputs);
        let out = py.allow_threads(|| self.read().logits(Batch { tokens: &ids, b, t }))?;
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
        let (loss, grads, specs) = py.allow_threads(|| {
            let m = self.read();
            let (loss, grads) = m.loss_and_grad(Batch { tokens: &ids, b, t }, &tg, want_grad)?;
            Ok::<_, crate::Error>((loss, grads, m.specs.clone()))
        })?;
        let grads = grads.map(|g| grads_dict(py, &specs, g)).transpose()?;
        Ok((loss, grads))
    }

    /// Mean loss of `inputs -> targets [B, T]` from `state`, which advances
    /// to the end of the sequences (a long text read in windows).
    fn loss_from(
        &self,
        py: Python<'_>,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        state: &PyRecurrentState,
    ) -> PyResult<f32> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        Ok(py.allow_threads(|| {
            let m = self.read();
            let mut st = lock(&state.inner);
            m.loss_from(Batch { tokens: &ids, b, t }, &tg, &mut st)
        })?)
    }

    /// Fresh zero state for `batch` sequences.
    fn new_state(&self, py: Python<'_>, batch: usize) -> PyResult<PyRecurrentState> {
        if batch == 0 {
            return Err(input("batch must be at least 1"));
        }
        let st = py.allow_threads(|| RecurrentState::try_zeros(&self.read(), batch))?;
        Ok(PyRecurrentState { inner: Mutex::new(st) })
    }

    /// Feeds one token per sequence, advancing `state`; returns logits `[B, V]`.
    fn step<'py>(&self, py: Python<'py>, state: &PyRecurrentState, tokens: Vec<u32>) -> PyResult<Bound<'py, PyAny>> {
        let out = py.allow_threads(|| {
            let m = self.read();
            let mut st = lock(&state.inner);
            generate::step(&m, &mut st, &tokens)
        })?;
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
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(py.allow_threads(|| generate::generate(&self.read(), &prompt, length, &how, &mut rng))?)
    }
}

#[pyclass(name = "RecurrentState", module = "rnnpy._core", frozen)]
pub struct PyRecurrentState {
    pub inner: Mutex<RecurrentState>,
}

#[pymethods]
impl PyRecurrentState {
    #[getter]
    fn batch(&self, py: Python<'_>) -> usize {
        py.allow_threads(|| lock(&self.inner).b)
    }
    /// Per layer: `[s, num, den, xp]` (RWKV) or `[s]`, each `[B, H]`.
    fn tensors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Vec<Bound<'py, PyAny>>>> {
        let layers = py.allow_threads(|| lock(&self.inner).layers.clone());
        layers
            .iter()
            .map(|ts| ts.iter().map(|t: &Tensor| tensor_to_numpy(py, t, &[t.rows, t.cols])).collect())
            .collect()
    }
    /// Overwrites every tensor from arrays laid out as `tensors()` returns
    /// them (a training run resumed mid-stream continues from its saved state).
    fn set_tensors(&self, py: Python<'_>, tensors: Vec<Vec<PyReadonlyArray2<f32>>>) -> PyResult<()> {
        let given: Vec<Vec<([usize; 2], Vec<f32>)>> = tensors
            .iter()
            .map(|layer| layer.iter().map(|a| ([a.shape()[0], a.shape()[1]], copied(a))).collect())
            .collect();
        py.allow_threads(|| {
            let mut st = lock(&self.inner);
            let layers = &mut st.layers;
            let fits = given.len() == layers.len()
                && given.iter().zip(layers.iter()).all(|(new, old)| {
                    new.len() == old.len() && new.iter().zip(old).all(|(a, t)| a.0 == [t.rows, t.cols])
                });
            if !fits {
                return Err(crate::Error::Input(
                    "the tensors do not have this recurrent state's layout (see tensors())".into(),
                ));
            }
            for (new, old) in given.into_iter().zip(layers.iter_mut()) {
                for (a, t) in new.into_iter().zip(old.iter_mut()) {
                    t.data = a.1;
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}
