//! The whole model: embedding, the layers, the output head, the loss. Reads
//! top to bottom like MODEL.md's "Model" section.

use super::cell::{layer_forward, LayerState};
use super::config::{ModelConfig, ParamSpec};
use super::init::init_params;
use super::params::ParamIndex;
use crate::engine::tape::Gradients;
use crate::engine::{Tape, Tensor, Var};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Sequences per data-parallel chunk of a training batch (see `loss_and_grad`):
/// half the batch, between 8 and 32 rows — two chunks keep both cores of a
/// small machine busy, and at least 8 rows keep each step's GEMMs efficient.
/// It depends on B only, never on the thread count, so results do not either.
pub fn chunk_rows(b: usize) -> usize {
    b.div_ceil(2).clamp(8, 32)
}

#[derive(Clone, Debug)]
pub struct Model {
    pub config: ModelConfig,
    pub specs: Vec<ParamSpec>,
    /// In the checkpoint's flat order; vectors are `[1, n]`.
    pub params: Vec<Tensor>,
    index: ParamIndex,
}

/// A batch of `b` sequences of `t` tokens, row-major `[B, T]`.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub tokens: &'a [u32],
    pub b: usize,
    pub t: usize,
}

impl Model {
    /// A freshly initialised model (MODEL.md's table, seeded).
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let specs = config.param_specs();
        let params = init_params(&config, &specs, seed);
        let index = ParamIndex::new(&config, &specs);
        Ok(Model { config, specs, params, index })
    }

    /// A model with the given flat parameters (checkpoint order).
    pub fn from_flat(config: ModelConfig, flat: &[f32]) -> Result<Self> {
        config.validate()?;
        let n = config.num_params();
        if flat.len() != n {
            return Err(Error::Input(format!("{} parameter values given, the configuration needs {n}", flat.len())));
        }
        let specs = config.param_specs();
        let mut off = 0;
        let params = specs
            .iter()
            .map(|spec| {
                let (r, c) = spec.matrix();
                off += r * c;
                Tensor::from_vec(r, c, flat[off - r * c..off].to_vec())
            })
            .collect();
        let index = ParamIndex::new(&config, &specs);
        Ok(Model { config, specs, params, index })
    }

    /// All parameters concatenated in the checkpoint's order.
    pub fn flat(&self) -> Vec<f32> {
        self.params.iter().flat_map(|p| p.data.iter().copied()).collect()
    }

    /// Checks a batch: shape, non-empty, ids within the vocabulary.
    pub fn check_tokens(&self, tokens: &[u32], b: usize, t: usize, what: &str) -> Result<()> {
        if b == 0 || t == 0 {
            return Err(Error::Input(format!("{what} is empty (shape [{b}, {t}])")));
        }
        if tokens.len() != b * t {
            return Err(Error::Input(format!("{what} has {} ids, shape [{b}, {t}] needs {}", tokens.len(), b * t)));
        }
        let v = self.config.vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= v) {
            return Err(Error::Input(format!("{what} contains token id {bad}, outside the vocabulary of {v}")));
        }
        Ok(())
    }

    /// Records the forward pass from `states` (zeros when `None`).
    /// Returns logits `[T·B, V]` (time-major) and each layer's final state.
    pub fn forward(&self, tape: &mut Tape, batch: Batch, states: Option<Vec<LayerState>>) -> (Var, Vec<LayerState>) {
        let (b, t, cfg) = (batch.b, batch.t, &self.config);
        // Time-major ids: row t·B + b. MODEL.md: e = embedding[min(token, V − 1)].
        let ids: Vec<usize> = (0..t)
            .flat_map(|ti| (0..b).map(move |bi| (batch.tokens[bi * t + ti] as usize).min(cfg.vocab_size - 1)))
            .collect();
        let emb = tape.param(self.index.embedding);
        let mut x = tape.gather_rows(emb, ids); // [T·B, E]
        let states = states.unwrap_or_else(|| (0..cfg.num_layers).map(|_| LayerState::zeros(tape, cfg, b)).collect());
        let mut finals = Vec::with_capacity(cfg.num_layers);
        for (l, (p, st)) in self.index.layers.iter().zip(states).enumerate() {
            let (out, fin) = layer_forward(tape, cfg, p, l, x, b, st); // [T·B, H]
            x = out;
            finals.push(fin);
        }
        let g = tape.param(self.index.output_norm);
        let n = tape.rmsnorm(x, g);
        let w = tape.param(self.index.output_proj);
        (tape.matmul(n, w), finals) // [T·B, V]
    }

    /// Targets of a `[B, T]` batch in the time-major row order of the logits.
    fn time_major(targets: &[u32], b: usize, t: usize) -> Vec<usize> {
        (0..t).flat_map(|ti| (0..b).map(move |bi| targets[bi * t + ti] as usize)).collect()
    }

    /// Logits `[B·T, V]` in batch-major order (row `b·T + t`), zero initial state.
    pub fn logits(&self, batch: Batch) -> Result<Tensor> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        let mut tape = Tape::new(&self.params);
        let (logits, _) = self.forward(&mut tape, batch, None);
        let lv = tape.value(logits);
        let (b, t, v) = (batch.b, batch.t, lv.cols);
        let mut out = Tensor::zeros(b * t, v);
        for ti in 0..t {
            for bi in 0..b {
                out.row_mut(bi * t + ti).copy_from_slice(lv.row(ti * b + bi));
            }
        }
        Ok(out)
    }

    /// Mean cross-entropy over all positions, and (optionally) its gradient per parameter.
    ///
    /// The batch is cut into chunks of `chunk_rows(B)` sequences that run on
    /// separate tapes in parallel (data parallelism: no synchronisation inside
    /// a step); each chunk's loss and gradient are weighted by its share of
    /// the rows and summed in chunk order. The chunks depend only on B, so
    /// the result is the same for any number of threads.
    pub fn loss_and_grad(&self, batch: Batch, targets: &[u32], want_grad: bool) -> Result<(f32, Option<Vec<Tensor>>)> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        self.check_tokens(targets, batch.b, batch.t, "targets")?;
        let (b, t) = (batch.b, batch.t);
        let rows = chunk_rows(b);
        let chunks: Vec<(usize, usize)> = (0..b).step_by(rows).map(|s| (s, (s + rows).min(b))).collect();
        let parts: Vec<(f64, Option<Vec<Tensor>>)> = chunks
            .par_iter()
            .map(|&(start, end)| {
                let rows = end - start;
                let weight = rows as f32 / b as f32;
                let sub = Batch { tokens: &batch.tokens[start * t..end * t], b: rows, t };
                let mut tape = Tape::new(&self.params);
                let (logits, _) = self.forward(&mut tape, sub, None);
                let loss = tape.cross_entropy(logits, Self::time_major(&targets[start * t..end * t], rows, t));
                let value = tape.value(loss).data[0] as f64 * weight as f64;
                let grads =
                    want_grad.then(|| self.param_grads(tape.backward_with(loss, Tensor::from_vec(1, 1, vec![weight]))));
                (value, grads)
            })
            .collect();
        let loss = parts.iter().map(|p| p.0).sum::<f64>() as f32;
        let mut grads = None::<Vec<Tensor>>;
        for (_, g) in parts {
            match (&mut grads, g) {
                (None, g) => grads = g,
                (Some(acc), Some(g)) => acc.iter_mut().zip(&g).for_each(|(a, g)| a.add_assign(g)),
                (Some(_), None) => {}
            }
        }
        Ok((loss, grads))
    }

    /// Dense per-parameter gradients (zeros for parameters the pass did not use).
    pub fn param_grads(&self, grads: Gradients) -> Vec<Tensor> {
        grads
            .params
            .into_iter()
            .zip(&self.params)
            .map(|(g, p)| g.unwrap_or_else(|| Tensor::zeros(p.rows, p.cols)))
            .collect()
    }
}
