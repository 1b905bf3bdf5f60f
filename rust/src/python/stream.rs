//! `TokenStream`: generation one chunk at a time, so Python can show text as
//! it is sampled. Each `next(n)` runs `n` steps of the core's `Generation`
//! with the GIL released; the stream owns its state and random generator,
//! so chunk sizes do not change the tokens. Like the model (see `model.rs`),
//! the stream sits behind a lock: threads sharing one take turns.

use std::sync::Mutex;

use pyo3::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{lock, PyModel};
use crate::generate::{Generation, Sampling};

#[pyclass(name = "TokenStream", module = "rnnpy._core", frozen)]
pub struct PyTokenStream {
    model: Py<PyModel>,
    how: Sampling,
    inner: Mutex<(Generation, ChaCha8Rng)>,
}

#[pymethods]
impl PyTokenStream {
    /// Feeds `prompt` (at least one token) once; sampling is seeded by `seed`.
    #[new]
    #[pyo3(signature = (model, prompt, temperature=0.8, seed=0, top_k=0, top_p=1.0))]
    fn new(
        py: Python<'_>,
        model: Py<PyModel>,
        prompt: Vec<u32>,
        temperature: f32,
        seed: u64,
        top_k: usize,
        top_p: f32,
    ) -> PyResult<Self> {
        let how = Sampling { temperature, top_k, top_p };
        how.check()?;
        let m = model.get();
        let generation = py.allow_threads(|| Generation::start(&m.read(), &prompt))?;
        Ok(PyTokenStream { model, how, inner: Mutex::new((generation, ChaCha8Rng::seed_from_u64(seed))) })
    }

    /// The next `n` token ids (each fed back before the next is drawn).
    fn next(&self, py: Python<'_>, n: usize) -> PyResult<Vec<u32>> {
        let (m, how) = (self.model.get(), &self.how);
        Ok(py.allow_threads(|| {
            let mut inner = lock(&self.inner);
            let (generation, rng) = &mut *inner;
            generation.next(&m.read(), n, how, rng)
        })?)
    }
}
