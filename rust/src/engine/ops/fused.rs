//! Fused kernels of the model: GRU gates, interpolation (token shift and the
//! GRU update), the bounded decay/bonus heads, SwiGLU, RMSNorm, the RWKV WKV
//! step and the losses. Each is one pass forward and one pass backward; the
//! tests check each against finite differences and against the composition
//! of primitive ops in `elementwise.rs`.

use super::elementwise::sigmoid;
use super::par::{for_each_chunk, for_each_row};
use crate::engine::tape::{Grads, Op, Tape, Var};
use crate::engine::tensor::Tensor;

/// RMSNorm's epsilon, exactly as the old program: `mean(x²) + 1e-6 + 1e-8`.
pub const RMS_EPS_A: f32 = 1e-6;
pub const RMS_EPS_B: f32 = 1e-8;
/// The WKV denominator's epsilon.
pub const WKV_EPS: f32 = 1e-8;

#[derive(Debug)]
pub enum FusedOp {
    /// GRU gate `σ(a + b)`
    AddSigmoid(Var, Var),
    /// GRU candidate `tanh(a + b)`
    AddTanh(Var, Var),
    /// `(1 − m) ⊙ a + m ⊙ b`; `m` is `[M, N]` or a `[1, N]` row
    Lerp(Var, Var, Var),
    /// `bias [1, N] + alpha · tanh(x [M, N])`
    BiasTanh(Var, Var, f32),
    /// `silu(gate) ⊙ up`
    SwiGlu(Var, Var),
    /// `x · 1/sqrt(mean(x²) + 1e-6 + 1e-8) ⊙ g`, row-wise; keeps the per-row inverse rms.
    RmsNorm { x: Var, g: Var, inv: Vec<f32> },
    /// `wkv = (e^(u+k) ⊙ v + num) / (e^(u+k) + den + 1e-8)`
    WkvOut { k: Var, v: Var, u: Var, num: Var, den: Var },
    /// `num' = e^(−e^w) ⊙ num + e^k ⊙ v`
    WkvNum { w: Var, k: Var, v: Var, num: Var },
    /// `den' = e^(−e^w) ⊙ den + e^k`
    WkvDen { w: Var, k: Var, den: Var },
    /// mean over rows of `logsumexp(x) − x[target]`; keeps each row's logsumexp. `-> [1, 1]`
    CrossEntropy { logits: Var, targets: Vec<usize>, lse: Vec<f32> },
    /// per row `x[target] − logsumexp(x)`. `-> [M, 1]`
    TokenLogProb { logits: Var, targets: Vec<usize>, lse: Vec<f32> },
}

fn check_same(tape: &Tape, name: &str, vars: &[Var]) {
    let first = tape.value(vars[0]);
    for &v in &vars[1..] {
        let t = tape.value(v);
        assert!(
            t.same_shape(first),
            "{name}: shapes [{}, {}] and [{}, {}] differ",
            first.rows,
            first.cols,
            t.rows,
            t.cols
        );
    }
}

/// `f(i)` for every element of an output shaped like `like`.
fn build(like: &Tensor, f: impl Fn(usize) -> f32 + Sync + Send) -> Tensor {
    let mut out = Tensor::zeros(like.rows, like.cols);
    for_each_chunk(&mut out.data, |start, o| {
        for (i, v) in o.iter_mut().enumerate() {
            *v = f(start + i);
        }
    });
    out
}

