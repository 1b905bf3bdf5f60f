//! The whole model on the fused path, for one chunk of sequences: embedding,
//! the layers, the output head and the loss, forward and backward, on a
//! [`Workspace`] that is reused from step to step.

use super::acts::{size, Dims, LayerActs, StepScratch};
use super::backward::{layer_backward, LayerGrads};
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
}

impl Workspace {
    fn dims(&self, model: &Model, l: usize) -> Dims {
        Dims::new(&model.config, l, self.b, self.t)
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
/// `None`). Leaves the logits `[T·B, V]` (time-major) and every layer's
/// values in `ws`.
pub fn forward(
    model: &Model,
    w: &ModelWeights,
    tokens: &[u32],
    b: usize,
    t: usize,
    init: Option<StateRows>,
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
    ws.layers.resize_with(cfg.num_layers, LayerActs::default);
    for l in 0..cfg.num_layers {
        let d = ws.dims(model, l);
        let p = LayerVecs::new(model.params(), &model.index.layers[l]);
        let (below, rest) = ws.layers.split_at_mut(l);
        let x: &[f32] = if l == 0 { &ws.x0 } else { &below[l - 1].out };
        let st = init.map(|s| {
            let n = s.layers[l].len();
            [0, 1, 2, 3].map(move |k| if k < n { s.get(l, k) } else { &[][..] })
        });
        layer_forward(&d, &w.layers[l], &p, x, st.as_ref().map(|a| &a[..]), &mut rest[0], &mut ws.scratch);
    }
    let out = &ws.layers[cfg.num_layers - 1].out;
    size(&mut ws.head_n, rows * h);
    size(&mut ws.head_inv, rows);
    rmsnorm_rows(out, &model.params()[model.index.output_norm].data, &mut ws.head_n, &mut ws.head_inv);
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
    size(&mut ws.grad, model.num_params());
    ws.grad.fill(0.0);
    let params = model.params();
    // Head: logits = n @ output_proj, n = rmsnorm(out_L; output_norm).
    let grad = &mut ws.grad;
    let slot = |i: usize| offsets[i]..offsets[i + 1];
    let out_proj = slot(model.index.output_proj);
    matmul(MatRef::transposed(&ws.head_n, rows, h), MatRef::new(&ws.logits, rows, v), &mut grad[out_proj], v, true);
    let back = &mut ws.back;
    size(&mut back.d_n, rows * h);
    matmul_packed(MatRef::new(&ws.logits, rows, v), &w.head.wt, &mut back.d_n, h, false);
    let last = &ws.layers[cfg.num_layers - 1];
    size(&mut back.d_out, rows * h);
    back.d_out.fill(0.0);
    let out_norm = slot(model.index.output_norm);
    rmsnorm_rows_bwd(
        &last.out,
        &params[model.index.output_norm].data,
        &ws.head_inv,
        &back.d_n,
        &mut back.d_out,
        &mut grad[out_norm],
    );
    // Layers, last to first: each turns d_out into d_x, the next one's d_out.
    for l in (0..cfg.num_layers).rev() {
        let d = Dims::new(cfg, l, ws.b, ws.t);
        let p = LayerVecs::new(params, &model.index.layers[l]);
        let x: &[f32] = if l == 0 { &ws.x0 } else { &ws.layers[l - 1].out };
        layer_backward(&d, &w.layers[l], &p, &model.index.layers[l], offsets, x, &ws.layers[l], back, grad);
        std::mem::swap(&mut back.d_out, &mut back.d_x);
    }
    // Embedding rows, in row order.
    let a = offsets[model.index.embedding];
    for (r, &id) in ws.ids.iter().enumerate() {
        let dst = &mut grad[a + id as usize * e..a + (id as usize + 1) * e];
        for (g, &dv) in dst.iter_mut().zip(&back.d_out[r * e..(r + 1) * e]) {
            *g += dv;
        }
    }
}
