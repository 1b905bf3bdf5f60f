//! The whole model on the fused path, for one chunk of sequences: embedding,
//! the layers, the output head and the loss, forward and backward, on a
//! [`Workspace`] that is reused from step to step.

use super::acts::{size, Dims, LayerActs, StepScratch};
use super::backward::{layer_backward, LayerGrads};
use super::dropout::{self, DropoutRows};
use super::forward::{final_state, layer_forward, LayerVecs};
use super::kernels::{rmsnorm_rows, rmsnorm_rows_bwd};
use super::weights::ModelWeights;
use crate::engine::gemm::MatRef;
use crate::engine::kernels::{matmul, matmul_packed};
use crate::engine::Tensor;
use crate::nn::model::Model;

/// Everything one chunk needs, kept between steps so that nothing is
/// allocated once the sizes are known.
#[derive(Default, Debug)]
pub struct Workspace {
    /// Sizes of the last pass: sequences and steps.
    pub b: usize,
    pub t: usize,
    /// Time-major token ids (row `t·B + b`), clamped to the vocabulary.
    ids: Vec<u32>,
    /// The embedding rows `[T·B, E]`, layer 0's input.
    x0: Vec<f32>,
    pub layers: Vec<LayerActs>,
    scratch: StepScratch,
    /// `rmsnorm(out_L; output_norm)` `[T·B, H]`, its inverse rms, and the logits `[T·B, V]`.
    head_n: Vec<f32>,
    head_inv: Vec<f32>,
    pub logits: Vec<f32>,
    back: LayerGrads,
    /// This chunk's gradient of every parameter, flat in the checkpoint's order.
    pub grad: Vec<f32>,
    /// The last pass's dropout (None: nothing dropped), its masks — `[T·B, I]`
    /// for each layer's input, then `[T·B, H]` for the head's — and the
    /// dropped inputs of layers 1.. and the head (index 0 unused: the
    /// embedding rows are dropped in place).
    dropout: Option<DropoutRows>,
    masks: Vec<Vec<f32>>,
    dropped: Vec<Vec<f32>>,
}

impl Workspace {
    fn dims(&self, model: &Model, l: usize) -> Dims {
        Dims::new(&model.config, l, self.b, self.t)
    }

    /// What layer `l` read in the last pass (`l` = L: what the head read):
    /// the embedding rows, or the layer below's output, dropped if dropout was on.
    fn input(&self, l: usize) -> &[f32] {
        match (l, self.dropout) {
            (0, _) => &self.x0,
            (_, Some(_)) => &self.dropped[l],
            (_, None) => &self.layers[l - 1].out,
        }
    }

    /// Masks input `l` (see [`Workspace::input`]) with a fresh mask, when dropout is on.
    fn drop_input(&mut self, l: usize) {
        let Some(d) = self.dropout else { return };
        let (b, t) = (self.b, self.t);
        if l == 0 {
            dropout::fill_mask(d, 0, b, t, self.x0.len() / (b * t), &mut self.masks[0]);
            dropout::apply(&mut self.x0, &self.masks[0]);
        } else {
            let out = &self.layers[l - 1].out;
            dropout::fill_mask(d, l, b, t, out.len() / (b * t), &mut self.masks[l]);
            dropout::apply_into(out, &self.masks[l], &mut self.dropped[l]);
        }
    }
}

/// The recurrent state of rows `rows` of a batch: per layer `[s, num, den, xp]`
/// (RWKV) or `[s]`, each tensor `[B_all, H]`.
#[derive(Clone, Copy)]
pub struct StateRows<'a> {
    pub layers: &'a [Vec<Tensor>],
    pub rows: (usize, usize),
}

impl<'a> StateRows<'a> {
    /// Tensor `k` of layer `l`, rows `rows` only.
    fn get(self, l: usize, k: usize) -> &'a [f32] {
        let t = &self.layers[l][k];
        &t.data[self.rows.0 * t.cols..self.rows.1 * t.cols]
    }
}

