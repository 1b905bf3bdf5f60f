//! RL bindings: group sampling, token log-probs, the GRPO loss and gradient,
//! and an optimizer that applies it (the core `Trainer`'s clip + AdamW). Each
//! copies its inputs into Rust values, then releases the GIL.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::arrays::{check_len, copied, grads_dict, to_numpy, tokens2};
use super::errors::input;
use super::model::{check_temperature, PyModel};
use crate::rl::{self, GrpoBatch, GrpoConfig, GrpoStats, SampleConfig};
use crate::train::Trainer;

/// `G` completions per prompt (prompt-major), sampled after feeding each
/// prompt once: `[(token ids, log-probs under the policy at temperature 1)]`.
#[pyfunction]
#[pyo3(signature = (model, prompts, group_size, max_len, stop_ids, temperature=1.0, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn rl_sample_groups(
    py: Python<'_>,
    model: &PyModel,
    prompts: Vec<Vec<u32>>,
    group_size: usize,
    max_len: usize,
    stop_ids: Vec<u32>,
    temperature: f32,
    seed: u64,
) -> PyResult<Vec<(Vec<u32>, Vec<f32>)>> {
    check_temperature(temperature)?;
    let cfg = SampleConfig { group_size, max_len, stop_ids, temperature };
    let model = &model.inner;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let out = py.allow_threads(|| rl::sample_groups(model, &prompts, &cfg, &mut rng))?;
    Ok(out.into_iter().map(|c| (c.tokens, c.log_probs)).collect())
}

/// `log π(seq[b, t] | seq[b, < t])` as float32 `[N, T]`; column 0 is 0.
#[pyfunction]
pub fn rl_token_log_probs<'py>(
    py: Python<'py>,
    model: &PyModel,
    sequences: PyReadonlyArray2<u32>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ids, n, t) = tokens2(&sequences);
    let model = &model.inner;
    let out = py.allow_threads(|| rl::token_log_probs(model, &ids, n, t))?;
    to_numpy(py, out.data, &[n, t])
}

/// A GRPO batch copied out of numpy arrays (all per-token arrays `[N, T]`).
struct OwnedBatch {
    seqs: Vec<u32>,
    n: usize,
    t: usize,
    mask: Vec<f32>,
    old: Vec<f32>,
    reference: Option<Vec<f32>>,
    adv: Vec<f32>,
}

impl OwnedBatch {
    fn new(
        sequences: PyReadonlyArray2<u32>,
        mask: PyReadonlyArray2<f32>,
        old: PyReadonlyArray2<f32>,
        reference: Option<PyReadonlyArray2<f32>>,
        advantages: PyReadonlyArray1<f32>,
    ) -> PyResult<Self> {
        let (seqs, n, t) = tokens2(&sequences);
        let flat = |a: &PyReadonlyArray2<f32>, what: &str| -> PyResult<Vec<f32>> {
            if a.shape() != [n, t] {
                return Err(input(format!("{what} has shape {:?}, sequences [{n}, {t}]", a.shape())));
            }
            Ok(copied(a))
        };
        let adv = copied(&advantages);
        check_len("advantages", adv.len(), n)?;
        Ok(OwnedBatch {
            mask: flat(&mask, "mask")?,
            old: flat(&old, "old log-probs")?,
            reference: reference.as_ref().map(|r| flat(r, "reference log-probs")).transpose()?,
            seqs,
            n,
            t,
            adv,
        })
    }

    fn view(&self) -> GrpoBatch<'_> {
        GrpoBatch {
            sequences: &self.seqs,
            n: self.n,
            t: self.t,
            mask: &self.mask,
            old_log_probs: &self.old,
            ref_log_probs: self.reference.as_deref(),
            advantages: &self.adv,
        }
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &GrpoStats, grad_norm: Option<f32>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("loss", s.loss)?;
    d.set_item("mean_ratio", s.mean_ratio)?;
    d.set_item("clip_fraction", s.clip_fraction)?;
    d.set_item("kl", s.kl)?;
    d.set_item("tokens", s.tokens)?;
    if let Some(g) = grad_norm {
        d.set_item("grad_norm", g)?;
    }
    Ok(d)
}

