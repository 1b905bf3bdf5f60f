//! `Trainer`: AdamW state plus one training step (or many) per call, with the
//! GIL released. Supervised steps and GRPO updates share the one AdamW.
//!
//! Like the model (see `model.rs`), the trainer sits behind a lock waited
//! for with the GIL released: threads sharing one take turns. Locks are
//! always taken in the order trainer, model, state.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray1};
use pyo3::prelude::*;

use super::arrays::{to_numpy, token_pair};
use super::errors::input;
use super::model::{lock, PyModel, PyRecurrentState};
use super::rl::{PyGrpoBatch, PyGrpoStats};
use crate::nn::model::Batch;
use crate::nn::Model;
use crate::rl::GrpoConfig;
use crate::train::{StepStats, Trainer};

/// Python's signal handlers (Ctrl-C) run at least this often during `steps`.
const SIGNAL_CHECK_EVERY: Duration = Duration::from_millis(50);

struct State {
    trainer: Trainer,
    /// The most positions per step whose memory has been checked: larger
    /// batches are checked before their buffers grow.
    checked_rows: usize,
}

impl State {
    fn check_batch_memory(&mut self, model: &Model, b: usize, t: usize) -> crate::Result<()> {
        if b.saturating_mul(t) > self.checked_rows {
            model.config.check_training_memory(b, t)?;
            self.checked_rows = b.saturating_mul(t);
        }
        Ok(())
    }
}

#[pyclass(name = "Trainer", module = "rnnpy._core", frozen)]
pub struct PyTrainer {
    inner: Mutex<State>,
}

fn check_learning_rate(lr: f32) -> PyResult<()> {
    if lr > 0.0 && lr.is_finite() {
        Ok(())
    } else {
        Err(input(format!("learning_rate must be positive, got {lr}")))
    }
}

fn check_weight_decay(wd: f32) -> PyResult<()> {
    if wd >= 0.0 && wd.is_finite() {
        Ok(())
    } else {
        Err(input(format!("weight_decay must be non-negative, got {wd}")))
    }
}

fn check_grad_clip(clip: f32) -> PyResult<()> {
    if clip >= 0.0 && clip.is_finite() {
        Ok(())
    } else {
        Err(input(format!("grad_clip must be non-negative (0 disables clipping), got {clip}")))
    }
}

impl PyTrainer {
    /// Runs `f` on the trainer with the GIL released.
    fn with<T: Send>(&self, py: Python<'_>, f: impl Send + FnOnce(&mut State) -> T) -> T {
        py.allow_threads(|| f(&mut lock(&self.inner)))
    }
}

