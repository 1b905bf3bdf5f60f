//! One layer over a chunk, backward: the recurrence in reverse, step by
//! step (gradients carried through `s`, `num`, `den` and `xp`), storing each
//! step's pre-activation gradients; then every weight gradient as one product
//! over all T·B rows (`dW = xᵀ @ dy`), and the input side's.

use super::acts::{size, Dims, LayerActs};
use super::forward::LayerVecs;
use super::kernels::{
    candidate_bwd, gates_bwd, mix_bwd, rmsnorm_rows_bwd, shift_bwd, swiglu_bwd, wkv_bwd, ShiftBack, WkvBack,
};
use super::weights::{LayerWeights, MoeWeights};
use crate::engine::gemm::MatRef;
use crate::engine::kernels::vmath;
use crate::engine::kernels::{matmul, matmul_packed};
use crate::engine::ops::moe::MOE_EPS;
use crate::nn::params::LayerIndex;

/// Gradients of one routed expert's rows, in the order of its `RoutedActs`.
#[derive(Default, Debug)]
pub struct RoutedGrads {
    /// `∂/∂[gate | up]` `[R, 4H]`
    pub d_gu: Vec<f32>,
    /// `∂/∂y` `[R, H]` (the expert's output, before its coefficient)
    pub d_y: Vec<f32>,
}

/// The backward pass's buffers for one chunk, shared by its layers.
#[derive(Default, Debug)]
pub struct LayerGrads {
    /// In: `∂/∂out` of the layer `[T·B, H]`. Out (`d_x`): `∂/∂x` `[T·B, I]`.
    pub d_out: Vec<f32>,
    pub d_x: Vec<f32>,
    /// The head's `∂/∂n` `[T·B, H]`.
    pub d_n: Vec<f32>,
    /// Pre-activation gradients of the gates `z | r | c` `[T·B, 3H]`: also
    /// those of `a`, of `hn @ [uz|ur]` and of `rh @ uh`.
    da: Vec<f32>,
    /// `∂/∂o1`, which is also the residual input's gradient `[T·B, H]`.
    d_skip: Vec<f32>,
    d_kraw: Vec<f32>,
    d_v: Vec<f32>,
    /// `[T·B, 2H]`
    d_heads: Vec<f32>,
    d_attn: Vec<f32>,
    /// `∂/∂(n @ [wg0 | wu0 | router])` `[T·B, 4H + NE − 1]`
    d_first: Vec<f32>,
    d_y0: Vec<f32>,
    routed: Vec<RoutedGrads>,
    d_xn: Vec<f32>,
    // Carried from step t + 1 to step t, `[B, H]`.
    ds: Vec<f32>,
    d_num: Vec<f32>,
    d_den: Vec<f32>,
    d_xp: Vec<f32>,
    // Per-step scratch.
    go: Vec<f32>,
    ds_new: Vec<f32>,
    d_o1: Vec<f32>,
    d_c: Vec<f32>,
    d_hn: Vec<f32>,
    d_rh: Vec<f32>,
    d_gated: Vec<f32>,
    d_shift: [Vec<f32>; 3],
    d_moe_n: Vec<f32>,
    d_a: Vec<f32>,
    d_tmp: Vec<f32>,
    d_coef: Vec<f32>,
    /// Vector-parameter gradients `[H]`: hidden_norm, mix_k, mix_v, mix_r,
    /// time_decay, time_first, moe.norm.
    d_vecs: [Vec<f32>; 7],
}

impl LayerGrads {
    fn size_for(&mut self, d: &Dims) {
        let (rows, b, h) = (d.rows(), d.b, d.h);
        size(&mut self.d_x, rows * d.i);
        self.d_x.fill(0.0);
        size(&mut self.d_xn, rows * d.i);
        size(&mut self.da, rows * 3 * h);
        for v in [&mut self.d_skip, &mut self.d_kraw, &mut self.d_v, &mut self.d_attn, &mut self.d_y0] {
            size(v, rows * h);
        }
        size(&mut self.d_heads, rows * 2 * h);
        size(&mut self.d_first, if d.moe { rows * d.first_width() } else { 0 });
        for v in [&mut self.ds, &mut self.d_num, &mut self.d_den, &mut self.d_xp] {
            size(v, b * h);
            v.fill(0.0);
        }
        for v in [&mut self.go, &mut self.ds_new, &mut self.d_o1, &mut self.d_c, &mut self.d_hn, &mut self.d_rh] {
            size(v, b * h);
        }
        for v in [&mut self.d_gated, &mut self.d_moe_n, &mut self.d_tmp] {
            size(v, b * h);
        }
        for v in &mut self.d_shift {
            size(v, b * h);
        }
        size(&mut self.d_a, b * 2 * h);
        size(&mut self.d_coef, b * (d.routed + 1));
        for v in &mut self.d_vecs {
            size(v, h);
            v.fill(0.0);
        }
        self.routed.resize_with(d.routed, RoutedGrads::default);
    }
}