fn log_sum_exp(row: &[f32]) -> f32 {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let s: f32 = row.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

impl Tape<'_> {
    fn fused(&mut self, op: FusedOp, out: Tensor, inputs: &[Var]) -> Var {
        let ng = inputs.iter().any(|&v| self.needs_grad(v));
        self.push(Op::Fused(op), out, ng)
    }

    pub fn add_sigmoid(&mut self, a: Var, b: Var) -> Var {
        check_same(self, "add_sigmoid", &[a, b]);
        let (av, bv) = (&self.value(a).data, &self.value(b).data);
        let out = build(self.value(a), |i| sigmoid(av[i] + bv[i]));
        self.fused(FusedOp::AddSigmoid(a, b), out, &[a, b])
    }

    pub fn add_tanh(&mut self, a: Var, b: Var) -> Var {
        check_same(self, "add_tanh", &[a, b]);
        let (av, bv) = (&self.value(a).data, &self.value(b).data);
        let out = build(self.value(a), |i| (av[i] + bv[i]).tanh());
        self.fused(FusedOp::AddTanh(a, b), out, &[a, b])
    }

    pub fn lerp(&mut self, a: Var, b: Var, m: Var) -> Var {
        check_same(self, "lerp", &[a, b]);
        let (av, bv, mv) = (self.value(a), &self.value(b).data, self.value(m));
        let row = mv.rows == 1 && av.rows != 1;
        assert!(mv.cols == av.cols && (row || mv.rows == av.rows), "lerp: weight shape");
        let (cols, md) = (av.cols, &mv.data);
        let out = build(av, |i| {
            let w = if row { md[i % cols] } else { md[i] };
            (1.0 - w) * av.data[i] + w * bv[i]
        });
        self.fused(FusedOp::Lerp(a, b, m), out, &[a, b, m])
    }

    pub fn bias_tanh(&mut self, x: Var, bias: Var, alpha: f32) -> Var {
        let (xv, bv) = (self.value(x), &self.value(bias).data);
        assert!(bv.len() == xv.cols, "bias_tanh: bias width");
        let cols = xv.cols;
        let out = build(xv, |i| bv[i % cols] + alpha * xv.data[i].tanh());
        self.fused(FusedOp::BiasTanh(x, bias, alpha), out, &[x, bias])
    }

    pub fn swiglu(&mut self, gate: Var, up: Var) -> Var {
        check_same(self, "swiglu", &[gate, up]);
        let (gv, uv) = (&self.value(gate).data, &self.value(up).data);
        let out = build(self.value(gate), |i| gv[i] * sigmoid(gv[i]) * uv[i]);
        self.fused(FusedOp::SwiGlu(gate, up), out, &[gate, up])
    }

    pub fn rmsnorm(&mut self, x: Var, g: Var) -> Var {
        let (xv, gv) = (self.value(x), &self.value(g).data);
        assert_eq!(gv.len(), xv.cols, "rmsnorm: gain width {} for rows of {}", gv.len(), xv.cols);
        let cols = xv.cols;
        let inv: Vec<f32> = xv
            .data
            .chunks(cols)
            .map(|r| {
                let ms = r.iter().map(|v| v * v).sum::<f32>() / cols as f32;
                1.0 / (ms + RMS_EPS_A + RMS_EPS_B).sqrt()
            })
            .collect();
        let mut out = Tensor::zeros(xv.rows, cols);
        for_each_row(&mut out.data, cols, |r, o| {
            for ((y, &xi), &gi) in o.iter_mut().zip(xv.row(r)).zip(gv) {
                *y = xi * inv[r] * gi;
            }
        });
        self.fused(FusedOp::RmsNorm { x, g, inv }, out, &[x, g])
    }

    pub fn wkv_out(&mut self, k: Var, v: Var, u: Var, num: Var, den: Var) -> Var {
        check_same(self, "wkv_out", &[k, v, u, num, den]);
        let [kd, vd, ud, nd, dd] = [k, v, u, num, den].map(|x| &self.value(x).data);
        let out = build(self.value(k), |i| {
            let e = (ud[i] + kd[i]).exp();
            (e * vd[i] + nd[i]) / (e + dd[i] + WKV_EPS)
        });
        self.fused(FusedOp::WkvOut { k, v, u, num, den }, out, &[k, v, u, num, den])
    }

    pub fn wkv_num(&mut self, w: Var, k: Var, v: Var, num: Var) -> Var {
        check_same(self, "wkv_num", &[w, k, v, num]);
        let [wd, kd, vd, nd] = [w, k, v, num].map(|x| &self.value(x).data);
        let out = build(self.value(k), |i| (-wd[i].exp()).exp() * nd[i] + kd[i].exp() * vd[i]);
        self.fused(FusedOp::WkvNum { w, k, v, num }, out, &[w, k, v, num])
    }

    pub fn wkv_den(&mut self, w: Var, k: Var, den: Var) -> Var {
        check_same(self, "wkv_den", &[w, k, den]);
        let [wd, kd, dd] = [w, k, den].map(|x| &self.value(x).data);
        let out = build(self.value(k), |i| (-wd[i].exp()).exp() * dd[i] + kd[i].exp());
        self.fused(FusedOp::WkvDen { w, k, den }, out, &[w, k, den])
    }

    /// Mean cross-entropy of `logits [N, V]` against `targets` (N ids). `-> [1, 1]`
    pub fn cross_entropy(&mut self, logits: Var, targets: Vec<usize>) -> Var {
        let lv = self.value(logits);
        assert_eq!(targets.len(), lv.rows, "cross_entropy: one target per row");
        let lse: Vec<f32> = lv.data.chunks(lv.cols).map(log_sum_exp).collect();
        let total: f64 = targets.iter().enumerate().map(|(r, &t)| (lse[r] - lv.data[r * lv.cols + t]) as f64).sum();
        let out = Tensor::from_vec(1, 1, vec![(total / targets.len() as f64) as f32]);
        self.fused(FusedOp::CrossEntropy { logits, targets, lse }, out, &[logits])
    }

    /// Log-probability of each row's target. `logits [N, V] -> [N, 1]`
    pub fn token_log_prob(&mut self, logits: Var, targets: Vec<usize>) -> Var {
        let lv = self.value(logits);
        assert_eq!(targets.len(), lv.rows, "token_log_prob: one target per row");
        let lse: Vec<f32> = lv.data.chunks(lv.cols).map(log_sum_exp).collect();
        let data = targets.iter().enumerate().map(|(r, &t)| lv.data[r * lv.cols + t] - lse[r]).collect();
        let out = Tensor::from_vec(lv.rows, 1, data);
        self.fused(FusedOp::TokenLogProb { logits, targets, lse }, out, &[logits])
    }
}

