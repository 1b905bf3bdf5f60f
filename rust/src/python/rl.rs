//! RL bindings: group sampling, token log-probs and the GRPO loss with its
//! gradient (the update itself is `Trainer.grpo_step`, in `trainer.rs`, so
//! AdamW's state never leaves Rust). Each copies its inputs into Rust values,
//! then releases the GIL. The typed API is `rnnpy.Model` / `rnnpy.Trainer`.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::arrays::{check_len, copied, grads_dict, to_numpy, tokens2};
use super::errors::input;
use super::model::{check_temperature, PyModel};
use crate::optim::clip_global_norm;
use crate::rl::{self, GrpoBatch, GrpoConfig, SampleConfig};

/// `G` completions per prompt (prompt-major), sampled after feeding each
/// prompt once: `[(token ids, their log-probs at the sampling temperature)]`.
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
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let out = py.allow_threads(|| rl::sample_groups(&model.read(), &prompts, &cfg, &mut rng))?;
    Ok(out.into_iter().map(|c| (c.tokens, c.log_probs)).collect())
}

/// `log softmax(logits / temperature)` at each `seq[b, t]` given `seq[b, < t]`,
/// as float32 `[N, T]`; column 0 is 0.
#[pyfunction]
#[pyo3(signature = (model, sequences, temperature=1.0))]
pub fn rl_token_log_probs<'py>(
    py: Python<'py>,
    model: &PyModel,
    sequences: PyReadonlyArray2<u32>,
    temperature: f32,
) -> PyResult<Bound<'py, PyAny>> {
    let (ids, n, t) = tokens2(&sequences);
    let out = py.allow_threads(|| rl::token_log_probs(&model.read(), &ids, n, t, temperature))?;
    to_numpy(py, out.data, &[n, t])
}

/// A GRPO batch, copied out of numpy arrays once (all per-token arrays
/// `[N, T]`, advantages `[N]`) and checked when used.
#[pyclass(name = "GrpoBatch", module = "rnnpy._core", frozen)]
pub struct PyGrpoBatch {
    seqs: Vec<u32>,
    n: usize,
    t: usize,
    mask: Vec<f32>,
    old: Vec<f32>,
    reference: Option<Vec<f32>>,
    adv: Vec<f32>,
}

#[pymethods]
impl PyGrpoBatch {
    #[new]
    #[pyo3(signature = (sequences, mask, old_log_probs, advantages, ref_log_probs=None))]
    fn new(
        sequences: PyReadonlyArray2<u32>,
        mask: PyReadonlyArray2<f32>,
        old_log_probs: PyReadonlyArray2<f32>,
        advantages: PyReadonlyArray1<f32>,
        ref_log_probs: Option<PyReadonlyArray2<f32>>,
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
        Ok(PyGrpoBatch {
            mask: flat(&mask, "mask")?,
            old: flat(&old_log_probs, "old log-probs")?,
            reference: ref_log_probs.as_ref().map(|r| flat(r, "reference log-probs")).transpose()?,
            seqs,
            n,
            t,
            adv,
        })
    }
}

impl PyGrpoBatch {
    pub fn view(&self) -> GrpoBatch<'_> {
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

/// What one GRPO loss evaluation (or update) measured, before any update.
#[pyclass(name = "GrpoStats", module = "rnnpy._core", frozen, get_all)]
#[derive(Clone, Copy)]
pub struct PyGrpoStats {
    /// The clipped GRPO loss (mean over completion tokens, + β·KL).
    pub loss: f32,
    /// Mean of ρ = π_θ / π_old over completion tokens.
    pub mean_ratio: f32,
    /// Share of completion tokens whose clipped branch was chosen.
    pub clip_fraction: f32,
    /// Mean k3 estimate of KL(π_θ ‖ π_ref) (0 without reference log-probs).
    pub kl: f32,
    /// Completion tokens in the batch.
    pub tokens: usize,
    /// Global L2 norm of the loss gradient (before any clipping).
    pub grad_norm: f32,
}

impl PyGrpoStats {
    pub fn new(s: rl::GrpoStats, grad_norm: f32) -> Self {
        PyGrpoStats {
            loss: s.loss,
            mean_ratio: s.mean_ratio,
            clip_fraction: s.clip_fraction,
            kl: s.kl,
            tokens: s.tokens,
            grad_norm,
        }
    }
}

#[pymethods]
impl PyGrpoStats {
    fn __repr__(&self) -> String {
        format!(
            "GrpoStats(loss={}, mean_ratio={}, clip_fraction={}, kl={}, tokens={}, grad_norm={})",
            self.loss, self.mean_ratio, self.clip_fraction, self.kl, self.tokens, self.grad_norm
        )
    }
}

/// The GRPO loss, its statistics and the gradient of every parameter:
/// `(stats, {name: gradient})`.
#[pyfunction]
#[pyo3(signature = (model, batch, clip=0.2, kl_beta=0.0, temperature=1.0))]
pub fn rl_loss_and_grad<'py>(
    py: Python<'py>,
    model: &PyModel,
    batch: &PyGrpoBatch,
    clip: f32,
    kl_beta: f32,
    temperature: f32,
) -> PyResult<(PyGrpoStats, Bound<'py, PyDict>)> {
    let cfg = GrpoConfig { clip, kl_beta, temperature };
    let (stats, grads, norm, specs) = py.allow_threads(|| -> crate::Result<_> {
        let m = model.read();
        let (stats, mut grads) = rl::grpo_loss_and_grad(&m, batch.view(), cfg)?;
        let norm = clip_global_norm(&mut grads, 0.0); // 0: measure only
        Ok((stats, grads, norm, m.specs.clone()))
    })?;
    Ok((PyGrpoStats::new(stats, norm), grads_dict(py, &specs, grads)?))
}
