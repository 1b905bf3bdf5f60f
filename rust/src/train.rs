//! One training step: forward, backward, clip, AdamW. Returns numbers; never prints.
//!
//! The step runs on the fused path (`fused/`): the weights are packed once
//! per step (with their transposes, for the backward pass), and each
//! data-parallel chunk keeps its workspace from step to step, so a step
//! allocates nothing once the batch shape is known.

use crate::engine::Tensor;
use crate::error::Result;
use crate::fused::batch;
use crate::fused::model::Workspace;
use crate::fused::weights::ModelWeights;
use crate::nn::model::{Batch, Model};
use crate::optim::{clip_flat, clip_global_norm, AdamW};

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
        let (b, t) = (batch.b, batch.t);
        model.check_tokens(batch.tokens, b, t, "inputs")?;
        model.check_tokens(targets, b, t, "targets")?;
        let routed = !model.config.fast_mode && model.config.effective_top_k() > 0;
        self.weights.pack(model.params(), model.index(), routed, true);
        let loss = batch::loss_and_grad(
            model,
            &self.weights,
            batch.tokens,
            targets,
            b,
            t,
            &mut self.workspaces,
            &mut self.grad,
        );
        let grad_norm = clip_flat(&mut self.grad, self.grad_clip);
        self.optimizer.update_flat(model.params_mut(), &self.grad);
        Ok(StepStats { loss, grad_norm })
    }

    /// Clips per-parameter `grads` (from another loss, e.g. GRPO) and updates
    /// `model`; returns the pre-clip norm.
    pub fn apply(&mut self, model: &mut Model, grads: &mut [Tensor]) -> f32 {
        let norm = clip_global_norm(grads, self.grad_clip);
        self.optimizer.update(model.params_mut(), grads);
        norm
    }
}