/// Rows of step `t` in a `[T·B, width]` buffer.
fn block(d: &Dims, t: usize, width: usize) -> std::ops::Range<usize> {
    t * d.b * width..(t + 1) * d.b * width
}

/// Columns `start..start + cols` of a row-major `[rows, stride]` buffer.
fn cols<'a>(data: &'a [f32], rows: usize, stride: usize, start: usize, cols: usize) -> MatRef<'a> {
    MatRef { data: &data[start..], rows, cols, row_stride: stride, col_stride: 1 }
}

/// Backward of `layer_forward`: from `g.d_out` to `g.d_x`, adding every
/// parameter's gradient into `grad` (flat, at `offsets`).
#[allow(clippy::too_many_arguments)]
pub fn layer_backward(
    d: &Dims,
    w: &LayerWeights,
    p: &LayerVecs,
    ix: &LayerIndex,
    offsets: &[usize],
    x: &[f32],
    acts: &LayerActs,
    g: &mut LayerGrads,
    grad: &mut [f32],
) {
    let (rows, h) = (d.rows(), d.h);
    g.size_for(d);
    for e in &mut g.routed {
        e.d_gu.clear();
        e.d_y.clear();
    }
    for (e, acts_e) in g.routed.iter_mut().zip(&acts.moe.experts) {
        size(&mut e.d_gu, acts_e.rows.len() * 4 * h);
        size(&mut e.d_y, acts_e.rows.len() * h);
    }
    for t in (0..d.t).rev() {
        if crate::interrupt::stop_requested() {
            return; // Ctrl-C: the caller discards the pass (`interrupt::check`)
        }
        step_backward(d, w, p, t, acts, g);
    }
    let range = |i: usize| offsets[i]..offsets[i + 1];
    // dW = xᵀ @ dy for every product inside the recurrence.
    fn xt(v: &[f32], rows: usize, width: usize) -> MatRef<'_> {
        MatRef::transposed(v, rows, width)
    }
    let gemm_into = |grad: &mut [f32], i: usize, a: MatRef, b: MatRef| {
        let r = range(i);
        matmul(a, b, &mut grad[r], b.cols, true);
    };
    gemm_into(grad, ix.uz, xt(&acts.hn, rows, h), cols(&g.da, rows, 3 * h, 0, h));
    gemm_into(grad, ix.ur, xt(&acts.hn, rows, h), cols(&g.da, rows, 3 * h, h, h));
    gemm_into(grad, ix.uh, xt(&acts.rh, rows, h), cols(&g.da, rows, 3 * h, 2 * h, h));
    if let Some(q) = &ix.rwkv {
        let r = &acts.rwkv;
        gemm_into(grad, q.wk, xt(&r.sk, rows, h), MatRef::new(&g.d_kraw, rows, h));
        gemm_into(grad, q.wv, xt(&r.sv, rows, h), MatRef::new(&g.d_v, rows, h));
        gemm_into(grad, q.time_decay_proj, xt(&acts.c, rows, h), cols(&g.d_heads, rows, 2 * h, 0, h));
        gemm_into(grad, q.time_first_proj, xt(&acts.c, rows, h), cols(&g.d_heads, rows, 2 * h, h, h));
        gemm_into(grad, q.wo, xt(&r.gated, rows, h), MatRef::new(&g.d_attn, rows, h));
    }
    if let Some(mi) = &ix.moe {
        let m = &acts.moe;
        let fw = d.first_width();
        let e0 = &mi.experts[0];
        gemm_into(grad, e0.w_gate, xt(&m.n, rows, h), cols(&g.d_first, rows, fw, 0, 2 * h));
        gemm_into(grad, e0.w_up, xt(&m.n, rows, h), cols(&g.d_first, rows, fw, 2 * h, 2 * h));
        gemm_into(grad, e0.w_down, xt(&m.a0, rows, 2 * h), MatRef::new(&g.d_y0, rows, h));
        if d.routed > 0 {
            let router = mi.router.expect("routing needs a router");
            gemm_into(grad, router, xt(&m.n, rows, h), cols(&g.d_first, rows, fw, 4 * h, d.routed));
            for (j, (e, eg)) in m.experts.iter().zip(&g.routed).enumerate() {
                let (n, ex) = (e.rows.len(), &mi.experts[j + 1]);
                if n == 0 {
                    continue;
                }
                let nt = MatRef::transposed(&e.n, n, h);
                gemm_into(grad, ex.w_gate, nt, cols(&eg.d_gu, n, 4 * h, 0, 2 * h));
                gemm_into(grad, ex.w_up, nt, cols(&eg.d_gu, n, 4 * h, 2 * h, 2 * h));
                gemm_into(grad, ex.w_down, MatRef::transposed(&e.a, n, 2 * h), MatRef::new(&eg.d_y, n, h));
            }
        }
    }
    // The input side: a = xn @ [wz|wr|wh] + bias, xn = rmsnorm(x).
    let xn_t = xt(&acts.xn, rows, d.i);
    gemm_into(grad, ix.wz, xn_t, cols(&g.da, rows, 3 * h, 0, h));
    gemm_into(grad, ix.wr, xn_t, cols(&g.da, rows, 3 * h, h, h));
    gemm_into(grad, ix.wh, xn_t, cols(&g.da, rows, 3 * h, 2 * h, h));
    for (gate, bias) in [ix.bz, ix.br, ix.bh].into_iter().enumerate() {
        let r = range(bias);
        let dst = &mut grad[r];
        for row in g.da.chunks_exact(3 * h) {
            dst.iter_mut().zip(&row[gate * h..(gate + 1) * h]).for_each(|(a, b)| *a += b);
        }
    }
    matmul_packed(MatRef::new(&g.da, rows, 3 * h), &w.input.wt, &mut g.d_xn, d.i, false);
    let r = range(ix.input_norm);
    rmsnorm_rows_bwd(x, p.input_norm, &acts.inv_x, &g.d_xn, &mut g.d_x, &mut grad[r]);
    match (&w.proj_in, ix.proj_in) {
        (Some(proj), Some(pi)) => {
            gemm_into(grad, pi, xt(x, rows, d.i), MatRef::new(&g.d_skip, rows, h));
            matmul_packed(MatRef::new(&g.d_skip, rows, h), &proj.wt, &mut g.d_x, d.i, true);
        }
        _ => g.d_x.iter_mut().zip(&g.d_skip).for_each(|(a, b)| *a += b),
    }
    // Vector parameters accumulated over the steps.
    let mut vec_slots = vec![(ix.hidden_norm, 0)];
    if let Some(q) = &ix.rwkv {
        vec_slots.extend([(q.mix_k, 1), (q.mix_v, 2), (q.mix_r, 3), (q.time_decay, 4), (q.time_first, 5)]);
    }
    if let Some(mi) = &ix.moe {
        vec_slots.push((mi.norm, 6));
    }
    for (i, k) in vec_slots {
        let r = range(i);
        grad[r].iter_mut().zip(&g.d_vecs[k]).for_each(|(a, b)| *a += b);
    }
}

