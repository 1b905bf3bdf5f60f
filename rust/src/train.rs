//! One training step: forward, backward, clip, AdamW. Returns numbers; never prints.

use crate::engine::Tensor;
use crate::error::Result;
use crate::nn::model::{Batch, Model};
use crate::optim::{clip_global_norm, AdamW};

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
}

impl Trainer {
    pub fn new(model: &Model, lr: f32, weight_decay: f32, grad_clip: f32) -> Self {
        Trainer { optimizer: AdamW::new(&model.params, lr, weight_decay), grad_clip }
    }

    /// Forward + backward over `batch`, clip, one AdamW update.
    pub fn step(&mut self, model: &mut Model, batch: Batch, targets: &[u32]) -> Result<StepStats> {
        let (loss, grads) = model.loss_and_grad(batch, targets, true)?;
        let mut grads = grads.expect("gradients requested");
        let grad_norm = self.apply(model, &mut grads);
        Ok(StepStats { loss, grad_norm })
    }

    /// Clips `grads` and updates `model`; returns the pre-clip norm.
    pub fn apply(&mut self, model: &mut Model, grads: &mut [Tensor]) -> f32 {
        let norm = clip_global_norm(grads, self.grad_clip);
        self.optimizer.update(&mut model.params, grads);
        norm
    }
}
