//! Step-by-step inference with carried state (generation, RL sampling): the
//! per-token cost is constant because each step runs one position from the
//! saved state.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::engine::{Tape, Tensor};
use crate::error::Result;
use crate::nn::cell::LayerState;
use crate::nn::model::{chunk_rows, Batch, Model};
use rayon::prelude::*;

/// Every layer's state for `b` sequences: `s` and, with RWKV, `num`, `den`, `xp` (each `[B, H]`).
#[derive(Clone, Debug)]
pub struct RecurrentState {
    pub b: usize,
    pub layers: Vec<Vec<Tensor>>,
}

impl RecurrentState {
    /// Sequences `start..end` of this state.
    pub fn rows(&self, start: usize, end: usize) -> Self {
        let slice = |t: &Tensor| Tensor::from_vec(end - start, t.cols, t.data[start * t.cols..end * t.cols].to_vec());
        RecurrentState { b: end - start, layers: self.layers.iter().map(|ts| ts.iter().map(slice).collect()).collect() }
    }

    /// The states of consecutive groups of sequences, stacked in order.
    pub fn concat(parts: &[RecurrentState]) -> Self {
        let layers = (0..parts[0].layers.len())
            .map(|l| {
                (0..parts[0].layers[l].len())
                    .map(|k| concat_rows(&parts.iter().map(|p| p.layers[l][k].clone()).collect::<Vec<_>>()))
                    .collect()
            })
            .collect();
        RecurrentState { b: parts.iter().map(|p| p.b).sum(), layers }
    }

    pub fn zeros(model: &Model, b: usize) -> Self {
        let cfg = &model.config;
        let per_layer = if cfg.use_rwkv { 4 } else { 1 };
        let layers = (0..cfg.num_layers).map(|_| vec![Tensor::zeros(b, cfg.hidden_size); per_layer]).collect();
        RecurrentState { b, layers }
    }
}

/// Feeds one token per sequence (`tokens.len() == state.b`); returns logits `[B, V]`.
///
/// Large batches run as chunks of `chunk_rows(B)` sequences in parallel (as
/// in training): rows are independent, and the chunking depends on B only.
pub fn step(model: &Model, state: &mut RecurrentState, tokens: &[u32]) -> Result<Tensor> {
    model.check_tokens(tokens, state.b, 1, "tokens")?;
    let (b, rows) = (state.b, chunk_rows(state.b));
    if b <= rows {
        return step_rows(model, state, tokens);
    }
    let mut parts: Vec<RecurrentState> = (0..b).step_by(rows).map(|s| state.rows(s, (s + rows).min(b))).collect();
    let logits = parts
        .par_iter_mut()
        .enumerate()
        .map(|(i, part)| step_rows(model, part, &tokens[i * rows..i * rows + part.b]))
        .collect::<Result<Vec<Tensor>>>()?;
    *state = RecurrentState::concat(&parts);
    Ok(concat_rows(&logits))
}

/// Rows of several `[R_i, C]` tensors stacked into one.
fn concat_rows(parts: &[Tensor]) -> Tensor {
    let rows = parts.iter().map(|t| t.rows).sum();
    Tensor::from_vec(rows, parts[0].cols, parts.iter().flat_map(|t| t.data.iter().copied()).collect())
}

/// One step of `state.b` sequences on a single tape.
fn step_rows(model: &Model, state: &mut RecurrentState, tokens: &[u32]) -> Result<Tensor> {
    let mut tape = Tape::new(&model.params);
    let states = state
        .layers
        .iter()
        .map(|ts| {
            let s = tape.constant(ts[0].clone());
            let rwkv = (ts.len() == 4)
                .then(|| (tape.constant(ts[1].clone()), tape.constant(ts[2].clone()), tape.constant(ts[3].clone())));
            LayerState { s, rwkv }
        })
        .collect();
    let (logits, finals) = model.forward(&mut tape, Batch { tokens, b: state.b, t: 1 }, Some(states));
    for (dst, fin) in state.layers.iter_mut().zip(finals) {
        dst[0] = tape.value(fin.s).clone();
        if let Some((num, den, xp)) = fin.rwkv {
            dst[1] = tape.value(num).clone();
            dst[2] = tape.value(den).clone();
            dst[3] = tape.value(xp).clone();
        }
    }
    Ok(tape.value(logits).clone())
}

/// Samples from `softmax(logits / temperature)`; temperature ≤ 0 is argmax
/// (the first maximum).
pub fn sample(logits: &[f32], temperature: f32, rng: &mut ChaCha8Rng) -> u32 {
    if temperature <= 0.0 {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        return best as u32;
    }
    let t = temperature as f64;
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let w: Vec<f64> = logits.iter().map(|&x| ((x as f64 - m) / t).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut r = rng.gen::<f64>() * total;
    for (i, &wi) in w.iter().enumerate() {
        r -= wi;
        if r < 0.0 {
            return i as u32;
        }
    }
    (w.len() - 1) as u32
}

/// Feeds `prompt` (at least one token), then samples `n` tokens, each fed back.
pub fn generate(model: &Model, prompt: &[u32], n: usize, temperature: f32, rng: &mut ChaCha8Rng) -> Result<Vec<u32>> {
    let mut state = RecurrentState::zeros(model, 1);
    let mut logits = Tensor::default();
    for &tok in prompt {
        logits = step(model, &mut state, &[tok])?;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let tok = sample(&logits.data, temperature, rng);
        out.push(tok);
        logits = step(model, &mut state, &[tok])?;
    }
    Ok(out)
}
