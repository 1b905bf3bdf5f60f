//! Step-by-step inference with carried state (generation, RL sampling): the
//! per-token cost is constant because each step runs one position from the
//! saved state.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::engine::Tensor;
use crate::error::Result;
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
    let mut out =
        crate::memory::try_with_capacity(n, || format!("generating {} tokens", crate::memory::grouped(n as u128)))?;
    for _ in 0..n {
        let tok = sample(&logits.data, temperature, rng);
        out.push(tok);
        logits = step(model, &mut state, &[tok])?;
    }
    Ok(out)
}
