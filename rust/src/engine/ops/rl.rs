//! The GRPO objective as one fused op over per-token log-probabilities.
//!
//! Row `i` of the input is `log π_θ(token_i | prefix)` for one token (from
//! `token_log_prob`); each row carries its old log-prob, its sequence's
//! advantage, an optional reference log-prob and a weight (`1 / #completion
//! tokens` for completion tokens, 0 for prompt and padding rows). With
//! `ρ = exp(logπ − logπ_old)` and `x = logπ_ref − logπ`:
//!
//! ```text
//! loss = Σ_i w_i · ( −min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) + β·(e^x − x − 1) )
//! ```
//!
//! `e^x − x − 1` is the "k3" estimator of KL(π_θ ‖ π_ref): ≥ 0, 0 when equal.
//!
//! d loss / d logπ_i = w_i · ( −A·ρ [unclipped branch chosen] + β·(1 − e^x) ).
//! When the clipped branch is strictly smaller it is constant in θ, so the
//! token gives no policy gradient: that is what keeps an update near π_old.

use crate::engine::tape::{Grads, Op, Tape, Var};
use crate::engine::tensor::Tensor;

/// Per-row constants of the GRPO loss (all of length `M`, the rows of `logp`).
#[derive(Debug, Clone)]
pub struct GrpoRows {
    pub old_log_probs: Vec<f32>,
    /// `None`: no KL term (β is then ignored).
    pub ref_log_probs: Option<Vec<f32>>,
    pub advantages: Vec<f32>,
    pub weights: Vec<f32>,
}

#[derive(Debug)]
pub enum RlOp {
    /// GRPO loss, `logp [M, 1] -> [1, 1]`
    Grpo { logp: Var, rows: GrpoRows, clip: f32, beta: f32 },
}

/// What one token contributes: `(loss term, d term / d logπ)`, unweighted.
pub fn grpo_token(logp: f32, old: f32, reference: Option<f32>, adv: f32, clip: f32, beta: f32) -> (f32, f32) {
    let rho = (logp - old).exp();
    let unclipped = rho * adv;
    let clipped = rho.clamp(1.0 - clip, 1.0 + clip) * adv;
    // Ties (ρ inside the clip range) take the unclipped branch and its gradient.
    let (mut loss, mut d) = if unclipped <= clipped { (-unclipped, -unclipped) } else { (-clipped, 0.0) };
    if let Some(r) = reference {
        let x = r - logp;
        let ex = x.exp();
        loss += beta * (ex - x - 1.0);
        d += beta * (1.0 - ex);
    }
    (loss, d)
}

impl Tape<'_> {
    /// The GRPO loss of the module docs: `logp [M, 1] -> [1, 1]`.
    pub fn grpo_loss(&mut self, logp: Var, rows: GrpoRows, clip: f32, beta: f32) -> Var {
        let lv = self.value(logp);
        let m = lv.rows;
        assert_eq!(lv.cols, 1, "grpo_loss: log-probs must be one column, got {}", lv.cols);
        assert!(
            rows.old_log_probs.len() == m && rows.advantages.len() == m && rows.weights.len() == m,
            "grpo_loss: per-row constants must have {m} entries"
        );
        if let Some(r) = &rows.ref_log_probs {
            assert_eq!(r.len(), m, "grpo_loss: reference log-probs must have {m} entries");
        }
        let mut total = 0.0f64;
        for i in 0..m {
            if rows.weights[i] == 0.0 {
                continue;
            }
            let reference = rows.ref_log_probs.as_ref().map(|r| r[i]);
            let (loss, _) = grpo_token(lv.data[i], rows.old_log_probs[i], reference, rows.advantages[i], clip, beta);
            total += rows.weights[i] as f64 * loss as f64;
        }
        let ng = self.needs_grad(logp);
        self.push(Op::Rl(RlOp::Grpo { logp, rows, clip, beta }), Tensor::from_vec(1, 1, vec![total as f32]), ng)
    }
}

pub(crate) fn backward(op: &RlOp, tape: &Tape, _out: Var, g: &Tensor, grads: &mut Grads) {
    match op {
        RlOp::Grpo { logp, rows, clip, beta } => {
            let lv = &tape.value(*logp).data;
            if let Some(d) = grads.get(*logp) {
                for (i, x) in d.data.iter_mut().enumerate() {
                    if rows.weights[i] == 0.0 {
                        continue;
                    }
                    let reference = rows.ref_log_probs.as_ref().map(|r| r[i]);
                    let (_, dl) = grpo_token(lv[i], rows.old_log_probs[i], reference, rows.advantages[i], *clip, *beta);
                    *x += g.data[0] * rows.weights[i] * dl;
                }
            }
        }
    }
}
