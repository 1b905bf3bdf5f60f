//! Per-token log-probs of given sequences, and the GRPO loss and gradient.
//!
//! Sequences are `[N, T]` (prompt + completion, right-padded). Position `t ≥ 1`
//! of a sequence is predicted by the model after reading positions `< t`, so
//! per-token arrays are `[N, T]` with column 0 unused (0). The model reads the
//! sequence from zero state, exactly as sampling fed the prompt; right padding
//! never changes earlier positions of a recurrent model.
//!
//! Log-probs are taken at a temperature τ, `log softmax(logits / τ)`, the
//! distribution the completions were sampled from (TRL's GRPO does the same),
//! so that `π_θ / π_old` is the importance ratio; τ = 1 is the model itself.
//!
//! Both run on the fused path (chunks of sequences in parallel, the GRPO
//! term's gradient per logits row); `reference_*` are the same on the tape,
//! for the tests.

use rayon::prelude::*;

use crate::engine::ops::rl::{grpo_token, GrpoRows};
use crate::engine::{Tape, Tensor};
use crate::error::{Error, Result};
use crate::fused::acts::size;
use crate::fused::batch::{chunks, inference_chunks};
use crate::fused::kernels::softmax_xent;
use crate::fused::model::{backward_from_rows, forward, Workspace};
use crate::fused::weights::ModelWeights;
use crate::nn::model::{Batch, Model};

/// One GRPO batch; every per-token array is `[N, T]`, row-major.
#[derive(Clone, Copy)]
pub struct GrpoBatch<'a> {
    pub sequences: &'a [u32],
    pub n: usize,
    pub t: usize,
    /// 1 at completion tokens (the ones the loss covers), 0 elsewhere; column 0 must be 0.
    pub mask: &'a [f32],
    pub old_log_probs: &'a [f32],
    pub ref_log_probs: Option<&'a [f32]>,
    /// One per sequence, `[N]`.
    pub advantages: &'a [f32],
}