/// Forward over `tokens [B, T]` (batch-major) from `init` (zeros when
/// `None`), with `dropout` on the layers' and the head's inputs when given
/// (training only: see `dropout.rs`). Leaves the logits `[T·B, V]`
/// (time-major) and every layer's values in `ws`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    model: &Model,
    w: &ModelWeights,
    tokens: &[u32],
    b: usize,
    t: usize,
    init: Option<StateRows>,
    dropout: Option<DropoutRows>,
    ws: &mut Workspace,
) {
    let cfg = &model.config;
    let (e, h, v) = (cfg.embed_size, cfg.hidden_size, cfg.vocab_size);
    ws.b = b;
    ws.t = t;
    let rows = b * t;
    ws.ids.clear();
    ws.ids.extend((0..t).flat_map(|ti| (0..b).map(move |bi| tokens[bi * t + ti].min(v as u32 - 1))));
    size(&mut ws.x0, rows * e);
    let emb = &model.params()[model.index.embedding].data;
    for (dst, &id) in ws.x0.chunks_exact_mut(e).zip(&ws.ids) {
        dst.copy_from_slice(&emb[id as usize * e..(id as usize + 1) * e]);
    }
    let layers = cfg.num_layers;
    ws.layers.resize_with(layers, LayerActs::default);
    ws.dropout = dropout.filter(|d| d.rate > 0.0);
    if ws.dropout.is_some() {
        ws.masks.resize_with(layers + 1, Vec::new);
        ws.dropped.resize_with(layers + 1, Vec::new);
    }
    for l in 0..layers {
        ws.drop_input(l);
        let d = ws.dims(model, l);
        let p = LayerVecs::new(model.params(), &model.index.layers[l]);
        let st = init.map(|s| {
            let n = s.layers[l].len();
            [0, 1, 2, 3].map(move |k| if k < n { s.get(l, k) } else { &[][..] })
        });
        let mut acts = std::mem::take(&mut ws.layers[l]);
        let mut scratch = std::mem::take(&mut ws.scratch);
        layer_forward(&d, &w.layers[l], &p, ws.input(l), st.as_ref().map(|a| &a[..]), &mut acts, &mut scratch);
        ws.layers[l] = acts;
        ws.scratch = scratch;
    }
    ws.drop_input(layers);
    size(&mut ws.head_n, rows * h);
    size(&mut ws.head_inv, rows);
    let (mut head_n, mut head_inv) = (std::mem::take(&mut ws.head_n), std::mem::take(&mut ws.head_inv));
    rmsnorm_rows(ws.input(layers), &model.params()[model.index.output_norm].data, &mut head_n, &mut head_inv);
    ws.head_n = head_n;
    ws.head_inv = head_inv;
    size(&mut ws.logits, rows * v);
    matmul_packed(MatRef::new(&ws.head_n, rows, h), &w.head.w, &mut ws.logits, v, false);
}

/// Every layer's state after the last step of the last `forward`, into rows
/// `start..` of `dst` (per layer `[s, num, den, xp]` or `[s]`, `[B_all, H]`).
pub fn final_states(model: &Model, ws: &Workspace, dst: &mut [Vec<Tensor>], start: usize) {
    for (l, (acts, st)) in ws.layers.iter().zip(dst.iter_mut()).enumerate() {
        final_state(&ws.dims(model, l), acts, st, start);
    }
}

/// Mean cross-entropy of the logits of the last `forward` against
/// `targets [B, T]` (batch-major), and — when `seed` is given — the
/// gradient of `seed · loss` into `ws.grad`.
pub fn loss(model: &Model, w: &ModelWeights, targets: &[u32], seed: Option<f32>, ws: &mut Workspace) -> f64 {
    let (b, t) = (ws.b, ws.t);
    let rows = b * t;
    let scale = seed.unwrap_or(0.0) / rows as f32;
    // Row t·B + b of the logits is position t of sequence b.
    let mut cross_entropy = |r: usize, row: &mut [f32]| {
        let target = targets[(r % b) * t + r / b] as usize;
        let (lse, picked) = super::kernels::softmax_xent(row, target, scale, seed.is_some());
        (lse - picked) as f64
    };
    let total = if seed.is_some() {
        backward_from_rows(model, w, ws, &mut cross_entropy)
    } else {
        ws.logits.chunks_exact_mut(model.config.vocab_size).enumerate().map(|(r, row)| cross_entropy(r, row)).sum()
    };
    total / rows as f64
}

