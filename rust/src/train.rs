//! One training step: forward, backward, clip, AdamW. Returns numbers; never prints.
//!
//! The step runs on the fused path (`fused/`): the weights are packed once
//! per step (with their transposes, for the backward pass), and each
//! data-parallel chunk keeps its workspace from step to step, so a step
//! allocates nothing once the batch shape is known.

use crate::engine::Tensor;
use crate::error::{Error, Result};
use crate::fused::batch;
use crate::fused::model::Workspace;
use crate::fused::weights::ModelWeights;
use crate::generate::RecurrentState;
use crate::nn::model::{Batch, Model};
use crate::optim::{clip_flat, clip_global_norm, AdamW};
use crate::rl::{grpo_gradient, GrpoBatch, GrpoConfig, GrpoStats};

/// A step whose loss or gradient norm is not finite (a diverged run) is not
/// applied: the weights and AdamW's state stay as they were.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
}

pub struct Trainer {
    pub optimizer: AdamW,
    /// Global-norm clip (MODEL.md: 1.0); 0 disables clipping.
    pub grad_clip: f32,
    weights: ModelWeights,
    workspaces: Vec<Workspace>,
    grad: Vec<f32>,
}

impl Trainer {
    pub fn new(model: &Model, lr: f32, weight_decay: f32, grad_clip: f32) -> Self {
        Trainer {
            optimizer: AdamW::new(model.params(), lr, weight_decay),
            grad_clip,
            weights: ModelWeights::default(),
            workspaces: Vec::new(),
            grad: Vec::new(),
        }
    }

    /// Forward + backward over `batch`, clip, one AdamW update.
    pub fn step(&mut self, model: &mut Model, batch: Batch, targets: &[u32]) -> Result<StepStats> {
        self.step_from(model, batch, targets, None)
    }

    /// [`Trainer::step`] from `state` when given (sequence b of the batch
    /// continues row b of it), which is then advanced to the batch's end:
    /// truncated BPTT, the state carried across windows without gradient.
    pub fn step_from(
        &mut self,
        model: &mut Model,
        batch: Batch,
        targets: &[u32],
        state: Option<&mut RecurrentState>,
    ) -> Result<StepStats> {
        let loss = self.gradient_into_self(model, batch, targets, 1.0, state)?;
        let grad_norm = clip_flat(&mut self.grad, self.grad_clip);
        if loss.is_finite() && grad_norm.is_finite() {
            self.optimizer.update_flat(model.params_mut(), &self.grad);
        }
        Ok(StepStats { loss, grad_norm })
    }

    /// The gradient of `scale ×` the batch's mean loss into `out` (flat, the
    /// checkpoint's order), without updating anything; returns `scale ×` the
    /// loss. A data-parallel rank computes its share of a global batch with
    /// `scale` = its share of the rows, so that the sum over ranks is the
    /// global batch's gradient.
    pub fn gradient(
        &mut self,
        model: &Model,
        batch: Batch,
        targets: &[u32],
        scale: f32,
        state: Option<&mut RecurrentState>,
        out: &mut [f32],
    ) -> Result<f32> {
        if out.len() != model.num_params() {
            return Err(Error::Input(format!(
                "the gradient buffer holds {} values, the model has {} parameters",
                out.len(),
                model.num_params()
            )));
        }
        let loss = self.gradient_into_self(model, batch, targets, scale, state)?;
        out.copy_from_slice(&self.grad);
        Ok(loss)
    }

    /// Clips a flat gradient (the checkpoint's order) and updates `model`
    /// with it; returns the norm before clipping.
    pub fn apply_flat(&mut self, model: &mut Model, grad: &mut [f32]) -> Result<f32> {
        if grad.len() != model.num_params() {
            return Err(Error::Input(format!(
                "a gradient of {} values for a model of {} parameters",
                grad.len(),
                model.num_params()
            )));
        }
        let norm = clip_flat(grad, self.grad_clip);
        if norm.is_finite() {
            self.optimizer.update_flat(model.params_mut(), grad);
        }
        Ok(norm)
    }

    fn gradient_into_self(
        &mut self,
        model: &Model,
        batch: Batch,
        targets: &[u32],
        scale: f32,
        state: Option<&mut RecurrentState>,
    ) -> Result<f32> {
        let (b, t) = (batch.b, batch.t);
        model.check_tokens(batch.tokens, b, t, "inputs")?;
        model.check_tokens(targets, b, t, "targets")?;
        if let Some(st) = &state {
            st.check(model, b)?;
        }
        let routed = !model.config.fast_mode && model.config.effective_top_k() > 0;
        self.weights.pack(model.params(), model.index(), routed, true);
        let layers = state.map(|s| s.layers.as_mut_slice());
        let loss = batch::loss_and_grad(
            model,
            &self.weights,
            batch.tokens,
            targets,
            b,
            t,
            scale,
            layers,
            &mut self.workspaces,
            &mut self.grad,
        );
        crate::interrupt::check()?; // Ctrl-C cut the pass short: its gradient is garbage, never applied
        Ok(loss)
    }

    /// One GRPO update: the loss's gradient on the fused path (this trainer's
    /// packed weights and workspaces), clip, AdamW. Returns the statistics
    /// before the update and the pre-clip gradient norm.
    pub fn grpo_step(&mut self, model: &mut Model, batch: GrpoBatch, cfg: GrpoConfig) -> Result<(GrpoStats, f32)> {
        let routed = !model.config.fast_mode && model.config.effective_top_k() > 0;
        self.weights.pack(model.params(), model.index(), routed, true);
        let stats = grpo_gradient(model, &self.weights, batch, cfg, &mut self.workspaces, &mut self.grad)?;
        crate::interrupt::check()?; // Ctrl-C cut the pass short: its gradient is garbage, never applied
        let norm = clip_flat(&mut self.grad, self.grad_clip);
        if norm.is_finite() {
            self.optimizer.update_flat(model.params_mut(), &self.grad);
        }
        Ok((stats, norm))
    }

    /// Clips per-parameter `grads` (from another loss) and updates
    /// `model`; returns the pre-clip norm.
    pub fn apply(&mut self, model: &mut Model, grads: &mut [Tensor]) -> f32 {
        let norm = clip_global_norm(grads, self.grad_clip);
        if norm.is_finite() {
            self.optimizer.update(model.params_mut(), grads);
        }
        norm
    }
}
