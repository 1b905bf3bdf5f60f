//! Mixture-of-experts routing: the router's softmax, the mixing coefficients
//! of the selected experts, and the weighted combination of expert outputs.
//! The router gets its exact gradient through `p`, both in the weights `p_j`
//! and in the normaliser `T`; the choice of experts is piecewise constant.

use crate::engine::tape::{Grads, Op, Tape, Var};
use crate::engine::tensor::Tensor;

/// The epsilon in the router softmax's and the gates' denominators.
pub const MOE_EPS: f32 = 1e-8;

#[derive(Debug)]
pub enum MoeOp {
    /// `p = e^(l − max l) / (Σ e^(l − max l) + 1e-8)`, row-wise. `l [B, R] -> [B, R]`
    RouterSoftmax(Var),
    /// `p [B, R]` and per row the selected router columns `S`, `-> coef [B, R + 1]`:
    /// `T = Σ_{j∈S} p_j + 1`, `coef[0] = 1/(T + 1e-8)`, `coef[j+1] = p_j/(T + 1e-8)` for j∈S, else 0.
    Gates { p: Var, selected: Vec<Vec<usize>> },
    /// `out [B, H] = Σ_parts coef[:, col] ⊙ y`, where each part's output `y`
    /// holds only the rows routed to that expert (expert 0: every row, in order).
    Combine { coef: Var, experts: Vec<ExpertPart> },
}

/// One expert's output over the rows routed to it, and its coefficient column.
#[derive(Debug, Clone)]
pub struct ExpertPart {
    /// `[rows.len(), H]`
    pub y: Var,
    pub col: usize,
    pub rows: Vec<usize>,
}

/// The `k` indices of the largest values of `p` (ties: the lower index first).
pub fn top_k(p: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    // Stable sort by descending value keeps the lower index first among equals.
    idx.sort_by(|&a, &b| p[b].partial_cmp(&p[a]).unwrap_or(std::cmp::Ordering::Equal));
    idx.truncate(k.min(p.len()));
    idx
}

impl Tape<'_> {
    pub fn router_softmax(&mut self, l: Var) -> Var {
        let lv = self.value(l);
        let mut out = lv.clone();
        for row in out.data.chunks_mut(lv.cols.max(1)) {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            row.iter_mut().for_each(|x| *x = (*x - m).exp());
            let s: f32 = row.iter().sum::<f32>() + MOE_EPS;
            row.iter_mut().for_each(|x| *x /= s);
        }
        let ng = self.needs_grad(l);
        self.push(Op::Moe(MoeOp::RouterSoftmax(l)), out, ng)
    }

    pub fn moe_gates(&mut self, p: Var, selected: Vec<Vec<usize>>) -> Var {
        let pv = self.value(p);
        assert_eq!(selected.len(), pv.rows, "moe_gates: one selection per row");
        let mut out = Tensor::zeros(pv.rows, pv.cols + 1);
        for (b, sel) in selected.iter().enumerate() {
            let pr = pv.row(b);
            let t = sel.iter().map(|&j| pr[j]).sum::<f32>() + 1.0;
            let d = t + MOE_EPS;
            let o = out.row_mut(b);
            o[0] = 1.0 / d;
            for &j in sel {
                o[j + 1] = pr[j] / d;
            }
        }
        let ng = self.needs_grad(p);
        self.push(Op::Moe(MoeOp::Gates { p, selected }), out, ng)
    }

    pub fn moe_combine(&mut self, coef: Var, experts: Vec<ExpertPart>) -> Var {
        let cv = self.value(coef);
        let h = self.value(experts[0].y).cols;
        let mut out = Tensor::zeros(cv.rows, h);
        for ExpertPart { y, col, rows } in &experts {
            let yv = self.value(*y);
            assert!(yv.rows == rows.len() && yv.cols == h && *col < cv.cols, "moe_combine: expert {col} output shape");
            for (i, &b) in rows.iter().enumerate() {
                let c = cv.data[b * cv.cols + col];
                for (o, &v) in out.row_mut(b).iter_mut().zip(yv.row(i)) {
                    *o += v * c;
                }
            }
        }
        let ng = self.needs_grad(coef) || experts.iter().any(|e| self.needs_grad(e.y));
        self.push(Op::Moe(MoeOp::Combine { coef, experts }), out, ng)
    }
}

pub(crate) fn backward(op: &MoeOp, tape: &Tape, out: Var, g: &Tensor, grads: &mut Grads) {
    match op {
        MoeOp::RouterSoftmax(l) => {
            let (p, lv) = (tape.value(out), tape.value(*l));
            if let Some(dl) = grads.get(*l) {
                let cols = p.cols;
                for r in 0..p.rows {
                    let (pr, gr, lr) = (p.row(r), g.row(r), lv.row(r));
                    let gp: f32 = pr.iter().zip(gr).map(|(a, b)| a * b).sum();
                    // The max shift is not exactly neutral because of the +1e-8:
                    // ∂p_i/∂max = −p_i·ε/S, with S = Σe + ε = e_max/p_max = 1/p_max.
                    let argmax = (0..cols).fold(0, |a, j| if lr[j] > lr[a] { j } else { a });
                    let s = 1.0 / pr[argmax].max(f32::MIN_POSITIVE);
                    let d = dl.row_mut(r);
                    for j in 0..cols {
                        d[j] += pr[j] * (gr[j] - gp);
                    }
                    d[argmax] -= gp * MOE_EPS / s;
                }
            }
        }
        MoeOp::Gates { p, selected } => {
            let pv = tape.value(*p);
            if let Some(dp) = grads.get(*p) {
                for (b, sel) in selected.iter().enumerate() {
                    let (pr, gr) = (pv.row(b), g.row(b));
                    let d = sel.iter().map(|&j| pr[j]).sum::<f32>() + 1.0 + MOE_EPS;
                    // ∂coef_0/∂p_j = −1/D², ∂coef_{i+1}/∂p_j = δ_ij/D − p_i/D²  (i, j ∈ S)
                    let common = (gr[0] + sel.iter().map(|&i| gr[i + 1] * pr[i]).sum::<f32>()) / (d * d);
                    let row = dp.row_mut(b);
                    for &j in sel {
                        row[j] += gr[j + 1] / d - common;
                    }
                }
            }
        }
        MoeOp::Combine { coef, experts } => {
            let cv = tape.value(*coef);
            if let Some(dc) = grads.get(*coef) {
                for ExpertPart { y, col, rows } in experts {
                    let yv = tape.value(*y);
                    for (i, &b) in rows.iter().enumerate() {
                        dc.data[b * cv.cols + col] += yv.row(i).iter().zip(g.row(b)).map(|(a, c)| a * c).sum::<f32>();
                    }
                }
            }
            for ExpertPart { y, col, rows } in experts {
                if !tape.needs_grad(*y) {
                    continue;
                }
                let mut dy = Tensor::zeros(rows.len(), g.cols);
                for (i, &b) in rows.iter().enumerate() {
                    let c = cv.data[b * cv.cols + col];
                    for (d, &gv) in dy.row_mut(i).iter_mut().zip(g.row(b)) {
                        *d = gv * c;
                    }
                }
                grads.add(*y, dy);
            }
        }
    }
}
