//! `Trainer`: AdamW state plus one training step (or many) per call, with the
//! GIL released. Supervised steps and GRPO updates share the one AdamW.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray1};
use pyo3::prelude::*;

use super::arrays::{to_numpy, token_pair};
use super::errors::input;
use super::model::{PyModel, PyRecurrentState};
use super::rl::{PyGrpoBatch, PyGrpoStats};
use crate::nn::model::Batch;
use crate::rl::GrpoConfig;
use crate::train::Trainer;

#[pyclass(name = "Trainer", module = "rnnpy._core")]
pub struct PyTrainer {
    inner: Trainer,
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

#[pymethods]
impl PyTrainer {
    #[new]
    #[pyo3(signature = (model, learning_rate=1e-3, weight_decay=0.01, grad_clip=1.0))]
    fn new(model: &PyModel, learning_rate: f32, weight_decay: f32, grad_clip: f32) -> PyResult<Self> {
        check_learning_rate(learning_rate)?;
        check_weight_decay(weight_decay)?;
        check_grad_clip(grad_clip)?;
        Ok(PyTrainer { inner: Trainer::new(&model.inner, learning_rate, weight_decay, grad_clip) })
    }

    #[getter]
    fn optimizer_step(&self) -> usize {
        self.inner.optimizer.step
    }
    #[getter]
    fn learning_rate(&self) -> f32 {
        self.inner.optimizer.lr
    }
    #[setter]
    fn set_learning_rate(&mut self, lr: f32) -> PyResult<()> {
        check_learning_rate(lr)?;
        self.inner.optimizer.lr = lr;
        Ok(())
    }
    #[getter]
    fn weight_decay(&self) -> f32 {
        self.inner.optimizer.weight_decay
    }
    #[setter]
    fn set_weight_decay(&mut self, wd: f32) -> PyResult<()> {
        check_weight_decay(wd)?;
        self.inner.optimizer.weight_decay = wd;
        Ok(())
    }
    #[getter]
    fn grad_clip(&self) -> f32 {
        self.inner.grad_clip
    }
    #[setter]
    fn set_grad_clip(&mut self, clip: f32) -> PyResult<()> {
        check_grad_clip(clip)?;
        self.inner.grad_clip = clip;
        Ok(())
    }

    /// One step on `inputs`/`targets [B, T]`: `(loss, pre-clip grad norm)`.
    /// With `state`, the sequences continue from it and it advances to their
    /// end (truncated BPTT: no gradient flows into it).
    #[pyo3(signature = (model, inputs, targets, state=None))]
    fn step(
        &mut self,
        py: Python<'_>,
        model: &Bound<PyModel>,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        state: Option<PyRefMut<PyRecurrentState>>,
    ) -> PyResult<(f32, f32)> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        let mut m = model.borrow_mut();
        let mut state = state;
        let st = state.as_mut().map(|s| &mut s.inner);
        let (trainer, model) = (&mut self.inner, &mut m.inner);
        let s = py.allow_threads(|| trainer.step_from(model, Batch { tokens: &ids, b, t }, &tg, st))?;
        Ok((s.loss, s.grad_norm))
    }

