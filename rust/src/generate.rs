//! Step-by-step inference with carried state (generation, RL sampling): the
//! per-token cost is constant because each step runs one position from the
//! saved state.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::engine::Tensor;
use crate::error::{Error, Result};
use crate::fused::model::Workspace;
use crate::nn::model::Model;

/// Every layer's state for `b` sequences: `s` and, with RWKV, `num`, `den`, `xp` (each `[B, H]`).
#[derive(Clone, Debug)]
pub struct RecurrentState {
    pub b: usize,
    pub layers: Vec<Vec<Tensor>>,
    /// Buffers for stepping this state, one per chunk of its rows: kept so
    /// that a token costs no allocation (not part of the state's value).
    scratch: Scratch,
}

/// Workspaces that a clone does not copy.
#[derive(Default)]
struct Scratch(Vec<Workspace>);

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} workspaces)", self.0.len())
    }
}

impl RecurrentState {
    /// Checks that this state fits `model` and a batch of `b` sequences.
    pub fn check(&self, model: &Model, b: usize) -> Result<()> {
        let cfg = &model.config;
        let per_layer = if cfg.use_rwkv { 4 } else { 1 };
        let fits = self.layers.len() == cfg.num_layers
            && self
                .layers
                .iter()
                .all(|ts| ts.len() == per_layer && ts.iter().all(|t| t.rows == self.b && t.cols == cfg.hidden_size));
        if !fits {
            return Err(crate::Error::Input("the recurrent state was made for another model".into()));
        }
        if self.b != b {
            return Err(crate::Error::Input(format!("the recurrent state holds {} sequences, the batch {b}", self.b)));
        }
        Ok(())
    }

    /// A state of `b` sequences from its tensors (per layer `[s, num, den, xp]` or `[s]`).
    pub fn new(b: usize, layers: Vec<Vec<Tensor>>) -> Self {
        RecurrentState { b, layers, scratch: Scratch::default() }
    }

    /// [`RecurrentState::zeros`] for a batch the caller chose: its size is
    /// checked against the memory available first.
    pub fn try_zeros(model: &Model, b: usize) -> Result<Self> {
        let cfg = &model.config;
        let per_layer = if cfg.use_rwkv { 4 } else { 1 };
        let floats = (b as u128) * (cfg.hidden_size as u128) * (per_layer * cfg.num_layers) as u128;
        let what =
            || format!("a recurrent state of {} sequences ({})", crate::memory::grouped(b as u128), cfg.describe());
        crate::memory::ensure(4 * floats, what)?;
        if b.checked_mul(cfg.hidden_size).is_none() {
            return Err(crate::Error::Memory(format!("a recurrent state for {b} sequences cannot be addressed")));
        }
        Ok(Self::zeros(model, b))
    }

    pub fn zeros(model: &Model, b: usize) -> Self {
        let cfg = &model.config;
        let per_layer = if cfg.use_rwkv { 4 } else { 1 };
        let layers = (0..cfg.num_layers).map(|_| vec![Tensor::zeros(b, cfg.hidden_size); per_layer]).collect();
        Self::new(b, layers)
    }
}

/// Feeds one token per sequence (`tokens.len() == state.b`); returns logits `[B, V]`.
///
/// Runs on the fused path with the model's packed inference weights; large
/// batches run as chunks of `chunk_rows(B)` sequences in parallel (as in
/// training): rows are independent, and the chunking depends on B only.
pub fn step(model: &Model, state: &mut RecurrentState, tokens: &[u32]) -> Result<Tensor> {
    model.check_tokens(tokens, state.b, 1, "tokens")?;
    let logits = crate::fused::batch::step(model, &mut state.layers, tokens, &mut state.scratch.0);
    crate::interrupt::check()?; // Ctrl-C: the logits of an interrupted pass are garbage
    Ok(logits)
}

/// How the next token is drawn: from `softmax(logits / temperature)` over
/// the tokens the two filters keep — the `top_k` most likely (0 = all), then
/// of those the fewest, most likely first, whose probability reaches `top_p`
/// (1 = all), renormalised. Temperature 0 is argmax (the first maximum).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
}