/// The GRPO loss, its statistics and the gradient of every parameter:
/// `(stats, {name: gradient})`.
#[pyfunction]
#[pyo3(signature = (model, sequences, mask, old_log_probs, ref_log_probs, advantages, clip=0.2, kl_beta=0.0))]
#[allow(clippy::too_many_arguments)]
pub fn rl_loss_and_grad<'py>(
    py: Python<'py>,
    model: &PyModel,
    sequences: PyReadonlyArray2<u32>,
    mask: PyReadonlyArray2<f32>,
    old_log_probs: PyReadonlyArray2<f32>,
    ref_log_probs: Option<PyReadonlyArray2<f32>>,
    advantages: PyReadonlyArray1<f32>,
    clip: f32,
    kl_beta: f32,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let batch = OwnedBatch::new(sequences, mask, old_log_probs, ref_log_probs, advantages)?;
    let m = &model.inner;
    let (stats, grads) = py.allow_threads(|| rl::grpo_loss_and_grad(m, batch.view(), GrpoConfig { clip, kl_beta }))?;
    Ok((stats_dict(py, &stats, None)?, grads_dict(py, m, grads)?))
}

/// The RL phase's optimizer: a core `Trainer` (global-norm clip + AdamW)
/// whose steps are GRPO gradients.
#[pyclass(name = "RlOptimizer", module = "rnnpy._core")]
pub struct PyRlOptimizer {
    inner: Trainer,
}

#[pymethods]
impl PyRlOptimizer {
    #[new]
    #[pyo3(signature = (model, learning_rate=1e-4, weight_decay=0.0, grad_clip=1.0))]
    fn new(model: &PyModel, learning_rate: f32, weight_decay: f32, grad_clip: f32) -> Self {
        PyRlOptimizer { inner: Trainer::new(&model.inner, learning_rate, weight_decay, grad_clip) }
    }

    #[getter]
    fn optimizer_step(&self) -> usize {
        self.inner.optimizer.step
    }

    /// One GRPO update: loss and gradient, clip, AdamW. Returns the statistics
    /// (before the update) and the pre-clip gradient norm.
    #[pyo3(signature = (model, sequences, mask, old_log_probs, ref_log_probs, advantages, clip=0.2, kl_beta=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        model: &Bound<PyModel>,
        sequences: PyReadonlyArray2<u32>,
        mask: PyReadonlyArray2<f32>,
        old_log_probs: PyReadonlyArray2<f32>,
        ref_log_probs: Option<PyReadonlyArray2<f32>>,
        advantages: PyReadonlyArray1<f32>,
        clip: f32,
        kl_beta: f32,
    ) -> PyResult<Bound<'py, PyDict>> {
        let batch = OwnedBatch::new(sequences, mask, old_log_probs, ref_log_probs, advantages)?;
        let mut m = model.borrow_mut();
        let (trainer, model) = (&mut self.inner, &mut m.inner);
        let (stats, norm) = py.allow_threads(|| -> crate::Result<(GrpoStats, f32)> {
            let (stats, mut grads) = rl::grpo_loss_and_grad(model, batch.view(), GrpoConfig { clip, kl_beta })?;
            Ok((stats, trainer.apply(model, &mut grads)))
        })?;
        stats_dict(py, &stats, Some(norm))
    }

    /// AdamW state `(step, m, v)`, flat float32 in checkpoint order.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<(usize, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        super::arrays::optimizer_state(py, &self.inner.optimizer)
    }

    /// Restores AdamW state (e.g. from a supervised `Trainer.state()`).
    fn set_state(&mut self, step: usize, m: PyReadonlyArray1<f32>, v: PyReadonlyArray1<f32>) -> PyResult<()> {
        super::arrays::set_optimizer_state(&mut self.inner.optimizer, step, m, v)
    }
}
