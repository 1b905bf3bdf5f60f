//! Group sampling: each prompt is fed once (batch of 1), its state is copied
//! to `G` rows, and all `P·G` completions are sampled together as one batch.

use rand_chacha::ChaCha8Rng;

use crate::engine::Tensor;
use crate::error::{Error, Result};
use crate::generate::{sample, step, RecurrentState, Sampling};
use crate::nn::model::Model;

#[derive(Clone, Debug)]
pub struct SampleConfig {
    /// Completions per prompt (`G`).
    pub group_size: usize,
    /// Most tokens sampled per completion (a stop token included).
    pub max_len: usize,
    /// A completion ends after the first of these (which it keeps).
    pub stop_ids: Vec<u32>,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
}

/// One sampled completion and the log-probability each of its tokens was
/// drawn with: `log softmax(logits / τ)[token]` at the sampling temperature τ
/// (at 1 for greedy sampling, τ = 0), so that `π_θ / π_old` in the GRPO loss
/// is the importance ratio of the distribution actually sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub tokens: Vec<u32>,
    pub log_probs: Vec<f32>,
}

/// The state after feeding `prompt` from zeros, and the logits `[1, V]` that
/// predict the first completion token.
pub fn feed_prompt(model: &Model, prompt: &[u32]) -> Result<(RecurrentState, Tensor)> {
    if prompt.is_empty() {
        return Err(Error::Input("an RL prompt needs at least one token".into()));
    }
    let mut state = RecurrentState::zeros(model, 1);
    let mut logits = Tensor::default();
    for &tok in prompt {
        logits = step(model, &mut state, &[tok])?;
    }
    Ok((state, logits))
}

/// Rows `[B_i, ·]` of each part stacked, each part's rows repeated `times`.
fn repeat_rows(parts: &[&Tensor], times: usize) -> Tensor {
    let cols = parts[0].cols;
    let mut data = Vec::with_capacity(parts.len() * times * cols);
    for p in parts {
        for _ in 0..times {
            data.extend_from_slice(&p.data);
        }
    }
    Tensor::from_vec(parts.len() * times * parts[0].rows, cols, data)
}

/// `log softmax(row / τ)[i]`; τ ≤ 0 (greedy) is taken as 1.
fn log_softmax_at(row: &[f32], i: usize, temperature: f32) -> f32 {
    let inv = if temperature > 0.0 { 1.0 / temperature } else { 1.0 };
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let s: f32 = row.iter().map(|&x| ((x - m) * inv).exp()).sum();
    (row[i] - m) * inv - s.ln()
}

/// `P·G` rows of state and logits, and up to `max_len` tokens and log-probs
/// each: refused before allocating when the machine does not have it.
fn check_memory(model: &Model, prompts: usize, cfg: &SampleConfig) -> Result<()> {
    let c = &model.config;
    let rows = (prompts as u128) * (cfg.group_size as u128);
    let per_layer = if c.use_rwkv { 4 } else { 1 };
    let per_row =
        (c.hidden_size * per_layer * c.num_layers) as u128 + 2 * c.vocab_size as u128 + 2 * cfg.max_len as u128;
    crate::memory::ensure(4 * rows * per_row, || {
        format!("sampling {prompts} x {} completions of up to {} tokens", cfg.group_size, cfg.max_len)
    })
}

/// `G` completions per prompt, prompt-major: completion `p·G + j` is member
/// `j` of prompt `p`'s group. Rows draw from `rng` in row order at each step,
/// so the result depends on the seed alone.
pub fn sample_groups(
    model: &Model,
    prompts: &[Vec<u32>],
    cfg: &SampleConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Completion>> {
    if prompts.is_empty() || cfg.group_size == 0 || cfg.max_len == 0 {
        return Err(Error::Input(format!(
            "RL sampling needs prompts, a group size and a maximum length (got {} prompts, G = {}, max_len = {})",
            prompts.len(),
            cfg.group_size,
            cfg.max_len
        )));
    }
    let g = cfg.group_size;
    check_memory(model, prompts.len(), cfg)?;
    let fed: Vec<(RecurrentState, Tensor)> = prompts.iter().map(|p| feed_prompt(model, p)).collect::<Result<_>>()?;
    let n = prompts.len() * g;
    // Every layer's state tensors, each prompt's row copied G times: [P·G, H].
    let layers = (0..fed[0].0.layers.len())
        .map(|l| {
            (0..fed[0].0.layers[l].len())
                .map(|k| repeat_rows(&fed.iter().map(|(s, _)| &s.layers[l][k]).collect::<Vec<_>>(), g))
                .collect()
        })
        .collect();
    let mut state = RecurrentState::new(n, layers);
    let mut logits = repeat_rows(&fed.iter().map(|(_, l)| l).collect::<Vec<_>>(), g); // [P·G, V]
    let mut out = vec![Completion { tokens: Vec::new(), log_probs: Vec::new() }; n];
    let mut done = vec![false; n];
    let mut next = vec![0u32; n];
    for i in 0..cfg.max_len {
        if i > 0 {
            logits = step(model, &mut state, &next)?;
        }
        for r in 0..n {
            if done[r] {
                continue; // keeps feeding its last token; the result is ignored
            }
            let row = logits.row(r);
            let tok = sample(row, &Sampling::temperature(cfg.temperature), rng);
            out[r].tokens.push(tok);
            out[r].log_probs.push(log_softmax_at(row, tok as usize, cfg.temperature));
            next[r] = tok;
            done[r] = cfg.stop_ids.contains(&tok);
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    Ok(out)
}
