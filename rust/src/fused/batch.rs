//! Whole batches on the fused path: the batch is cut into data-parallel
//! chunks of `chunk_rows(B)` sequences (as many as B gives, whatever the
//! thread count, so results never depend on it), each on its own workspace.

use super::acts::size;
use super::model::{self as chunk, final_states, forward, StateRows, Workspace};
use super::weights::ModelWeights;
use crate::engine::Tensor;
use crate::nn::model::{chunk_rows, Model};
use rayon::prelude::*;

/// `(start, end)` sequence ranges of the chunks of a training batch of `b`:
/// they depend on B only, because the gradient is summed chunk by chunk.
pub fn chunks(b: usize) -> Vec<(usize, usize)> {
    let rows = chunk_rows(b);
    (0..b).step_by(rows).map(|s| (s, (s + rows).min(b))).collect()
}

/// Chunks for inference: one per thread (at least 8 sequences each). Rows
/// never interact in a forward pass and each row's arithmetic is the same in
/// any tile, so the bits do not depend on this split; fewer, larger chunks
/// stream each weight fewer times.
pub fn inference_chunks(b: usize) -> Vec<(usize, usize)> {
    let rows = b.div_ceil(rayon::current_num_threads()).max(8);
    (0..b).step_by(rows).map(|s| (s, (s + rows).min(b))).collect()
}

/// `scale ×` the mean cross-entropy of `tokens [B, T] -> targets [B, T]`
/// (batch-major) and its gradient (flat, into `grad`): chunks in parallel,
/// their gradients summed in chunk order. With `state` (per layer
/// `[s, num, den, xp]` or `[s]`, `[B, H]` each) the sequences start from it
/// and it is advanced to their end — gradients do not flow into it
/// (truncated BPTT). Token ids are checked by the caller.
#[allow(clippy::too_many_arguments)]
pub fn loss_and_grad(
    model: &Model,
    w: &ModelWeights,
    tokens: &[u32],
    targets: &[u32],
    b: usize,
    t: usize,
    scale: f32,
    state: Option<&mut [Vec<Tensor>]>,
    workspaces: &mut Vec<Workspace>,
    grad: &mut Vec<f32>,
) -> f32 {
    let parts = chunks(b);
    workspaces.resize_with(parts.len(), Workspace::default);
    let view: Option<&[Vec<Tensor>]> = state.as_deref();
    let losses: Vec<f64> = parts
        .par_iter()
        .zip(workspaces.par_iter_mut())
        .map(|(&(s, e), ws)| {
            let weight = scale * (e - s) as f32 / b as f32;
            let init = view.map(|layers| StateRows { layers, rows: (s, e) });
            forward(model, w, &tokens[s * t..e * t], e - s, t, init, ws);
            chunk::loss(model, w, &targets[s * t..e * t], Some(weight), ws) * weight as f64
        })
        .collect();
    if let Some(state) = state {
        for (&(s, _), ws) in parts.iter().zip(workspaces.iter()) {
            final_states(model, ws, state, s);
        }
    }
    size(grad, model.num_params());
    grad.copy_from_slice(&workspaces[0].grad);
    for ws in &workspaces[1..parts.len()] {
        grad.iter_mut().zip(&ws.grad).for_each(|(a, b)| *a += b);
    }
    losses.iter().sum::<f64>() as f32
}

/// Logits `[B·T, V]` in batch-major order (row `b·T + t`) from zero state.
pub fn logits(model: &Model, tokens: &[u32], b: usize, t: usize) -> Vec<f32> {
    let w = model.inference_weights();
    let v = model.config.vocab_size;
    let parts = inference_chunks(b);
    let per_chunk: Vec<Vec<f32>> = parts
        .par_iter()
        .map(|&(s, e)| {
            let mut ws = Workspace::default();
            forward(model, &w, &tokens[s * t..e * t], e - s, t, None, &mut ws);
            ws.logits
        })
        .collect();
    let mut out = vec![0.0; b * t * v];
    for (&(s, e), lg) in parts.iter().zip(&per_chunk) {
        let rows = e - s;
        for ti in 0..t {
            for bi in 0..rows {
                let (src, dst) = ((ti * rows + bi) * v, ((s + bi) * t + ti) * v);
                out[dst..dst + v].copy_from_slice(&lg[src..src + v]);
            }
        }
    }
    out
}

/// One token per sequence from `state` (per layer `[s, num, den, xp]` or
/// `[s]`, `[B, H]` each), which advances; returns logits `[B, V]`. Chunks of
/// large batches run in parallel, each on its workspace from `workspaces`
/// (kept with the state, so a token allocates only its logits).
pub fn step(model: &Model, state: &mut [Vec<Tensor>], tokens: &[u32], workspaces: &mut Vec<Workspace>) -> Tensor {
    let w = model.inference_weights();
    let (b, v) = (tokens.len(), model.config.vocab_size);
    let parts = inference_chunks(b);
    workspaces.resize_with(parts.len(), Workspace::default);
    let view: &[Vec<Tensor>] = state;
    let run = |&(s, e): &(usize, usize), ws: &mut Workspace| {
        forward(model, &w, &tokens[s..e], e - s, 1, Some(StateRows { layers: view, rows: (s, e) }), ws);
    };
    if parts.len() == 1 {
        run(&parts[0], &mut workspaces[0]);
    } else {
        parts.par_iter().zip(workspaces.par_iter_mut()).for_each(|(p, ws)| run(p, ws));
    }
    let mut logits = Vec::with_capacity(b * v);
    for (&(s, e), ws) in parts.iter().zip(workspaces.iter()) {
        logits.extend_from_slice(&ws.logits[..(e - s) * v]);
        final_states(model, ws, state, s);
    }
    Tensor::from_vec(b, v, logits)
}

/// Mean cross-entropy without gradient (inference weights), from `state`
/// when given, which is then advanced to the end of the sequences.
pub fn loss(
    model: &Model,
    tokens: &[u32],
    targets: &[u32],
    b: usize,
    t: usize,
    state: Option<&mut [Vec<Tensor>]>,
) -> f32 {
    let w = model.inference_weights();
    let parts = inference_chunks(b);
    let view: Option<&[Vec<Tensor>]> = state.as_deref();
    let results: Vec<(Vec<f32>, Option<Workspace>)> = parts
        .par_iter()
        .map(|&(s, e)| {
            let mut ws = Workspace::default();
            let init = view.map(|layers| StateRows { layers, rows: (s, e) });
            forward(model, &w, &tokens[s * t..e * t], e - s, t, init, &mut ws);
            (chunk::row_losses(model, &targets[s * t..e * t], &mut ws), view.map(|_| ws))
        })
        .collect();
    if let Some(state) = state {
        for (&(s, _), (_, ws)) in parts.iter().zip(&results) {
            final_states(model, ws.as_ref().expect("kept when a state is carried"), state, s);
        }
    }
    // Summed in the batch's own order (sequence, then position), whatever the chunks.
    let mut per_position = vec![0.0f32; b * t];
    for (&(s, e), (rows, _)) in parts.iter().zip(&results) {
        let nb = e - s;
        for (r, &l) in rows.iter().enumerate() {
            per_position[(s + r % nb) * t + r / nb] = l;
        }
    }
    (per_position.iter().map(|&l| l as f64).sum::<f64>() / (b * t) as f64) as f32
}