impl Sampling {
    /// Plain temperature sampling: every token kept.
    pub fn temperature(temperature: f32) -> Self {
        Sampling { temperature, top_k: 0, top_p: 1.0 }
    }

    /// Temperature finite and non-negative; `top_p` in (0, 1].
    pub fn check(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::Input(format!("temperature must be finite and non-negative, got {}", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Input(format!("top_p must be in (0, 1], got {}", self.top_p)));
        }
        Ok(())
    }
}

/// Draws one token id from `logits` as `how` says. With both filters off the
/// draws are the plain temperature sampler's, one `f64` from `rng` per token.
pub fn sample(logits: &[f32], how: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    if how.temperature <= 0.0 {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        return best as u32;
    }
    let t = how.temperature as f64;
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let mut w: Vec<f64> = logits.iter().map(|&x| ((x as f64 - m) / t).exp()).collect();
    keep_most_likely(logits, &mut w, how.top_k, how.top_p);
    let total: f64 = w.iter().sum();
    let mut r = rng.gen::<f64>() * total;
    for (i, &wi) in w.iter().enumerate() {
        r -= wi;
        if r < 0.0 {
            return i as u32;
        }
    }
    // Rounding left a sliver: the last token that can be drawn (never a filtered one).
    w.iter().rposition(|&wi| wi > 0.0).unwrap_or(w.len() - 1) as u32
}

/// Zeroes the weights `w` (unnormalised probabilities, in `logits`' order)
/// of the tokens top-k and top-p leave out. Ties rank the lower id first; at
/// least one token stays. Both off: nothing is sorted.
fn keep_most_likely(logits: &[f32], w: &mut [f64], top_k: usize, top_p: f32) {
    let n = w.len();
    let k = if top_k == 0 { n } else { top_k.min(n) };
    if k == n && top_p >= 1.0 {
        return;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    let mut keep = k;
    if top_p < 1.0 {
        let target = top_p as f64 * order[..k].iter().map(|&i| w[i]).sum::<f64>();
        let mut reached = 0.0;
        for (j, &i) in order[..k].iter().enumerate() {
            reached += w[i];
            if reached >= target {
                keep = j + 1;
                break;
            }
        }
    }
    for &i in &order[keep..] {
        w[i] = 0.0;
    }
}

/// Generation one chunk at a time: the state after the tokens so far and
/// the logits `[1, V]` of the next one. A stream draws from its own `rng`,
/// so chunks of any size give the same tokens as one call.
pub struct Generation {
    state: RecurrentState,
    logits: Tensor,
}

impl Generation {
    /// Feeds `prompt` (at least one token) from zero state.
    pub fn start(model: &Model, prompt: &[u32]) -> Result<Self> {
        if prompt.is_empty() {
            return Err(Error::Input("generation needs a prompt of at least one token".into()));
        }
        let mut state = RecurrentState::zeros(model, 1);
        let mut logits = Tensor::default();
        for &tok in prompt {
            logits = step(model, &mut state, &[tok])?;
        }
        Ok(Generation { state, logits })
    }

    /// Samples `n` more tokens, each fed back.
    pub fn next(&mut self, model: &Model, n: usize, how: &Sampling, rng: &mut ChaCha8Rng) -> Result<Vec<u32>> {
        let mut out =
            crate::memory::try_with_capacity(n, || format!("generating {} tokens", crate::memory::grouped(n as u128)))?;
        for _ in 0..n {
            let tok = sample(&self.logits.data, how, rng);
            out.push(tok);
            self.logits = step(model, &mut self.state, &[tok])?;
        }
        Ok(out)
    }
}

/// Feeds `prompt` (at least one token), then samples `n` tokens, each fed back.
pub fn generate(model: &Model, prompt: &[u32], n: usize, how: &Sampling, rng: &mut ChaCha8Rng) -> Result<Vec<u32>> {
    Generation::start(model, prompt)?.next(model, n, how, rng)
}
