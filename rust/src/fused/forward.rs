//! One layer over a chunk, forward: the input side as one product over all
//! T·B rows, then the recurrence step by step — a handful of products on
//! packed weights and one fused elementwise pass between each — writing
//! what the backward pass needs into [`LayerActs`].

use super::acts::{Dims, LayerActs, MoeActs, StepScratch};
use super::kernels::{candidate_fwd, gates_fwd, mix_fwd, rmsnorm_rows, shift_fwd, swiglu_fwd, wkv_fwd, WkvStep};
use super::weights::{LayerWeights, MoeWeights};
use crate::engine::gemm::MatRef;
use crate::engine::kernels::matmul_packed;
use crate::engine::ops::moe::MOE_EPS;
use crate::engine::Tensor;
use crate::nn::params::LayerIndex;

/// A layer's parameter vectors (gains, biases, mixes), read in place.
pub struct LayerVecs<'a> {
    pub input_norm: &'a [f32],
    pub hidden_norm: &'a [f32],
    /// `bz`, `br`, `bh`
    pub bias: [&'a [f32]; 3],
    pub mix: Option<[&'a [f32]; 3]>,
    pub time_decay: &'a [f32],
    pub time_first: &'a [f32],
    pub moe_norm: &'a [f32],
}

impl<'a> LayerVecs<'a> {
    pub fn new(p: &'a [Tensor], ix: &LayerIndex) -> Self {
        let v = |i: usize| p[i].data.as_slice();
        let empty: &[f32] = &[];
        LayerVecs {
            input_norm: v(ix.input_norm),
            hidden_norm: v(ix.hidden_norm),
            bias: [v(ix.bz), v(ix.br), v(ix.bh)],
            mix: ix.rwkv.as_ref().map(|q| [v(q.mix_k), v(q.mix_v), v(q.mix_r)]),
            time_decay: ix.rwkv.as_ref().map_or(empty, |q| v(q.time_decay)),
            time_first: ix.rwkv.as_ref().map_or(empty, |q| v(q.time_first)),
            moe_norm: ix.moe.as_ref().map_or(empty, |m| v(m.norm)),
        }
    }
}

/// Rows of step `t` in a `[T·B, width]` buffer.
fn block(d: &Dims, t: usize, width: usize) -> std::ops::Range<usize> {
    t * d.b * width..(t + 1) * d.b * width
}

/// `x [T·B, I] -> acts.out [T·B, H]`, from `init` (`[s, num, den, xp]`, each
/// `[B, H]`; the last three unused without RWKV; zeros when `None`). The state after the last step is left in
/// `acts` (see [`final_state`]).
pub fn layer_forward(
    d: &Dims,
    w: &LayerWeights,
    p: &LayerVecs,
    x: &[f32],
    init: Option<&[&[f32]]>,
    acts: &mut LayerActs,
    sc: &mut StepScratch,
) {
    let (rows, h) = (d.rows(), d.h);
    acts.size_for(d);
    sc.size_for(d);
    if crate::interrupt::stop_requested() {
        return; // Ctrl-C: the caller discards the pass (`interrupt::check`)
    }
    // Input side over all positions: xn = rmsnorm(x), a = xn @ [wz|wr|wh] + [bz|br|bh].
    rmsnorm_rows(x, p.input_norm, &mut acts.xn, &mut acts.inv_x);
    matmul_packed(MatRef::new(&acts.xn, rows, d.i), &w.input.w, &mut acts.a, 3 * h, false);
    for row in acts.a.chunks_exact_mut(3 * h) {
        for (g, bias) in row.chunks_exact_mut(h).zip(p.bias) {
            g.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
    }
    if let Some(proj) = &w.proj_in {
        matmul_packed(MatRef::new(x, rows, d.i), &proj.w, &mut acts.skip, h, false);
    }
    // The state entering step 0.
    let bh = d.b * h;
    match init {
        Some(st) => {
            acts.s0.copy_from_slice(st[0]);
            if d.rwkv {
                acts.rwkv.num[..bh].copy_from_slice(st[1]);
                acts.rwkv.den[..bh].copy_from_slice(st[2]);
                acts.rwkv.xp0.copy_from_slice(st[3]);
            }
        }
        None => {
            acts.s0.fill(0.0);
            if d.rwkv {
                acts.rwkv.num[..bh].fill(0.0);
                acts.rwkv.den[..bh].fill(0.0);
                acts.rwkv.xp0.fill(0.0);
            }
        }
    }
    for t in 0..d.t {
        if crate::interrupt::stop_requested() {
            break;
        }
        step_forward(d, w, p, t, x, acts, sc);
    }
}

/// The state after the last step into rows `start..start + B` of `dst`:
/// `[s, num, den, xp]` (RWKV) or `[s]`, each `[B_all, H]`.
pub fn final_state(d: &Dims, acts: &LayerActs, dst: &mut [Tensor], start: usize) {
    let (last, fin) = (block(d, d.t - 1, d.h), block(d, d.t, d.h));
    let rows = start * d.h..(start + d.b) * d.h;
    dst[0].data[rows.clone()].copy_from_slice(&acts.out[last.clone()]);
    if d.rwkv {
        dst[1].data[rows.clone()].copy_from_slice(&acts.rwkv.num[fin.clone()]);
        dst[2].data[rows.clone()].copy_from_slice(&acts.rwkv.den[fin]);
        dst[3].data[rows].copy_from_slice(&acts.c[last]);
    }
}

fn step_forward(
    d: &Dims,
    w: &LayerWeights,
    p: &LayerVecs,
    t: usize,
    x: &[f32],
    acts: &mut LayerActs,
    sc: &mut StepScratch,
) {
    let (b, h) = (d.b, d.h);
    let bh = b * h;
    let [b1, b2, b3] = [block(d, t, h), block(d, t, 2 * h), block(d, t, 3 * h)];
    let LayerActs { a, skip, s0, hn, inv_s, zr, rh, c, c2, o1, out, rwkv, moe, .. } = acts;
    let (out_prev, out_cur) = out.split_at_mut(t * bh);
    let s: &[f32] = if t == 0 { s0 } else { &out_prev[(t - 1) * bh..] };
    let a_t = &a[b3];

    // GRU gates: z, r = σ(a + hn @ [uz|ur]); c = tanh(a_h + (r ⊙ hn) @ uh).
    rmsnorm_rows(s, p.hidden_norm, &mut hn[b1.clone()], &mut inv_s[t * b..(t + 1) * b]);
    let hn_t = &hn[b1.clone()];
    matmul_packed(MatRef::new(hn_t, b, h), &w.u_zr.w, &mut sc.hzr, 2 * h, false);
    gates_fwd(h, a_t, &sc.hzr, hn_t, &mut zr[b2.clone()], &mut rh[b1.clone()]);
    matmul_packed(MatRef::new(&rh[b1.clone()], b, h), &w.uh.w, &mut sc.hh, h, false);
    let (c_prev, c_cur) = c.split_at_mut(t * bh);
    let c_t = &mut c_cur[..bh];
    candidate_fwd(h, a_t, &sc.hh, c_t);
    let c_t: &[f32] = c_t;

    // RWKV: token shift, the WKV state update, c += (σ(sr) ⊙ wkv) @ wo.
    let attn = if let (Some(rw), Some(mix)) = (&w.rwkv, &p.mix) {
        let r = rwkv;
        let xp: &[f32] = if t == 0 { &r.xp0 } else { &c_prev[(t - 1) * bh..] };
        shift_fwd(xp, c_t, mix[0], mix[1], mix[2], &mut r.sk[b1.clone()], &mut r.sv[b1.clone()], &mut r.g[b1.clone()]);
        matmul_packed(MatRef::new(&r.sk[b1.clone()], b, h), &rw.wk.w, &mut r.kraw[b1.clone()], h, false);
        matmul_packed(MatRef::new(&r.sv[b1.clone()], b, h), &rw.wv.w, &mut r.v[b1.clone()], h, false);
        matmul_packed(MatRef::new(c_t, b, h), &rw.heads.w, &mut sc.heads, 2 * h, false);
        let (num_cur, num_next) = r.num.split_at_mut((t + 1) * bh);
        let (den_cur, den_next) = r.den.split_at_mut((t + 1) * bh);
        wkv_fwd(WkvStep {
            kraw: &r.kraw[b1.clone()],
            v: &r.v[b1.clone()],
            heads: &sc.heads,
            num: &num_cur[t * bh..],
            den: &den_cur[t * bh..],
            time_decay: p.time_decay,
            time_first: p.time_first,
            g: &r.g[b1.clone()],
            tdu: &mut r.tdu[b2.clone()],
            wkv: &mut r.wkv[b1.clone()],
            gated: &mut r.gated[b1.clone()],
            num_next: &mut num_next[..bh],
            den_next: &mut den_next[..bh],
        });
        matmul_packed(MatRef::new(&r.gated[b1.clone()], b, h), &rw.wo.w, &mut sc.attn, h, false);
        Some(sc.attn.as_slice())
    } else {
        None
    };

    // h = (1 − z)⊙s + z⊙c, then the residual from the layer input.
    let skip_t = if d.proj { &skip[b1.clone()] } else { &x[b1.clone()] };
    mix_fwd(h, c_t, attn, &zr[b2], s, skip_t, &mut c2[b1.clone()], &mut o1[b1.clone()]);
    let o1_t = &o1[b1.clone()];
    let out_t = &mut out_cur[..bh];
    if let Some(mw) = &w.moe {
        moe_forward(d, mw, p.moe_norm, t, o1_t, moe, &mut sc.moe);
        for ((o, &a), &m) in out_t.iter_mut().zip(o1_t).zip(&sc.moe) {
            *o = a + m;
        }
    } else {
        out_t.copy_from_slice(o1_t);
    }
    if d.half {
        for (o, &xv) in out_t.iter_mut().zip(&x[b1]) {
            *o += 0.5 * xv;
        }
    }
}

/// The `k` largest of `p` (ties: the lower index first), without allocating.
pub fn top_k_into(p: &[f32], sel: &mut [u32]) {
    for slot in 0..sel.len() {
        let mut best = usize::MAX;
        for (j, &v) in p.iter().enumerate() {
            if !sel[..slot].contains(&(j as u32)) && (best == usize::MAX || v > p[best]) {
                best = j;
            }
        }
        sel[slot] = best as u32;
    }
}

/// `moe(o1)` for step `t` into `out [B, H]` (MODEL.md, "Mixture of experts").
fn moe_forward(d: &Dims, w: &MoeWeights, norm: &[f32], t: usize, o1: &[f32], m: &mut MoeActs, out: &mut [f32]) {
    let (b, h, fw, nr) = (d.b, d.h, d.first_width(), d.routed);
    let b1 = block(d, t, h);
    rmsnorm_rows(o1, norm, &mut m.n[b1.clone()], &mut m.inv_n[t * b..(t + 1) * b]);
    let n_t = &m.n[b1.clone()];
    let first_t = &mut m.first[block(d, t, fw)];
    matmul_packed(MatRef::new(n_t, b, h), &w.first.w, first_t, fw, false);
    let a0 = &mut m.a0[block(d, t, 2 * h)];
    swiglu_fwd(h, fw, first_t, a0);
    let y0 = &mut m.y0[b1];
    matmul_packed(MatRef::new(a0, b, 2 * h), &w.down[0].w, y0, h, false);
    if nr == 0 {
        out.copy_from_slice(y0);
        return;
    }
    // Router: p = softmax(l) with MODEL.md's ε, the top-k, and the coefficients.
    let (k, ne) = (d.k, nr + 1);
    for r in 0..b {
        let row = t * b + r;
        let l = &first_t[r * fw + 4 * h..(r + 1) * fw];
        let p = &mut m.p[row * nr..(row + 1) * nr];
        let mx = l.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        for (pv, &lv) in p.iter_mut().zip(l) {
            *pv = (lv - mx).exp();
        }
        let s = p.iter().sum::<f32>() + MOE_EPS;
        p.iter_mut().for_each(|v| *v /= s);
        let sel = &mut m.sel[row * k..(row + 1) * k];
        top_k_into(p, sel);
        let den = sel.iter().map(|&j| p[j as usize]).sum::<f32>() + 1.0 + MOE_EPS;
        let coef = &mut m.coef[row * ne..(row + 1) * ne];
        coef.fill(0.0);
        coef[0] = 1.0 / den;
        for &j in sel.iter() {
            coef[j as usize + 1] = p[j as usize] / den;
        }
        let c0 = coef[0];
        for (o, &y) in out[r * h..(r + 1) * h].iter_mut().zip(&y0[r * h..(r + 1) * h]) {
            *o = y * c0;
        }
    }
    // Each routed expert once, over the rows of this step routed to it.
    for (j, e) in m.experts.iter_mut().enumerate() {
        let start = e.rows.len();
        for r in 0..b {
            let row = t * b + r;
            if m.sel[row * k..(row + 1) * k].contains(&(j as u32)) {
                e.rows.push(row as u32);
                e.n.extend_from_slice(&n_t[r * h..(r + 1) * h]);
            }
        }
        let count = e.rows.len() - start;
        if count > 0 {
            let end = start + count;
            e.grow_outputs(end, h);
            let (gu, a, y) = (
                &mut e.gu[start * 4 * h..end * 4 * h],
                &mut e.a[start * 2 * h..end * 2 * h],
                &mut e.y[start * h..end * h],
            );
            matmul_packed(MatRef::new(&e.n[start * h..], count, h), &w.gate_up[j].w, gu, 4 * h, false);
            swiglu_fwd(h, 4 * h, gu, a);
            matmul_packed(MatRef::new(a, count, 2 * h), &w.down[j + 1].w, y, h, false);
            for (i, &row) in e.rows[start..].iter().enumerate() {
                let (row, r) = (row as usize, row as usize - t * b);
                let c = m.coef[row * ne + j + 1];
                for (o, &v) in out[r * h..(r + 1) * h].iter_mut().zip(&y[i * h..(i + 1) * h]) {
                    *o += v * c;
                }
            }
        }
        e.starts.push(e.rows.len());
    }
}