    /// The gradient of `scale ×` the batch's mean loss into `out` (float32,
    /// one value per parameter, checkpoint order), without an update;
    /// returns `scale ×` the loss. With `state`, as in `step`.
    #[pyo3(signature = (model, inputs, targets, out, scale=1.0, state=None))]
    #[allow(clippy::too_many_arguments)]
    fn gradient(
        &mut self,
        py: Python<'_>,
        model: &Bound<PyModel>,
        inputs: PyReadonlyArray2<u32>,
        targets: PyReadonlyArray2<u32>,
        mut out: PyReadwriteArray1<f32>,
        scale: f32,
        state: Option<PyRefMut<PyRecurrentState>>,
    ) -> PyResult<f32> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (b, t) = (shape[0], shape[1]);
        if !scale.is_finite() {
            return Err(input(format!("scale must be finite, got {scale}")));
        }
        let out = out.as_slice_mut().map_err(|_| input("the gradient buffer must be a contiguous float32 array"))?;
        let m = model.borrow();
        let mut state = state;
        let st = state.as_mut().map(|s| &mut s.inner);
        let (trainer, model) = (&mut self.inner, &m.inner);
        Ok(py.allow_threads(|| trainer.gradient(model, Batch { tokens: &ids, b, t }, &tg, scale, st, out))?)
    }

    /// Clip + AdamW from a flat gradient (checkpoint order), clipped in place
    /// (no copy: a data-parallel rank passes its all-reduced buffer); returns
    /// the pre-clip norm. `gradient` and then this is one `step`.
    fn apply_gradient(
        &mut self,
        py: Python<'_>,
        model: &Bound<PyModel>,
        mut grad: PyReadwriteArray1<f32>,
    ) -> PyResult<f32> {
        let g = grad.as_slice_mut().map_err(|_| input("the gradient must be a contiguous float32 array"))?;
        let mut m = model.borrow_mut();
        let (trainer, model) = (&mut self.inner, &mut m.inner);
        Ok(py.allow_threads(|| trainer.apply_flat(model, g))?)
    }

    /// `N` steps on `inputs`/`targets [N, B, T]` in one call; returns per-step
    /// losses and pre-clip norms `[N]` each.
    fn steps<'py>(
        &mut self,
        py: Python<'py>,
        model: &Bound<PyModel>,
        inputs: PyReadonlyArray3<u32>,
        targets: PyReadonlyArray3<u32>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (ids, tg, shape) = token_pair(&inputs, &targets)?;
        let (n, b, t) = (shape[0], shape[1], shape[2]);
        let mut m = model.borrow_mut();
        let (trainer, model) = (&mut self.inner, &mut m.inner);
        let stats = py.allow_threads(|| {
            (0..n)
                .map(|i| {
                    let r = i * b * t..(i + 1) * b * t;
                    trainer.step(model, Batch { tokens: &ids[r.clone()], b, t }, &tg[r])
                })
                .collect::<crate::Result<Vec<_>>>()
        })?;
        let losses = stats.iter().map(|s| s.loss).collect();
        let norms = stats.iter().map(|s| s.grad_norm).collect();
        Ok((to_numpy(py, losses, &[n])?, to_numpy(py, norms, &[n])?))
    }

    /// One GRPO update of `model`: the loss and its gradient (log-probs at
    /// `temperature`, the sampling one), global-norm clip, AdamW (this
    /// trainer's moments and step). Returns the statistics before the
    /// update, with the pre-clip gradient norm.
    #[pyo3(signature = (model, batch, clip=0.2, kl_beta=0.0, temperature=1.0))]
    fn grpo_step(
        &mut self,
        py: Python<'_>,
        model: &Bound<PyModel>,
        batch: &PyGrpoBatch,
        clip: f32,
        kl_beta: f32,
        temperature: f32,
    ) -> PyResult<PyGrpoStats> {
        let mut m = model.borrow_mut();
        let (trainer, model) = (&mut self.inner, &mut m.inner);
        let cfg = GrpoConfig { clip, kl_beta, temperature };
        let (stats, norm) = py.allow_threads(|| trainer.grpo_step(model, batch.view(), cfg))?;
        Ok(PyGrpoStats::new(stats, norm))
    }

    /// AdamW state: `(step, m, v)` with `m`, `v` flat float32 (checkpoint order).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<(usize, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        super::arrays::optimizer_state(py, &self.inner.optimizer)
    }

    /// Restores AdamW state saved by `state()` or read from a checkpoint.
    fn set_state(&mut self, step: usize, m: PyReadonlyArray1<f32>, v: PyReadonlyArray1<f32>) -> PyResult<()> {
        super::arrays::set_optimizer_state(&mut self.inner.optimizer, step, m, v)
    }
}
