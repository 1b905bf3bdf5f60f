//! The elementwise parts of one time step, forward and backward, each one
//! pass over `[B, H]` rows. Compiled per instruction set by `multiversion!`,
//! so the `vmath` calls inside the loops vectorise. Row slices are passed
//! whole; `h` is the hidden width, strides are given where a block is part
//! of a wider row (the input side `a` is `[B, 3H]`).

use crate::engine::kernels::vmath::{self, exp, sigmoid, silu, tanh};
use crate::engine::ops::fused::{RMS_EPS_A, RMS_EPS_B, WKV_EPS};
use crate::multiversion;

/// Rows of `x` as slices of width `w` (the last row may be shorter only if misused).
fn rows(x: &[f32], w: usize) -> std::slice::ChunksExact<'_, f32> {
    x.chunks_exact(w)
}

fn rows_mut(x: &mut [f32], w: usize) -> std::slice::ChunksExactMut<'_, f32> {
    x.chunks_exact_mut(w)
}

multiversion! {
    /// `y = x · inv ⊙ g` per row, `inv = 1/sqrt(mean(x²) + 1e-6 + 1e-8)`. `x, y [R, W]`, `inv [R]`.
    pub fn rmsnorm_rows(x: &[f32], g: &[f32], y: &mut [f32], inv: &mut [f32]) {
        let w = g.len();
        for ((xr, yr), iv) in rows(x, w).zip(rows_mut(y, w)).zip(inv.iter_mut()) {
            let ms = vmath::sum_sq(xr) / w as f32;
            let s = 1.0 / (ms + RMS_EPS_A + RMS_EPS_B).sqrt();
            *iv = s;
            for ((yv, &xv), &gv) in yr.iter_mut().zip(xr).zip(g) {
                *yv = xv * s * gv;
            }
        }
    }
}

multiversion! {
    /// RMSNorm backward: `dx += inv·g⊙dy − inv³·x·mean(g⊙dy⊙x)` per row, and
    /// `dg += Σ_rows dy ⊙ x · inv`. `x, dy, dx [R, W]`.
    pub fn rmsnorm_rows_bwd(x: &[f32], g: &[f32], inv: &[f32], dy: &[f32], dx: &mut [f32], dg: &mut [f32]) {
        let w = g.len();
        for (((xr, dyr), dxr), &s) in rows(x, w).zip(rows(dy, w)).zip(rows_mut(dx, w)).zip(inv) {
            let dot = vmath::sum_by(w, |j| g[j] * dyr[j] * xr[j]) / w as f32;
            let s3 = s * s * s;
            for j in 0..w {
                dxr[j] += s * g[j] * dyr[j] - s3 * xr[j] * dot;
                dg[j] += dyr[j] * xr[j] * s;
            }
        }
    }
}

multiversion! {
    /// `z | r = σ(a_zr + hzr)`, `rh = r ⊙ hn`. `a [B, 3H]` (first 2H), `hzr, zr [B, 2H]`, `hn, rh [B, H]`.
    pub fn gates_fwd(h: usize, a: &[f32], hzr: &[f32], hn: &[f32], zr: &mut [f32], rh: &mut [f32]) {
        for ((((ar, gr), zrr), hnr), rhr) in
            rows(a, 3 * h).zip(rows(hzr, 2 * h)).zip(rows_mut(zr, 2 * h)).zip(rows(hn, h)).zip(rows_mut(rh, h))
        {
            for ((o, &x), &y) in zrr.iter_mut().zip(&ar[..2 * h]).zip(gr) {
                *o = sigmoid(x + y);
            }
            for ((o, &r), &hv) in rhr.iter_mut().zip(&zrr[h..]).zip(hnr) {
                *o = r * hv;
            }
        }
    }
}

multiversion! {
    /// `c = tanh(a_h + hh)`. `a [B, 3H]` (last H), `hh, c [B, H]`.
    pub fn candidate_fwd(h: usize, a: &[f32], hh: &[f32], c: &mut [f32]) {
        for ((ar, hr), cr) in rows(a, 3 * h).zip(rows(hh, h)).zip(rows_mut(c, h)) {
            for ((o, &x), &y) in cr.iter_mut().zip(&ar[2 * h..]).zip(hr) {
                *o = tanh(x + y);
            }
        }
    }
}