/// `steps` returns early: at Ctrl-C (a stop requested, see `interrupt.rs`),
/// or after a step that was not applied because its loss or gradient norm
/// is not finite (unless such steps are to be skipped).
fn run_steps(
    state: &mut State,
    model: &mut Model,
    ids: &[u32],
    tg: &[u32],
    (n, b, t): (usize, usize, usize),
    skip_non_finite: bool,
) -> PyResult<Vec<StepStats>> {
    state.check_batch_memory(model, b, t)?;
    let mut stats = Vec::with_capacity(n);
    let mut last_signal_check = Instant::now();
    for i in 0..n {
        if crate::interrupt::stop_requested() {
            break;
        }
        if last_signal_check.elapsed() >= SIGNAL_CHECK_EVERY {
            // Let Python's Ctrl-C handler run (a plain KeyboardInterrupt when none is installed).
            Python::with_gil(|py| py.check_signals())?;
            last_signal_check = Instant::now();
        }
        let r = i * b * t..(i + 1) * b * t;
        match state.trainer.step(model, Batch { tokens: &ids[r.clone()], b, t }, &tg[r]) {
            Ok(s) => {
                stats.push(s);
                let applied = s.loss.is_finite() && s.grad_norm.is_finite();
                if !applied && !skip_non_finite {
                    break;
                }
            }
            Err(crate::Error::Interrupted) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stats)
}

#[pymethods]
impl PyTrainer {
    #[new]
    #[pyo3(signature = (model, learning_rate=1e-3, weight_decay=0.01, grad_clip=1.0))]
    fn new(py: Python<'_>, model: &PyModel, learning_rate: f32, weight_decay: f32, grad_clip: f32) -> PyResult<Self> {
        check_learning_rate(learning_rate)?;
        check_weight_decay(weight_decay)?;
        check_grad_clip(grad_clip)?;
        let trainer = py.allow_threads(|| {
            let m = model.read();
            // AdamW's moments, the summed gradient and the packed weights with their transposes.
            let bytes = 4 * 5 * m.num_params() as u128;
            crate::memory::ensure(bytes, || format!("an AdamW trainer for {}", m.config.describe_model()))?;
            Ok::<_, crate::Error>(Trainer::new(&m, learning_rate, weight_decay, grad_clip))
        })?;
        Ok(PyTrainer { inner: Mutex::new(State { trainer, checked_rows: 0 }) })
    }

    #[getter]
    fn optimizer_step(&self, py: Python<'_>) -> usize {
        self.with(py, |s| s.trainer.optimizer.step)
    }
    #[getter]
    fn learning_rate(&self, py: Python<'_>) -> f32 {
        self.with(py, |s| s.trainer.optimizer.lr)
    }
    #[setter]
    fn set_learning_rate(&self, py: Python<'_>, lr: f32) -> PyResult<()> {
        check_learning_rate(lr)?;
        self.with(py, |s| s.trainer.optimizer.lr = lr);
        Ok(())
    }
    #[getter]
    fn weight_decay(&self, py: Python<'_>) -> f32 {
        self.with(py, |s| s.trainer.optimizer.weight_decay)
    }
    #[setter]
    fn set_weight_decay(&self, py: Python<'_>, wd: f32) -> PyResult<()> {
        check_weight_decay(wd)?;
        self.with(py, |s| s.trainer.optimizer.weight_decay = wd);
        Ok(())
    }
    #[getter]
    fn grad_clip(&self, py: Python<'_>) -> f32 {
        self.with(py, |s| s.trainer.grad_clip)
    }
    #[setter]
    fn set_grad_clip(&self, py: Python<'_>, clip: f32) -> PyResult<()> {
        check_grad_clip(clip)?;
        self.with(py, |s| s.trainer.grad_clip = clip);
        Ok(())
    }

    /// One step on `inputs`/`targets [B, T]`: `(loss, pre-clip grad norm)`.
    /// With `state`, the sequences continue from it and it advances to their
    /// end (truncated BPTT: no gradient flows into it). A step whose loss or
    /// norm is not finite is not applied.
    #[pyo3(signature = (model, inputs, targets, state=None))]
    fn step(
        &self,
        py: Python<'_>,
        model: &PyModel,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        state: Option<&PyRecurrentState>,
    ) -> PyResult<(f32, f32)> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        let s = self.with(py, |s| {
            let mut m = model.write();
            s.check_batch_memory(&m, b, t)?;
            let mut st = state.map(|st| lock(&st.inner));
            s.trainer.step_from(&mut m, Batch { tokens: &ids, b, t }, &tg, st.as_deref_mut())
        })?;
        Ok((s.loss, s.grad_norm))
    }

    /// The gradient of `scale ×` the batch's mean loss into `out` (float32,
    /// one value per parameter, checkpoint order), without an update;
    /// returns `scale ×` the loss. With `state`, as in `step`.
    #[pyo3(signature = (model, inputs, targets, out, scale=1.0, state=None))]
    #[allow(clippy::too_many_arguments)]
    fn gradient(
        &self,
        py: Python<'_>,
        model: &PyModel,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        mut out: PyReadwriteArray1<f32>,
        scale: f32,
        state: Option<&PyRecurrentState>,
    ) -> PyResult<f32> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        if !scale.is_finite() {
            return Err(input(format!("scale must be finite, got {scale}")));
        }
        let out = out.as_slice_mut().map_err(|_| input("the gradient buffer must be a contiguous float32 array"))?;
        Ok(self.with(py, |s| {
            let m = model.read();
            s.check_batch_memory(&m, b, t)?;
            let mut st = state.map(|st| lock(&st.inner));
            s.trainer.gradient(&m, Batch { tokens: &ids, b, t }, &tg, scale, st.as_deref_mut(), out)
        })?)
    }

    /// Clip + AdamW from a flat gradient (checkpoint order), clipped in place
    /// (no copy: a data-parallel rank passes its all-reduced buffer); returns
    /// the pre-clip norm (not applied when it is not finite). `gradient` and
    /// then this is one `step`.
    fn apply_gradient(&self, py: Python<'_>, model: &PyModel, mut grad: PyReadwriteArray1<f32>) -> PyResult<f32> {
        let g = grad.as_slice_mut().map_err(|_| input("the gradient must be a contiguous float32 array"))?;
        Ok(self.with(py, |s| s.trainer.apply_flat(&mut model.write(), g))?)
    }

    /// Up to `N` steps on `inputs`/`targets [N, B, T]` in one call; returns
    /// per-step losses and pre-clip norms. Fewer than `N` when Ctrl-C
    /// stopped it (the interrupted step is not applied) or when a step's loss
    /// or norm was not finite: that step, not applied, is the last one
    /// returned — unless `skip_non_finite`, which goes on after it.
    #[pyo3(signature = (model, inputs, targets, skip_non_finite=false))]
    fn steps<'py>(
        &self,
        py: Python<'py>,
        model: &PyModel,
        inputs: PyReadonlyArray3<u32>,
        targets: PyReadonlyArray3<u32>,
        skip_non_finite: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let dims = (shape[0], shape[1], shape[2]);
        let stats = self.with(py, |s| run_steps(s, &mut model.write(), &ids, &tg, dims, skip_non_finite))?;
        let losses = stats.iter().map(|s| s.loss).collect();
        let norms = stats.iter().map(|s| s.grad_norm).collect();
        Ok((to_numpy(py, losses, &[stats.len()])?, to_numpy(py, norms, &[stats.len()])?))
    }

    /// One GRPO update of `model`: the loss and its gradient (log-probs at
    /// `temperature`, the sampling one), global-norm clip, AdamW (this
    /// trainer's moments and step). Returns the statistics before the
    /// update, with the pre-clip gradient norm.
    #[pyo3(signature = (model, batch, clip=0.2, kl_beta=0.0, temperature=1.0))]
    fn grpo_step(
        &self,
        py: Python<'_>,
        model: &PyModel,
        batch: &PyGrpoBatch,
        clip: f32,
        kl_beta: f32,
        temperature: f32,
    ) -> PyResult<PyGrpoStats> {
        let cfg = GrpoConfig { clip, kl_beta, temperature };
        let (stats, norm) = self.with(py, |s| -> crate::Result<_> {
            let mut m = model.write();
            s.trainer.grpo_step(&mut m, batch.view(), cfg)
        })?;
        Ok(PyGrpoStats::new(stats, norm))
    }

    /// AdamW state: `(step, m, v)` with `m`, `v` flat float32 (checkpoint order).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<(usize, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (step, (m, v)) = self.with(py, |s| (s.trainer.optimizer.step, s.trainer.optimizer.flat_moments()));
        let n = m.len();
        Ok((step, to_numpy(py, m, &[n])?, to_numpy(py, v, &[n])?))
    }

    /// Restores AdamW state saved by `state()` or read from a checkpoint.
    fn set_state(
        &self,
        py: Python<'_>,
        step: usize,
        m: PyReadonlyArray1<f32>,
        v: PyReadonlyArray1<f32>,
    ) -> PyResult<()> {
        let (m, v) = (super::arrays::copied(&m), super::arrays::copied(&v));
        Ok(self.with(py, |s| s.trainer.optimizer.set_flat_state(step, &m, &v))?)
    }
}
