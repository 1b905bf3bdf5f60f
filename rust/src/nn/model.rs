//! The whole model: embedding, the layers, the output head, the loss. Reads
//! top to bottom like MODEL.md's "Model" section.

use super::cell::{layer_forward, LayerState};
use super::config::{ModelConfig, ParamSpec};
use super::init::init_params;
use super::params::ParamIndex;
use crate::engine::tape::Gradients;
use crate::engine::{Tape, Tensor, Var};
use crate::error::{Error, Result};
use crate::fused::batch;
use crate::fused::weights::ModelWeights;
use crate::generate::RecurrentState;
use std::sync::{Arc, OnceLock};

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
    /// In the checkpoint's flat order; vectors are `[1, n]`. Private so that
    /// every change goes through `params_mut`, which drops `packed`.
    params: Vec<Tensor>,
    pub(crate) index: ParamIndex,
    /// Where parameter i starts in the flat order (`offsets[i]..offsets[i + 1]`).
    pub offsets: Vec<usize>,
    /// The weights packed for inference (generation, logits), built on first use.
    packed: OnceLock<Arc<ModelWeights>>,
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
        config.check_model_memory()?;
        let specs = config.param_specs();
        let params = init_params(&config, &specs, seed);
        Ok(Self::assemble(config, specs, params))
    }

    fn assemble(config: ModelConfig, specs: Vec<ParamSpec>, params: Vec<Tensor>) -> Self {
        let index = ParamIndex::new(&config, &specs);
        let mut offsets = Vec::with_capacity(specs.len() + 1);
        offsets.push(0);
        for s in &specs {
            offsets.push(offsets.last().unwrap() + s.numel());
        }
        Model { config, specs, params, index, offsets, packed: OnceLock::new() }
    }

    /// The parameters, in the checkpoint's flat order.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Mutable parameters; the packed inference weights are rebuilt on next use.
    pub fn params_mut(&mut self) -> &mut [Tensor] {
        self.packed = OnceLock::new();
        &mut self.params
    }

    /// Where each parameter sits in the flat list.
    pub fn index(&self) -> &ParamIndex {
        &self.index
    }

    /// Total number of parameter values.
    pub fn num_params(&self) -> usize {
        *self.offsets.last().unwrap()
    }

    /// The weights packed for inference, shared until the parameters change.
    pub fn inference_weights(&self) -> Arc<ModelWeights> {
        self.packed
            .get_or_init(|| {
                let mut w = ModelWeights::default();
                w.pack(&self.params, &self.index, self.config.effective_top_k() > 0, false);
                Arc::new(w)
            })
            .clone()
    }

    /// A model with the given flat parameters (checkpoint order).
    pub fn from_flat(config: ModelConfig, flat: &[f32]) -> Result<Self> {
        config.validate()?;
        config.check_model_memory()?;
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
        Ok(Self::assemble(config, specs, params))
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

    /// Logits `[B·T, V]` in batch-major order (row `b·T + t`), zero initial state.
    pub fn logits(&self, batch: Batch) -> Result<Tensor> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        self.config.check_pass_memory("computing the logits of", batch.b, batch.t)?;
        let data = batch::logits(self, batch.tokens, batch.b, batch.t);
        crate::interrupt::check()?; // an interrupted pass leaves garbage
        Ok(Tensor::from_vec(batch.b * batch.t, self.config.vocab_size, data))
    }

    /// Mean cross-entropy over all positions, and (optionally) its gradient
    /// per parameter, on the fused path: the batch is cut into chunks of
    /// `chunk_rows(B)` sequences that run in parallel, each chunk's loss and
    /// gradient weighted by its share of the rows and summed in chunk order.
    /// The chunks depend only on B, so the result is the same for any number
    /// of threads.
    pub fn loss_and_grad(&self, batch: Batch, targets: &[u32], want_grad: bool) -> Result<(f32, Option<Vec<Tensor>>)> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        self.check_tokens(targets, batch.b, batch.t, "targets")?;
        let (b, t) = (batch.b, batch.t);
        self.config.check_pass_memory("computing the loss and gradient of", b, t)?;
        if !want_grad {
            let loss = batch::loss(self, batch.tokens, targets, b, t, None);
            crate::interrupt::check()?;
            return Ok((loss, None));
        }
        let mut w = ModelWeights::default();
        w.pack(&self.params, &self.index, self.config.effective_top_k() > 0 && !self.config.fast_mode, true);
        let (mut ws, mut grad) = (Vec::new(), Vec::new());
        let loss = batch::loss_and_grad(self, &w, batch.tokens, targets, b, t, 1.0, None, &mut ws, &mut grad);
        crate::interrupt::check()?;
        Ok((loss, Some(self.unflatten(&grad))))
    }

    /// Mean cross-entropy from `state` (sequence b continues row b of it),
    /// which is advanced to the end: the exact loss of a long text read in
    /// windows, the state carried across them.
    pub fn loss_from(&self, batch: Batch, targets: &[u32], state: &mut RecurrentState) -> Result<f32> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        self.check_tokens(targets, batch.b, batch.t, "targets")?;
        state.check(self, batch.b)?;
        self.config.check_pass_memory("scoring", batch.b, batch.t)?;
        let loss = batch::loss(self, batch.tokens, targets, batch.b, batch.t, Some(state.layers.as_mut_slice()));
        crate::interrupt::check()?; // the state is then undefined, as the call did not finish
        Ok(loss)
    }

    /// A flat vector in the checkpoint's order as one tensor per parameter.
    pub fn unflatten(&self, flat: &[f32]) -> Vec<Tensor> {
        self.params
            .iter()
            .zip(self.offsets.windows(2))
            .map(|(p, o)| Tensor::from_vec(p.rows, p.cols, flat[o[0]..o[1]].to_vec()))
            .collect()
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