multiversion! {
    /// Token shift: `sk = (1 − mk)⊙xp + mk⊙c`, `sv` likewise, `g = σ((1 − mr)⊙xp + mr⊙c)`.
    pub fn shift_fwd(
        xp: &[f32], c: &[f32], mk: &[f32], mv: &[f32], mr: &[f32],
        sk: &mut [f32], sv: &mut [f32], g: &mut [f32],
    ) {
        let h = mk.len();
        for ((((xr, cr), skr), svr), gr) in
            rows(xp, h).zip(rows(c, h)).zip(rows_mut(sk, h)).zip(rows_mut(sv, h)).zip(rows_mut(g, h))
        {
            for j in 0..h {
                let (x, cv) = (xr[j], cr[j]);
                skr[j] = (1.0 - mk[j]) * x + mk[j] * cv;
                svr[j] = (1.0 - mv[j]) * x + mv[j] * cv;
                gr[j] = sigmoid((1.0 - mr[j]) * x + mr[j] * cv);
            }
        }
    }
}

/// One step's RWKV inputs and outputs, `[B, H]` unless noted.
pub struct WkvStep<'a> {
    pub kraw: &'a [f32],
    pub v: &'a [f32],
    /// `c @ [time_decay_proj | time_first_proj]` `[B, 2H]`
    pub heads: &'a [f32],
    pub num: &'a [f32],
    pub den: &'a [f32],
    pub time_decay: &'a [f32],
    pub time_first: &'a [f32],
    pub g: &'a [f32],
    /// `tanh` of the heads `[B, 2H]`
    pub tdu: &'a mut [f32],
    pub wkv: &'a mut [f32],
    pub gated: &'a mut [f32],
    pub num_next: &'a mut [f32],
    pub den_next: &'a mut [f32],
}

multiversion! {
    /// `k = clamp(kraw, ±10)`, `w = td + 0.5·tanh`, `u = tf + 0.3·tanh`,
    /// `wkv = (e^(u+k)·v + num)/(e^(u+k) + den + 1e-8)`, `gated = g ⊙ wkv`,
    /// `num' = e^(−e^w)·num + e^k·v`, `den' = e^(−e^w)·den + e^k`.
    pub fn wkv_fwd(s: WkvStep) {
        let h = s.time_decay.len();
        let (td, tf) = (&s.time_decay[..h], &s.time_first[..h]);
        for r in 0..s.kraw.len() / h {
            let row = r * h..(r + 1) * h;
            let (kr, vr, nr, dr, gr) =
                (&s.kraw[row.clone()], &s.v[row.clone()], &s.num[row.clone()], &s.den[row.clone()], &s.g[row.clone()]);
            let (hw, hu) = s.heads[2 * r * h..2 * (r + 1) * h].split_at(h);
            let (tw, tu) = s.tdu[2 * r * h..2 * (r + 1) * h].split_at_mut(h);
            let (wkvr, gatedr) = (&mut s.wkv[row.clone()], &mut s.gated[row.clone()]);
            let (nnr, dnr) = (&mut s.num_next[row.clone()], &mut s.den_next[row]);
            for j in 0..h {
                let k = kr[j].clamp(-10.0, 10.0);
                let (a, b) = (tanh(hw[j]), tanh(hu[j]));
                tw[j] = a;
                tu[j] = b;
                let w = td[j] + 0.5 * a;
                let u = tf[j] + 0.3 * b;
                let e = exp(u + k);
                let wkv = (e * vr[j] + nr[j]) / (e + dr[j] + WKV_EPS);
                wkvr[j] = wkv;
                gatedr[j] = gr[j] * wkv;
                let decay = exp(-exp(w));
                let ek = exp(k);
                nnr[j] = decay * nr[j] + ek * vr[j];
                dnr[j] = decay * dr[j] + ek;
            }
        }
    }
}