#[derive(Clone, Copy, Debug)]
pub struct GrpoConfig {
    /// ε of the clipped ratio.
    pub clip: f32,
    /// β of the KL penalty (used only with reference log-probs).
    pub kl_beta: f32,
    /// τ of the log-probs: the sampling temperature (see the module docs).
    pub temperature: f32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GrpoStats {
    pub loss: f32,
    /// Mean of ρ = π_θ / π_old over completion tokens.
    pub mean_ratio: f32,
    /// Share of completion tokens whose clipped branch was chosen (no gradient).
    pub clip_fraction: f32,
    /// Mean k3 estimate of KL(π_θ ‖ π_ref) over completion tokens (0 without a reference).
    pub kl: f32,
    pub tokens: usize,
}

/// The forward pass over `sequences[:, :-1]`; returns the tape's per-row
/// log-prob var at temperature τ (time-major rows `t·N + b` predicting position `t + 1`).
fn record_log_probs(model: &Model, tape: &mut Tape, seqs: &[u32], n: usize, t: usize, tau: f32) -> crate::engine::Var {
    let inputs: Vec<u32> = (0..n).flat_map(|b| seqs[b * t..b * t + t - 1].iter().copied()).collect();
    let targets: Vec<usize> = (1..t).flat_map(|ti| (0..n).map(move |b| seqs[b * t + ti] as usize)).collect();
    let (logits, _) = model.forward(tape, Batch { tokens: &inputs, b: n, t: t - 1 }, None);
    let scaled = if tau == 1.0 { logits } else { tape.scale(logits, 1.0 / tau) };
    tape.token_log_prob(scaled, targets)
}

fn check_sequences(model: &Model, seqs: &[u32], n: usize, t: usize, tau: f32) -> Result<()> {
    if t < 2 {
        return Err(Error::Input(format!("RL sequences need at least 2 positions, got shape [{n}, {t}]")));
    }
    if !(tau > 0.0 && tau.is_finite()) {
        return Err(Error::Input(format!("RL log-probs need a positive, finite temperature, got {tau}")));
    }
    model.check_tokens(seqs, n, t, "sequences")
}

/// Divides a logits row by τ in place (nothing to do at τ = 1, so the bits
/// of the untempered path do not change).
fn temper(row: &mut [f32], tau: f32) {
    if tau != 1.0 {
        let inv = 1.0 / tau;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// `seq[:, :-1]`, the inputs that predict positions 1.., batch-major `[N, T − 1]`.
fn inputs_of(seqs: &[u32], n: usize, t: usize) -> Vec<u32> {
    (0..n).flat_map(|b| seqs[b * t..b * t + t - 1].iter().copied()).collect()
}

/// `log π_τ(seq[b, t] | seq[b, < t])` for every position, `[N, T]` (column 0
/// is 0), at temperature `tau`, without gradient.
pub fn token_log_probs(model: &Model, seqs: &[u32], n: usize, t: usize, tau: f32) -> Result<Tensor> {
    check_sequences(model, seqs, n, t, tau)?;
    let (w, inputs, v) = (model.inference_weights(), inputs_of(seqs, n, t), model.config.vocab_size);
    let parts = inference_chunks(n);
    let per_chunk: Vec<Vec<f32>> = parts
        .par_iter()
        .map(|&(s, e)| {
            let mut ws = Workspace::default();
            forward(model, &w, &inputs[s * (t - 1)..e * (t - 1)], e - s, t - 1, None, &mut ws);
            let nb = e - s;
            // Time-major row r is position r / nb + 1 of sequence s + r % nb.
            ws.logits
                .chunks_exact_mut(v)
                .enumerate()
                .map(|(r, row)| {
                    let target = seqs[(s + r % nb) * t + r / nb + 1] as usize;
                    temper(row, tau);
                    let (lse, picked) = softmax_xent(row, target, 0.0, false);
                    picked - lse
                })
                .collect()
        })
        .collect();
    let mut out = Tensor::zeros(n, t);
    for (&(s, e), lp) in parts.iter().zip(&per_chunk) {
        let nb = e - s;
        for (r, &x) in lp.iter().enumerate() {
            out.data[(s + r % nb) * t + r / nb + 1] = x;
        }
    }
    Ok(out)
}

/// [`token_log_probs`] on the tape.
pub fn reference_token_log_probs(model: &Model, seqs: &[u32], n: usize, t: usize, tau: f32) -> Result<Tensor> {
    check_sequences(model, seqs, n, t, tau)?;
    let mut tape = Tape::new(model.params());
    let lp = record_log_probs(model, &mut tape, seqs, n, t, tau);
    let lv = tape.value(lp);
    let mut out = Tensor::zeros(n, t);
    for ti in 1..t {
        for b in 0..n {
            out.data[b * t + ti] = lv.data[(ti - 1) * n + b];
        }
    }
    Ok(out)
}

fn check_batch(model: &Model, b: &GrpoBatch, cfg: &GrpoConfig) -> Result<usize> {
    check_sequences(model, b.sequences, b.n, b.t, cfg.temperature)?;
    let nt = b.n * b.t;
    let sized = |what: &str, len: usize, want: usize| {
        if len == want {
            Ok(())
        } else {
            Err(Error::Input(format!("GRPO {what}: {len} values given, {want} expected")))
        }
    };
    sized("mask", b.mask.len(), nt)?;
    sized("old log-probs", b.old_log_probs.len(), nt)?;
    if let Some(r) = b.ref_log_probs {
        sized("reference log-probs", r.len(), nt)?;
    }
    sized("advantages", b.advantages.len(), b.n)?;
    let valid_beta = cfg.kl_beta >= 0.0; // false for NaN
    if !(cfg.clip > 0.0 && cfg.clip < 1.0 && valid_beta) {
        return Err(Error::Input(format!(
            "GRPO needs 0 < clip < 1 and kl_beta ≥ 0, got clip {} and kl_beta {}",
            cfg.clip, cfg.kl_beta
        )));
    }
    if b.mask.iter().any(|&m| m != 0.0 && m != 1.0) {
        return Err(Error::Input("GRPO mask values must be 0 or 1".into()));
    }
    if (0..b.n).any(|r| b.mask[r * b.t] != 0.0) {
        return Err(Error::Input(
            "GRPO mask: position 0 of a sequence has no prediction and cannot be a completion token".into(),
        ));
    }
    let finite = |xs: &[f32]| xs.iter().all(|x| x.is_finite());
    if !finite(b.advantages) || !finite(b.old_log_probs) || !b.ref_log_probs.is_none_or(finite) {
        return Err(Error::Input("GRPO advantages and log-probs must be finite".into()));
    }
    let count = b.mask.iter().filter(|&&m| m == 1.0).count();
    if count == 0 {
        return Err(Error::Input("GRPO batch has no completion tokens".into()));
    }
    Ok(count)
}

/// The GRPO loss (mean over completion tokens; see `engine::ops::rl`), its
/// gradient per parameter, and statistics.
pub fn grpo_loss_and_grad(model: &Model, b: GrpoBatch, cfg: GrpoConfig) -> Result<(GrpoStats, Vec<Tensor>)> {
    let mut w = ModelWeights::default();
    let routed = !model.config.fast_mode && model.config.effective_top_k() > 0;
    w.pack(model.params(), model.index(), routed, true);
    let (mut ws, mut grad) = (Vec::new(), Vec::new());
    let stats = grpo_gradient(model, &w, b, cfg, &mut ws, &mut grad)?;
    Ok((stats, model.unflatten(&grad)))
}

/// Running sums of the GRPO statistics over completion tokens.
#[derive(Default, Clone, Copy)]
struct Sums {
    loss: f64,
    ratio: f64,
    clipped: usize,
    kl: f64,
}

/// The GRPO loss's gradient into `grad` (flat, checkpoint order) on the
/// fused path with packed weights `w` (transposes included): chunks of
/// sequences in parallel, each logits row z turned into the gradient of its
/// token's term. With `logπ = log softmax(z/τ)[target]`,
/// `∂(w_i·term)/∂z = w_i·∂term/∂logπ·(onehot − softmax(z/τ))/τ`.
pub fn grpo_gradient(
    model: &Model,
    w: &ModelWeights,
    b: GrpoBatch,
    cfg: GrpoConfig,
    workspaces: &mut Vec<Workspace>,
    grad: &mut Vec<f32>,
) -> Result<GrpoStats> {
    let count = check_batch(model, &b, &cfg)?;
    let (n, t) = (b.n, b.t);
    let inputs = inputs_of(b.sequences, n, t);
    let (weight, tau) = (1.0 / count as f32, cfg.temperature);
    let parts = chunks(n);
    workspaces.resize_with(parts.len(), Workspace::default);
    let sums: Vec<Sums> = parts
        .par_iter()
        .zip(workspaces.par_iter_mut())
        .map(|(&(s, e), ws)| {
            forward(model, w, &inputs[s * (t - 1)..e * (t - 1)], e - s, t - 1, None, ws);
            let nb = e - s;
            let mut sums = Sums::default();
            let mut row_grad = |r: usize, row: &mut [f32]| -> f64 {
                let (seq, pos) = (s + r % nb, r / nb + 1);
                let i = seq * t + pos;
                if b.mask[i] == 0.0 {
                    row.fill(0.0);
                    return 0.0;
                }
                let target = b.sequences[i] as usize;
                temper(row, tau);
                let (lse, picked) = softmax_xent(row, target, 0.0, false);
                let logp = picked - lse;
                let (old, adv, reference) = (b.old_log_probs[i], b.advantages[seq], b.ref_log_probs.map(|r| r[i]));
                let (term, d) = grpo_token(logp, old, reference, adv, cfg.clip, cfg.kl_beta);
                // ∂(w·term)/∂logits = w·d·(onehot − softmax(z/τ))/τ: softmax_xent's gradient scaled by −w·d/τ.
                softmax_xent(row, target, -weight * d / tau, true);
                sums.ratio += (logp - old).exp() as f64;
                let (_, policy) = grpo_token(logp, old, None, adv, cfg.clip, 0.0);
                sums.clipped += usize::from(policy == 0.0 && adv != 0.0);
                if let Some(rf) = reference {
                    let x = rf - logp;
                    sums.kl += (x.exp() - x - 1.0) as f64;
                }
                (weight * term) as f64
            };
            sums.loss = backward_from_rows(model, w, ws, &mut row_grad);
            sums
        })
        .collect();
    size(grad, model.num_params());
    grad.copy_from_slice(&workspaces[0].grad);
    for ws in &workspaces[1..parts.len()] {
        grad.iter_mut().zip(&ws.grad).for_each(|(a, g)| *a += g);
    }
    let total = sums.iter().fold(Sums::default(), |a, s| Sums {
        loss: a.loss + s.loss,
        ratio: a.ratio + s.ratio,
        clipped: a.clipped + s.clipped,
        kl: a.kl + s.kl,
    });
    let c = count as f64;
    Ok(GrpoStats {
        loss: total.loss as f32,
        mean_ratio: (total.ratio / c) as f32,
        clip_fraction: (total.clipped as f64 / c) as f32,
        kl: (total.kl / c) as f32,
        tokens: count,
    })
}

/// [`grpo_loss_and_grad`] on the tape.
pub fn reference_grpo_loss_and_grad(model: &Model, b: GrpoBatch, cfg: GrpoConfig) -> Result<(GrpoStats, Vec<Tensor>)> {
    let count = check_batch(model, &b, &cfg)?;
    let (n, t) = (b.n, b.t);
    // Per-row constants in the time-major order of the log-prob rows.
    let at = |xs: &[f32]| -> Vec<f32> { (1..t).flat_map(|ti| (0..n).map(move |r| xs[r * t + ti])).collect() };
    let mask = at(b.mask);
    let rows = GrpoRows {
        old_log_probs: at(b.old_log_probs),
        ref_log_probs: b.ref_log_probs.map(at),
        advantages: (1..t).flat_map(|_| b.advantages.iter().copied()).collect(),
        weights: mask.iter().map(|&m| m / count as f32).collect(),
    };
    let mut tape = Tape::new(model.params());
    let lp = record_log_probs(model, &mut tape, b.sequences, n, t, cfg.temperature);
    let stats = stats(tape.value(lp), &rows, &mask, count, cfg);
    let loss = tape.grpo_loss(lp, rows, cfg.clip, cfg.kl_beta);
    let loss_value = tape.value(loss).data[0];
    let grads = model.param_grads(tape.backward(loss));
    Ok((GrpoStats { loss: loss_value, ..stats }, grads))
}

fn stats(lp: &Tensor, rows: &GrpoRows, mask: &[f32], count: usize, cfg: GrpoConfig) -> GrpoStats {
    let (mut ratio, mut clipped, mut kl) = (0.0f64, 0usize, 0.0f64);
    for (i, &m) in mask.iter().enumerate() {
        if m == 0.0 {
            continue;
        }
        let rho = (lp.data[i] - rows.old_log_probs[i]).exp();
        ratio += rho as f64;
        let (_, d) = grpo_token(lp.data[i], rows.old_log_probs[i], None, rows.advantages[i], cfg.clip, 0.0);
        clipped += usize::from(d == 0.0 && rows.advantages[i] != 0.0);
        if let Some(r) = &rows.ref_log_probs {
            let x = r[i] - lp.data[i];
            kl += (x.exp() - x - 1.0) as f64;
        }
    }
    let c = count as f64;
    GrpoStats {
        loss: 0.0,
        mean_ratio: (ratio / c) as f32,
        clip_fraction: (clipped as f64 / c) as f32,
        kl: (kl / c) as f32,
        tokens: count,
    }
}