/// `grad[i] += f(i)` into the gradient of `v`, if wanted.
fn acc(grads: &mut Grads, v: Var, f: impl Fn(usize) -> f32 + Sync + Send) {
    if let Some(d) = grads.get(v) {
        for_each_chunk(&mut d.data, |start, o| {
            for (i, x) in o.iter_mut().enumerate() {
                *x += f(start + i);
            }
        });
    }
}

/// Column sums over rows of `f(i)` into a `[1, N]` gradient.
fn acc_row(grads: &mut Grads, v: Var, len: usize, f: impl Fn(usize) -> f32) {
    if let Some(d) = grads.get(v) {
        let cols = d.cols;
        for i in 0..len {
            d.data[i % cols] += f(i);
        }
    }
}

pub(crate) fn backward(op: &FusedOp, tape: &Tape, out: Var, g: &Tensor, grads: &mut Grads) {
    use FusedOp::*;
    let y = &tape.value(out).data;
    let gd = &g.data;
    let val = |v: Var| &tape.value(v).data;
    match op {
        AddSigmoid(a, b) => {
            let d = |i: usize| gd[i] * y[i] * (1.0 - y[i]);
            acc(grads, *a, d);
            acc(grads, *b, d);
        }
        AddTanh(a, b) => {
            let d = |i: usize| gd[i] * (1.0 - y[i] * y[i]);
            acc(grads, *a, d);
            acc(grads, *b, d);
        }
        Lerp(a, b, m) => {
            let (av, bv, mv) = (val(*a), val(*b), tape.value(*m));
            let row = mv.rows == 1 && tape.value(*a).rows != 1;
            let cols = mv.cols;
            let w = |i: usize| if row { mv.data[i % cols] } else { mv.data[i] };
            acc(grads, *a, |i| gd[i] * (1.0 - w(i)));
            acc(grads, *b, |i| gd[i] * w(i));
            if row {
                acc_row(grads, *m, gd.len(), |i| gd[i] * (bv[i] - av[i]));
            } else {
                acc(grads, *m, |i| gd[i] * (bv[i] - av[i]));
            }
        }
        BiasTanh(x, bias, alpha) => {
            let xv = val(*x);
            acc(grads, *x, |i| {
                let t = xv[i].tanh();
                gd[i] * alpha * (1.0 - t * t)
            });
            acc_row(grads, *bias, gd.len(), |i| gd[i]);
        }
        SwiGlu(gate, up) => {
            let (gv, uv) = (val(*gate), val(*up));
            acc(grads, *gate, |i| {
                let s = sigmoid(gv[i]);
                gd[i] * uv[i] * (s + gv[i] * s * (1.0 - s))
            });
            acc(grads, *up, |i| gd[i] * gv[i] * sigmoid(gv[i]));
        }
        RmsNorm { x, g: gain, inv } => {
            let (xv, gv) = (tape.value(*x), val(*gain));
            let cols = xv.cols;
            if let Some(dx) = grads.get(*x) {
                // dx_j = inv·q_j − inv³·x_j·mean(q ⊙ x), q = g ⊙ dy
                for_each_row(&mut dx.data, cols, |r, d| {
                    let (xr, gr) = (xv.row(r), &gd[r * cols..(r + 1) * cols]);
                    let dot: f32 = (0..cols).map(|j| gv[j] * gr[j] * xr[j]).sum::<f32>() / cols as f32;
                    let (s, s3) = (inv[r], inv[r] * inv[r] * inv[r]);
                    for j in 0..cols {
                        d[j] += s * gv[j] * gr[j] - s3 * xr[j] * dot;
                    }
                });
            }
            acc_row(grads, *gain, gd.len(), |i| gd[i] * xv.data[i] * inv[i / cols]);
        }
        WkvOut { k, v, u, num, den } => {
            let [kd, vd, ud, dd] = [*k, *v, *u, *den].map(val);
            let e = |i: usize| (ud[i] + kd[i]).exp();
            let dnm = |i: usize| e(i) + dd[i] + WKV_EPS;
            // d/dk = d/du = g·e·(v − wkv)/D
            let duk = |i: usize| gd[i] * e(i) * (vd[i] - y[i]) / dnm(i);
            acc(grads, *k, duk);
            acc(grads, *u, duk);
            acc(grads, *v, |i| gd[i] * e(i) / dnm(i));
            acc(grads, *num, |i| gd[i] / dnm(i));
            acc(grads, *den, |i| -gd[i] * y[i] / dnm(i));
        }
        WkvNum { w, k, v, num } => {
            let [wd, kd, vd, nd] = [*w, *k, *v, *num].map(val);
            let decay = |i: usize| (-wd[i].exp()).exp();
            acc(grads, *w, |i| -gd[i] * wd[i].exp() * decay(i) * nd[i]);
            acc(grads, *num, |i| gd[i] * decay(i));
            acc(grads, *k, |i| gd[i] * kd[i].exp() * vd[i]);
            acc(grads, *v, |i| gd[i] * kd[i].exp());
        }
        WkvDen { w, k, den } => {
            let [wd, kd, dd] = [*w, *k, *den].map(val);
            let decay = |i: usize| (-wd[i].exp()).exp();
            acc(grads, *w, |i| -gd[i] * wd[i].exp() * decay(i) * dd[i]);
            acc(grads, *den, |i| gd[i] * decay(i));
            acc(grads, *k, |i| gd[i] * kd[i].exp());
        }
        CrossEntropy { logits, targets, lse } => {
            let lv = tape.value(*logits);
            let cols = lv.cols;
            let scale = gd[0] / targets.len() as f32;
            if let Some(d) = grads.get(*logits) {
                for_each_row(&mut d.data, cols, |r, dr| {
                    for (j, x) in dr.iter_mut().enumerate() {
                        *x += scale * (lv.data[r * cols + j] - lse[r]).exp();
                    }
                    dr[targets[r]] -= scale;
                });
            }
        }
        TokenLogProb { logits, targets, lse } => {
            let lv = tape.value(*logits);
            let cols = lv.cols;
            if let Some(d) = grads.get(*logits) {
                for_each_row(&mut d.data, cols, |r, dr| {
                    for (j, x) in dr.iter_mut().enumerate() {
                        *x -= gd[r] * (lv.data[r * cols + j] - lse[r]).exp();
                    }
                    dr[targets[r]] += gd[r];
                });
            }
        }
    }
}