fn step_backward(d: &Dims, w: &LayerWeights, p: &LayerVecs, t: usize, acts: &LayerActs, g: &mut LayerGrads) {
    let b1 = block(d, t, d.h);
    // ∂/∂out_t: from above, and from step t + 1 (where out_t was s).
    for ((o, &a), &c) in g.go.iter_mut().zip(&g.d_out[b1.clone()]).zip(&g.ds) {
        *o = a + c;
    }
    if d.half {
        for (dx, &v) in g.d_x[b1].iter_mut().zip(&g.go) {
            *dx += 0.5 * v;
        }
    }
    g.d_o1.copy_from_slice(&g.go);
    if let Some(mw) = &w.moe {
        moe_backward(d, mw, p.moe_norm, t, acts, g);
    }
    cell_backward(d, w, p, t, acts, g);
}

/// From `∂/∂o1` (in `g.d_o1`) back to `∂/∂s` (into `g.ds`) through the GRU
/// cell and RWKV, storing the pre-activation gradients of step t.
fn cell_backward(d: &Dims, w: &LayerWeights, p: &LayerVecs, t: usize, acts: &LayerActs, g: &mut LayerGrads) {
    let (b, h) = (d.b, d.h);
    let bh = b * h;
    let [b1, b2, b3] = [block(d, t, h), block(d, t, 2 * h), block(d, t, 3 * h)];
    let s: &[f32] = if t == 0 { &acts.s0 } else { &acts.out[block(d, t - 1, h)] };
    let LayerGrads {
        da,
        d_skip,
        d_kraw,
        d_v,
        d_heads,
        d_attn,
        ds,
        d_num,
        d_den,
        d_xp,
        ds_new,
        d_o1,
        d_c,
        d_hn,
        d_rh,
        d_gated,
        d_shift,
        d_vecs,
        ..
    } = g;
    d_skip[b1.clone()].copy_from_slice(d_o1);
    let da_t = &mut da[b3];
    // h = (1 − z)⊙s + z⊙c2: ∂s, z's pre-activation, ∂c2 (into d_c).
    mix_bwd(h, d_o1, &acts.zr[b2.clone()], &acts.c2[b1.clone()], s, ds_new, da_t, d_c);
    let c_t = &acts.c[b1.clone()];
    if let (Some(rw), Some(mix)) = (&w.rwkv, &p.mix) {
        let r = &acts.rwkv;
        // c2 = c + (σ(sr) ⊙ wkv) @ wo
        d_attn[b1.clone()].copy_from_slice(d_c);
        matmul_packed(MatRef::new(d_c, b, h), &rw.wo.wt, d_gated, h, false);
        let [d_sk, d_sv, d_sr] = d_shift;
        let [dv_norm, dm_k, dm_v, dm_r, d_td, d_tf, _] = d_vecs;
        let _ = dv_norm;
        wkv_bwd(WkvBack {
            d_gated,
            kraw: &r.kraw[b1.clone()],
            v: &r.v[b1.clone()],
            tdu: &r.tdu[b2.clone()],
            num: &r.num[b1.clone()],
            den: &r.den[b1.clone()],
            wkv: &r.wkv[b1.clone()],
            g: &r.g[b1.clone()],
            time_decay: p.time_decay,
            time_first: p.time_first,
            d_num,
            d_den,
            d_kraw: &mut d_kraw[b1.clone()],
            d_v: &mut d_v[b1.clone()],
            d_heads: &mut d_heads[b2.clone()],
            d_sr,
            d_td,
            d_tf,
        });
        // xp' = c: the next step's ∂xp joins ∂c.
        d_c.iter_mut().zip(d_xp.iter()).for_each(|(a, b)| *a += b);
        matmul_packed(MatRef::new(&d_heads[b2.clone()], b, 2 * h), &rw.heads.wt, d_c, h, true);
        matmul_packed(MatRef::new(&d_kraw[b1.clone()], b, h), &rw.wk.wt, d_sk, h, false);
        matmul_packed(MatRef::new(&d_v[b1.clone()], b, h), &rw.wv.wt, d_sv, h, false);
        let xp: &[f32] = if t == 0 { &r.xp0 } else { &acts.c[block(d, t - 1, h)] };
        shift_bwd(ShiftBack { xp, c: c_t, mix: *mix, d_s: [d_sk, d_sv, d_sr], d_c, d_xp, d_mix: [dm_k, dm_v, dm_r] });
    }
    // c = tanh(a_h + (r ⊙ hn) @ uh)
    candidate_bwd(h, c_t, d_c, da_t);
    matmul_packed(cols(da_t, b, 3 * h, 2 * h, h), &w.uh.wt, d_rh, h, false);
    let hn_t = &acts.hn[b1.clone()];
    gates_bwd(h, &acts.zr[b2], hn_t, d_rh, da_t, d_hn);
    // z, r = σ(a + hn @ [uz|ur]); hn = rmsnorm(s)
    matmul_packed(cols(da_t, b, 3 * h, 0, 2 * h), &w.u_zr.wt, d_hn, h, true);
    rmsnorm_rows_bwd(s, p.hidden_norm, &acts.inv_s[t * b..(t + 1) * b], d_hn, ds_new, &mut d_vecs[0]);
    std::mem::swap(ds, ds_new);
    debug_assert_eq!(ds.len(), bh);
}