multiversion! {
    /// `c2 = c + attn` (RWKV), `h = (1 − z)⊙s + z⊙c2`, `o1 = h + skip`.
    /// `zr [B, 2H]` (z first), `skip` rows `skip_stride` apart.
    pub fn mix_fwd(
        h: usize, c: &[f32], attn: Option<&[f32]>, zr: &[f32], s: &[f32],
        skip: &[f32], c2: &mut [f32], o1: &mut [f32],
    ) {
        for (r, ((((cr, zrr), sr), c2r), o1r)) in
            rows(c, h).zip(rows(zr, 2 * h)).zip(rows(s, h)).zip(rows_mut(c2, h)).zip(rows_mut(o1, h)).enumerate()
        {
            let skr = &skip[r * h..(r + 1) * h];
            match attn {
                Some(attn) => {
                    let ar = &attn[r * h..(r + 1) * h];
                    for j in 0..h {
                        c2r[j] = cr[j] + ar[j];
                    }
                }
                None => c2r.copy_from_slice(cr),
            }
            for j in 0..h {
                let z = zrr[j];
                o1r[j] = ((1.0 - z) * sr[j] + z * c2r[j]) + skr[j];
            }
        }
    }
}

multiversion! {
    /// SwiGLU: `a = silu(gate) ⊙ up` per row, with gate and up the first 4H
    /// columns of rows `stride` apart. `a [R, 2H]`.
    pub fn swiglu_fwd(h: usize, stride: usize, gu: &[f32], a: &mut [f32]) {
        for (r, ar) in rows_mut(a, 2 * h).enumerate() {
            let row = &gu[r * stride..r * stride + 4 * h];
            let (g, u) = row.split_at(2 * h);
            for j in 0..2 * h {
                ar[j] = silu(g[j]) * u[j];
            }
        }
    }
}

multiversion! {
    /// SwiGLU backward: from `da = dy @ w_downᵀ` `[R, 2H]` to `d_gate | d_up`,
    /// written into the first 4H columns of rows `stride` apart.
    pub fn swiglu_bwd(h: usize, stride: usize, gu: &[f32], da: &[f32], dgu: &mut [f32]) {
        for (r, dar) in rows(da, 2 * h).enumerate() {
            let row = &gu[r * stride..r * stride + 4 * h];
            let (g, u) = row.split_at(2 * h);
            let (dg, du) = dgu[r * stride..r * stride + 4 * h].split_at_mut(2 * h);
            for j in 0..2 * h {
                let s = sigmoid(g[j]);
                dg[j] = dar[j] * u[j] * (s + g[j] * s * (1.0 - s));
                du[j] = dar[j] * g[j] * s;
            }
        }
    }
}

multiversion! {
    /// One row of logits: returns `(logsumexp, logit[target])`; with `grad`,
    /// overwrites the row with `scale·(softmax − onehot(target))`.
    pub fn softmax_xent(row: &mut [f32], target: usize, scale: f32, grad: bool) -> (f32, f32) {
        let mx = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let sum = vmath::sum_by(row.len(), |j| exp(row[j] - mx));
        let lse = mx + sum.ln();
        let picked = row[target];
        if grad {
            for v in row.iter_mut() {
                *v = scale * exp(*v - lse);
            }
            row[target] -= scale;
        }
        (lse, picked)
    }
}

multiversion! {
    /// Backward of `h = (1 − z)⊙s + z⊙c2` (then `o1 = h + skip`), from `d_o1`:
    /// `ds = (1 − z)⊙d_o1`, `da[:, 0:H] = d_o1⊙(c2 − s)⊙z(1 − z)` (z's pre-activation),
    /// `d_c2 = z⊙d_o1`. `zr [B, 2H]`, `da [B, 3H]`.
    pub fn mix_bwd(
        h: usize, d_o1: &[f32], zr: &[f32], c2: &[f32], s: &[f32],
        ds: &mut [f32], da: &mut [f32], d_c2: &mut [f32],
    ) {
        for (((((gr, zrr), c2r), sr), (dsr, dar)), dcr) in rows(d_o1, h)
            .zip(rows(zr, 2 * h))
            .zip(rows(c2, h))
            .zip(rows(s, h))
            .zip(rows_mut(ds, h).zip(rows_mut(da, 3 * h)))
            .zip(rows_mut(d_c2, h))
        {
            for j in 0..h {
                let (g, z) = (gr[j], zrr[j]);
                dsr[j] = g * (1.0 - z);
                dar[j] = g * (c2r[j] - sr[j]) * (z * (1.0 - z));
                dcr[j] = g * z;
            }
        }
    }
}

