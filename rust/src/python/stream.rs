//! `TokenStream`: generation one chunk at a time, so Python can show text as
//! it is sampled. Each `next(n)` runs `n` steps of the core's `Generation`
//! with the GIL released; the stream owns its state and random generator,
//! so chunk sizes do not change the tokens.

use pyo3::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::PyModel;
use crate::generate::{Generation, Sampling};

#[pyclass(name = "TokenStream", module = "rnnpy._core")]
pub struct PyTokenStream {
    model: Py<PyModel>,
    generation: Generation,
    how: Sampling,
    rng: ChaCha8Rng,
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
        let generation = {
            let m = model.borrow(py);
            let inner = &m.inner;
            py.allow_threads(|| Generation::start(inner, &prompt))?
        };
        Ok(PyTokenStream { model, generation, how, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// The next `n` token ids (each fed back before the next is drawn).
    fn next(&mut self, py: Python<'_>, n: usize) -> PyResult<Vec<u32>> {
        let PyTokenStream { model, generation, how, rng } = self;
        let m = model.borrow(py);
        let inner = &m.inner;
        Ok(py.allow_threads(|| generation.next(inner, n, how, rng))?)
    }
}
