//! The model's matrices packed for the fused path: each weight (or several
//! that multiply the same input, concatenated by columns) as 16-column
//! panels, and — for training — its transpose, which the backward pass
//! multiplies by. Packed once per optimizer step and shared by every chunk.

use crate::engine::gemm::MatRef;
use crate::engine::kernels::Packed;
use crate::engine::Tensor;
use crate::nn::params::{LayerIndex, ParamIndex};
use rayon::prelude::*;

/// One product's weight: `w` for `x @ w`, and `wt` for `dy @ wᵀ` (training only).
#[derive(Clone, Debug, Default)]
pub struct Weight {
    pub w: Packed,
    pub wt: Packed,
}

impl Weight {
    /// `[p_0 | p_1 | …]`, each part a `[k, n_i]` parameter.
    fn pack(&mut self, parts: &[&Tensor], transpose: bool) {
        let views: Vec<MatRef> = parts.iter().map(|t| MatRef::new(&t.data, t.rows, t.cols)).collect();
        self.w.pack(&views);
        if transpose {
            // (A | B)ᵀ is Aᵀ stacked over Bᵀ.
            let t: Vec<MatRef> = parts.iter().map(|t| MatRef::transposed(&t.data, t.rows, t.cols)).collect();
            self.wt.pack_stacked(&t);
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct RwkvWeights {
    pub wk: Weight,
    pub wv: Weight,
    /// `[time_decay_proj | time_first_proj]`, `[H, 2H]`
    pub heads: Weight,
    pub wo: Weight,
}

#[derive(Clone, Debug, Default)]
pub struct MoeWeights {
    /// Expert 0's `[w_gate | w_up | router]`, `[H, 4H + NE − 1]` (router only when routing).
    pub first: Weight,
    /// Routed experts' `[w_gate | w_up]`, `[H, 4H]`, index j for expert j + 1.
    pub gate_up: Vec<Weight>,
    /// `w_down` of every expert, `[2H, H]`.
    pub down: Vec<Weight>,
}

#[derive(Clone, Debug, Default)]
pub struct LayerWeights {
    /// `[wz | wr | wh]`, `[I, 3H]`
    pub input: Weight,
    pub proj_in: Option<Weight>,
    /// `[uz | ur]`, `[H, 2H]`
    pub u_zr: Weight,
    pub uh: Weight,
    pub rwkv: Option<RwkvWeights>,
    pub moe: Option<MoeWeights>,
}

#[derive(Clone, Debug, Default)]
pub struct ModelWeights {
    pub layers: Vec<LayerWeights>,
    pub head: Weight,
    /// Whether the transposes are packed (training) or not (inference).
    pub with_transposes: bool,
}

impl ModelWeights {
    /// Packs (or repacks in place) every matrix of `params`, the layers in parallel.
    pub fn pack(&mut self, params: &[Tensor], index: &ParamIndex, routed: bool, transposes: bool) {
        self.with_transposes = transposes;
        self.layers.resize_with(index.layers.len(), LayerWeights::default);
        let (layers, head) = (&mut self.layers, &mut self.head);
        rayon::join(
            || layers.par_iter_mut().zip(&index.layers).for_each(|(w, ix)| w.pack(params, ix, routed, transposes)),
            || head.pack(&[&params[index.output_proj]], transposes),
        );
    }
}

impl LayerWeights {
    fn pack(&mut self, p: &[Tensor], ix: &LayerIndex, routed: bool, t: bool) {
        self.input.pack(&[&p[ix.wz], &p[ix.wr], &p[ix.wh]], t);
        self.proj_in = ix.proj_in.map(|i| {
            let mut w = self.proj_in.take().unwrap_or_default();
            w.pack(&[&p[i]], t);
            w
        });
        self.u_zr.pack(&[&p[ix.uz], &p[ix.ur]], t);
        self.uh.pack(&[&p[ix.uh]], t);
        self.rwkv = ix.rwkv.as_ref().map(|q| {
            let mut w = self.rwkv.take().unwrap_or_default();
            w.wk.pack(&[&p[q.wk]], t);
            w.wv.pack(&[&p[q.wv]], t);
            w.heads.pack(&[&p[q.time_decay_proj], &p[q.time_first_proj]], t);
            w.wo.pack(&[&p[q.wo]], t);
            w
        });
        self.moe = ix.moe.as_ref().map(|m| {
            let mut w = self.moe.take().unwrap_or_default();
            let e0 = &m.experts[0];
            match m.router.filter(|_| routed) {
                Some(r) => w.first.pack(&[&p[e0.w_gate], &p[e0.w_up], &p[r]], t),
                None => w.first.pack(&[&p[e0.w_gate], &p[e0.w_up]], t),
            }
            let routed_experts = if routed { &m.experts[1..] } else { &m.experts[..0] };
            w.gate_up.resize_with(routed_experts.len(), Weight::default);
            for (gu, e) in w.gate_up.iter_mut().zip(routed_experts) {
                gu.pack(&[&p[e.w_gate], &p[e.w_up]], t);
            }
            w.down.resize_with(1 + routed_experts.len(), Weight::default);
            for (d, e) in w.down.iter_mut().zip(&m.experts) {
                d.pack(&[&p[e.w_down]], t);
            }
            w
        });
    }
}