/// One step's RWKV backward operands, `[B, H]` unless noted.
pub struct WkvBack<'a> {
    /// `∂/∂gated` (from `d_c2 @ woᵀ`)
    pub d_gated: &'a [f32],
    pub kraw: &'a [f32],
    pub v: &'a [f32],
    /// `[B, 2H]`
    pub tdu: &'a [f32],
    pub num: &'a [f32],
    pub den: &'a [f32],
    pub wkv: &'a [f32],
    pub g: &'a [f32],
    pub time_decay: &'a [f32],
    pub time_first: &'a [f32],
    /// In: `∂/∂num'`, `∂/∂den'` of the state this step produced. Out: `∂/∂num`, `∂/∂den` of the state it read.
    pub d_num: &'a mut [f32],
    pub d_den: &'a mut [f32],
    pub d_kraw: &'a mut [f32],
    pub d_v: &'a mut [f32],
    /// Pre-tanh gradients of the decay and bonus heads `[B, 2H]`
    pub d_heads: &'a mut [f32],
    /// `∂/∂sr` (through σ)
    pub d_sr: &'a mut [f32],
    /// Column sums into `∂/∂time_decay`, `∂/∂time_first` `[H]`
    pub d_td: &'a mut [f32],
    pub d_tf: &'a mut [f32],
}

multiversion! {
    /// Backward of `wkv_fwd` (and of `gated = g ⊙ wkv`), recomputing the
    /// exponentials. Two passes per row (the state-update side, then the
    /// output side) keep each loop small enough to vectorise.
    pub fn wkv_bwd(s: WkvBack) {
        let h = s.time_decay.len();
        let (td, tf) = (&s.time_decay[..h], &s.time_first[..h]);
        let (d_td, d_tf) = (&mut s.d_td[..h], &mut s.d_tf[..h]);
        for r in 0..s.kraw.len() / h {
            let row = r * h..(r + 1) * h;
            let (kr, vr, nr, dr) = (&s.kraw[row.clone()], &s.v[row.clone()], &s.num[row.clone()], &s.den[row.clone()]);
            let (tw, tu) = s.tdu[2 * r * h..2 * (r + 1) * h].split_at(h);
            let (dnr, ddr) = (&mut s.d_num[row.clone()], &mut s.d_den[row.clone()]);
            let (dkr, dvr) = (&mut s.d_kraw[row.clone()], &mut s.d_v[row.clone()]);
            let (dhw, dhu) = s.d_heads[2 * r * h..2 * (r + 1) * h].split_at_mut(h);
            // num' = decay·num + e^k·v, den' = decay·den + e^k, decay = e^(−e^w).
            for j in 0..h {
                let k = kr[j].clamp(-10.0, 10.0);
                let w = td[j] + 0.5 * tw[j];
                let (dn, dd) = (dnr[j], ddr[j]);
                let ew = exp(w);
                let decay = exp(-ew);
                let ek = exp(k);
                let dw = -dn * ew * decay * nr[j] - dd * ew * decay * dr[j];
                dnr[j] = dn * decay;
                ddr[j] = dd * decay;
                dkr[j] = dn * ek * vr[j] + dd * ek;
                dvr[j] = dn * ek;
                dhw[j] = dw * 0.5 * (1.0 - tw[j] * tw[j]);
                d_td[j] += dw;
            }
            // wkv = (e·v + num)/(e + den + ε), e = e^(u+k); gated = g ⊙ wkv.
            let (dgt, wkvr, gr) = (&s.d_gated[row.clone()], &s.wkv[row.clone()], &s.g[row.clone()]);
            let dsr = &mut s.d_sr[row];
            for j in 0..h {
                let kraw = kr[j];
                let k = kraw.clamp(-10.0, 10.0);
                let u = tf[j] + 0.3 * tu[j];
                let (v, wkv, g) = (vr[j], wkvr[j], gr[j]);
                let d_wkv = dgt[j] * g;
                dsr[j] = dgt[j] * wkv * (g * (1.0 - g));
                let e = exp(u + k);
                let dnm = e + dr[j] + WKV_EPS;
                let du = d_wkv * e * (v - wkv) / dnm;
                dnr[j] += d_wkv / dnm;
                ddr[j] += -d_wkv * wkv / dnm;
                dvr[j] += d_wkv * e / dnm;
                let dk = du + dkr[j];
                dkr[j] = if (-10.0..=10.0).contains(&kraw) { dk } else { 0.0 };
                dhu[j] = du * 0.3 * (1.0 - tu[j] * tu[j]);
                d_tf[j] += du;
            }
        }
    }
}