/// Backward of `out = o1 + moe(o1)` at step t: `g.go` is `∂/∂moe`; adds
/// `∂moe/∂o1` into `g.d_o1` and stores the experts' gradients of step t.
fn moe_backward(d: &Dims, w: &MoeWeights, norm: &[f32], t: usize, acts: &LayerActs, g: &mut LayerGrads) {
    let (b, h, fw, nr) = (d.b, d.h, d.first_width(), d.routed);
    let b1 = block(d, t, h);
    let m = &acts.moe;
    let LayerGrads { go, d_first, d_y0, routed, d_moe_n, d_a, d_tmp, d_coef, d_o1, d_vecs, .. } = g;
    let d_first_t = &mut d_first[block(d, t, fw)];
    let d_y0_t = &mut d_y0[b1.clone()];
    let ne = nr + 1;
    if nr == 0 {
        d_y0_t.copy_from_slice(go);
    } else {
        // moe = coef_0·y0 + Σ coef_j·y_j: gradients of the coefficients and of each output.
        let y0 = &m.y0[b1.clone()];
        for r in 0..b {
            let (row, gr) = (t * b + r, &go[r * h..(r + 1) * h]);
            let c0 = m.coef[row * ne];
            d_coef[r * ne] = vmath::dot(gr, &y0[r * h..(r + 1) * h]);
            d_coef[r * ne + 1..(r + 1) * ne].fill(0.0);
            for (o, &v) in d_y0_t[r * h..(r + 1) * h].iter_mut().zip(gr) {
                *o = v * c0;
            }
        }
        for (j, (e, eg)) in m.experts.iter().zip(routed.iter_mut()).enumerate() {
            for i in e.starts[t]..e.starts[t + 1] {
                let row = e.rows[i] as usize;
                let r = row - t * b;
                let gr = &go[r * h..(r + 1) * h];
                d_coef[r * ne + j + 1] = vmath::dot(gr, &e.y[i * h..(i + 1) * h]);
                let c = m.coef[row * ne + j + 1];
                for (o, &v) in eg.d_y[i * h..(i + 1) * h].iter_mut().zip(gr) {
                    *o = v * c;
                }
            }
        }
        // Gates (coef from p) and the router softmax: ∂/∂router logits.
        for r in 0..b {
            let row = t * b + r;
            let p = &m.p[row * nr..(row + 1) * nr];
            let sel = &m.sel[row * d.k..(row + 1) * d.k];
            let dc = &d_coef[r * ne..(r + 1) * ne];
            let den = sel.iter().map(|&j| p[j as usize]).sum::<f32>() + 1.0 + MOE_EPS;
            let common = (dc[0] + sel.iter().map(|&i| dc[i as usize + 1] * p[i as usize]).sum::<f32>()) / (den * den);
            let dl = &mut d_first_t[r * fw + 4 * h..(r + 1) * fw];
            // dl first holds ∂/∂p, then becomes ∂/∂l.
            dl.fill(0.0);
            for &j in sel {
                dl[j as usize] = dc[j as usize + 1] / den - common;
            }
            let gp: f32 = p.iter().zip(dl.iter()).map(|(a, b)| a * b).sum();
            for (x, &pv) in dl.iter_mut().zip(p) {
                *x = pv * (*x - gp);
            }
            // The +1e-8 makes the max shift not quite neutral (see ops/moe.rs).
            let l = &acts.moe.first[row * fw + 4 * h..(row + 1) * fw];
            let argmax = (0..nr).fold(0, |a, j| if l[j] > l[a] { j } else { a });
            let s = 1.0 / p[argmax].max(f32::MIN_POSITIVE);
            dl[argmax] -= gp * MOE_EPS / s;
        }
    }
    // Expert 0: ∂[gate | up] from ∂y0, then ∂n through [wg0 | wu0 | router].
    let first_t = &m.first[block(d, t, fw)];
    matmul_packed(MatRef::new(d_y0_t, b, h), &w.down[0].wt, d_a, 2 * h, false);
    swiglu_bwd(h, fw, first_t, d_a, d_first_t);
    matmul_packed(MatRef::new(d_first_t, b, fw), &w.first.wt, d_moe_n, h, false);
    // Routed experts, each over its rows of step t, scattered back into ∂n.
    for (j, (e, eg)) in m.experts.iter().zip(routed.iter_mut()).enumerate() {
        let (start, end) = (e.starts[t], e.starts[t + 1]);
        let count = end - start;
        if count == 0 {
            continue;
        }
        matmul_packed(MatRef::new(&eg.d_y[start * h..end * h], count, h), &w.down[j + 1].wt, d_a, 2 * h, false);
        let d_gu = &mut eg.d_gu[start * 4 * h..end * 4 * h];
        swiglu_bwd(h, 4 * h, &e.gu[start * 4 * h..end * 4 * h], &d_a[..count * 2 * h], d_gu);
        matmul_packed(MatRef::new(d_gu, count, 4 * h), &w.gate_up[j].wt, d_tmp, h, false);
        for (i, &row) in e.rows[start..end].iter().enumerate() {
            let r = row as usize - t * b;
            for (o, &v) in d_moe_n[r * h..(r + 1) * h].iter_mut().zip(&d_tmp[i * h..(i + 1) * h]) {
                *o += v;
            }
        }
    }
    // n = rmsnorm(o1; moe.norm)
    rmsnorm_rows_bwd(&acts.o1[b1.clone()], norm, &m.inv_n[t * b..(t + 1) * b], d_moe_n, d_o1, &mut d_vecs[6]);
}