/// Each row's cross-entropy (time-major: row `t·B + b`) of the logits of the
/// last `forward` against `targets [B, T]` (batch-major).
pub fn row_losses(model: &Model, targets: &[u32], ws: &mut Workspace) -> Vec<f32> {
    let (b, t) = (ws.b, ws.t);
    ws.logits
        .chunks_exact_mut(model.config.vocab_size)
        .enumerate()
        .map(|(r, row)| {
            let (lse, picked) = super::kernels::softmax_xent(row, targets[(r % b) * t + r / b] as usize, 0.0, false);
            lse - picked
        })
        .collect()
}

/// Any loss that is a sum over the rows of the logits of the last
/// `forward`: `row_grad(r, row)` gets time-major row `r` (position `r / B`
/// of sequence `r % B`), returns its loss term and overwrites the row with
/// that term's gradient. Then the backward pass runs into `ws.grad`.
/// Returns the sum of the terms.
pub fn backward_from_rows(
    model: &Model,
    w: &ModelWeights,
    ws: &mut Workspace,
    row_grad: &mut dyn FnMut(usize, &mut [f32]) -> f64,
) -> f64 {
    let total = ws.logits.chunks_exact_mut(model.config.vocab_size).enumerate().map(|(r, row)| row_grad(r, row)).sum();
    backward(model, w, ws);
    total
}

/// Backward from `ws.logits`, which `loss` has turned into `∂/∂logits`.
fn backward(model: &Model, w: &ModelWeights, ws: &mut Workspace) {
    let cfg = &model.config;
    let (e, h, v) = (cfg.embed_size, cfg.hidden_size, cfg.vocab_size);
    let rows = ws.b * ws.t;
    let offsets = &model.offsets;
    // Out of the workspace while its inputs are read (`Workspace::input`).
    let (mut grad_buf, mut back_buf) = (std::mem::take(&mut ws.grad), std::mem::take(&mut ws.back));
    let (grad, back) = (&mut grad_buf, &mut back_buf);
    size(grad, model.num_params());
    grad.fill(0.0);
    let params = model.params();
    // Head: logits = n @ output_proj, n = rmsnorm(out_L; output_norm).
    let slot = |i: usize| offsets[i]..offsets[i + 1];
    let out_proj = slot(model.index.output_proj);
    matmul(MatRef::transposed(&ws.head_n, rows, h), MatRef::new(&ws.logits, rows, v), &mut grad[out_proj], v, true);
    size(&mut back.d_n, rows * h);
    matmul_packed(MatRef::new(&ws.logits, rows, v), &w.head.wt, &mut back.d_n, h, false);
    let layers = cfg.num_layers;
    size(&mut back.d_out, rows * h);
    back.d_out.fill(0.0);
    let out_norm = slot(model.index.output_norm);
    rmsnorm_rows_bwd(
        ws.input(layers),
        &params[model.index.output_norm].data,
        &ws.head_inv,
        &back.d_n,
        &mut back.d_out,
        &mut grad[out_norm],
    );
    // Through a dropped input: ∂out = ∂(out ⊙ mask) ⊙ mask.
    let undrop = |d: &mut Vec<f32>, l: usize| {
        if ws.dropout.is_some() {
            dropout::apply(d, &ws.masks[l]);
        }
    };
    undrop(&mut back.d_out, layers);
    // Layers, last to first: each turns d_out into d_x, the next one's d_out.
    for l in (0..layers).rev() {
        let d = Dims::new(cfg, l, ws.b, ws.t);
        let p = LayerVecs::new(params, &model.index.layers[l]);
        layer_backward(&d, &w.layers[l], &p, &model.index.layers[l], offsets, ws.input(l), &ws.layers[l], back, grad);
        std::mem::swap(&mut back.d_out, &mut back.d_x);
        undrop(&mut back.d_out, l);
    }
    // Embedding rows, in row order.
    let a = offsets[model.index.embedding];
    for (r, &id) in ws.ids.iter().enumerate() {
        let dst = &mut grad[a + id as usize * e..a + (id as usize + 1) * e];
        for (g, &dv) in dst.iter_mut().zip(&back.d_out[r * e..(r + 1) * e]) {
            *g += dv;
        }
    }
    ws.grad = grad_buf;
    ws.back = back_buf;
}