/// Token-shift backward operands, `[B, H]`; the mixes and their gradients `[H]`.
pub struct ShiftBack<'a> {
    pub xp: &'a [f32],
    pub c: &'a [f32],
    pub mix: [&'a [f32]; 3],
    /// `∂/∂sk`, `∂/∂sv`, `∂/∂sr`
    pub d_s: [&'a [f32]; 3],
    /// `+= m ⊙ d_s` for each shift
    pub d_c: &'a mut [f32],
    /// `= Σ (1 − m) ⊙ d_s`
    pub d_xp: &'a mut [f32],
    pub d_mix: [&'a mut [f32]; 3],
}

multiversion! {
    /// Backward of the three lerps `(1 − m)⊙xp + m⊙c`.
    pub fn shift_bwd(s: ShiftBack) {
        let h = s.mix[0].len();
        let [dm0, dm1, dm2] = s.d_mix;
        for (r, (dcr, dxr)) in rows_mut(s.d_c, h).zip(rows_mut(s.d_xp, h)).enumerate() {
            let o = r * h;
            for j in 0..h {
                let (x, c) = (s.xp[o + j], s.c[o + j]);
                let (a, b, e) = (s.d_s[0][o + j], s.d_s[1][o + j], s.d_s[2][o + j]);
                let (m0, m1, m2) = (s.mix[0][j], s.mix[1][j], s.mix[2][j]);
                dxr[j] = a * (1.0 - m0) + b * (1.0 - m1) + e * (1.0 - m2);
                dcr[j] += a * m0 + b * m1 + e * m2;
                dm0[j] += a * (c - x);
                dm1[j] += b * (c - x);
                dm2[j] += e * (c - x);
            }
        }
    }
}

multiversion! {
    /// Backward of `c = tanh(a_h + hh)`: `da[:, 2H:3H] = d_c ⊙ (1 − c²)`.
    pub fn candidate_bwd(h: usize, c: &[f32], d_c: &[f32], da: &mut [f32]) {
        for ((cr, dcr), dar) in rows(c, h).zip(rows(d_c, h)).zip(rows_mut(da, 3 * h)) {
            for j in 0..h {
                dar[2 * h + j] = dcr[j] * (1.0 - cr[j] * cr[j]);
            }
        }
    }
}

multiversion! {
    /// Backward of `rh = r ⊙ hn` and `r = σ(·)`: `da[:, H:2H] = d_rh⊙hn⊙r(1 − r)`,
    /// `d_hn = d_rh ⊙ r`.
    pub fn gates_bwd(h: usize, zr: &[f32], hn: &[f32], d_rh: &[f32], da: &mut [f32], d_hn: &mut [f32]) {
        for ((((zrr, hnr), drr), dar), dhr) in
            rows(zr, 2 * h).zip(rows(hn, h)).zip(rows(d_rh, h)).zip(rows_mut(da, 3 * h)).zip(rows_mut(d_hn, h))
        {
            for j in 0..h {
                let r = zrr[h + j];
                dar[h + j] = drr[j] * hnr[j] * (r * (1.0 - r));
                dhr[j] = drr[j] * r;
            }
        }
    }
}
