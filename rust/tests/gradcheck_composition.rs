//! Each fused kernel against the same function composed from primitive ops
//! (`elementwise.rs`, `linalg.rs`): forward values and, with one seed `R`,
//! the gradients of every input. Run with `--nocapture` to see how much of
//! each tolerance is used (typically under 10%).
//!
//! Tolerances. Forward: 2e-6 relative (a few f32 ulps; the compositions round
//! in a different order, e.g. `x·(1/s)` for `x/s`, `ln s − (x_t − m)` for
//! `(m + ln s) − x_t`). Gradients: 1e-5 relative — the two backward passes
//! are different f32 expressions of the same derivative (e.g. `s + x·s·(1−s)`
//! against the chain through `mul`, `sigmoid`), each a handful of roundings,
//! still far below any real mistake. Both carry a floor of 1% of the tensor's
//! largest magnitude, for elements whose true value is near zero.

mod common;

use common::{check_composition, rng, uniform};
use rnnpy_core::engine::{Tape, Tensor, Var};

const FWD: f64 = 2e-6;
const GRAD: f64 = 1e-5;

fn u(seed: u64, rows: usize, cols: usize, lo: f32, hi: f32) -> Tensor {
    uniform(&mut rng(seed), rows, cols, lo, hi)
}

/// `1 − m`
fn one_minus(t: &mut Tape, m: Var) -> Var {
    let neg = t.scale(m, -1.0);
    t.add_const(neg, 1.0)
}

/// `x − max(x)` per row, the max taken as a constant (it cancels in softmax).
fn minus_row_max(t: &mut Tape, x: Var) -> Var {
    let xv = t.value(x).clone();
    let mut m = Tensor::zeros(xv.rows, xv.cols);
    for r in 0..xv.rows {
        let max = xv.row(r).iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        m.row_mut(r).fill(max);
    }
    let m = t.constant(m);
    t.sub(x, m)
}

/// Row-wise `log Σ exp(x − max)` `[N, 1]` and `x[target] − max` `[N, 1]`.
fn shifted_lse_and_pick(t: &mut Tape, x: Var, targets: &[usize]) -> (Var, Var) {
    let z = minus_row_max(t, x);
    let e = t.exp(z);
    let s = t.sum_cols(e);
    (t.log(s), t.pick_cols(z, targets.to_vec()))
}

#[test]
fn gru_gates() {
    let ab = [u(1, 3, 5, -1.5, 1.5), u(2, 3, 5, -1.5, 1.5)];
    check_composition(
        "add_sigmoid",
        &ab,
        |t, v| t.add_sigmoid(v[0], v[1]),
        |t, v| {
            let s = t.add(v[0], v[1]);
            t.sigmoid(s)
        },
        FWD,
        GRAD,
    );
    check_composition(
        "add_tanh",
        &ab,
        |t, v| t.add_tanh(v[0], v[1]),
        |t, v| {
            let s = t.add(v[0], v[1]);
            t.tanh(s)
        },
        FWD,
        GRAD,
    );
}

#[test]
fn lerp() {
    let composed = |t: &mut Tape, v: &[Var]| {
        let w = one_minus(t, v[2]);
        let a = t.mul(w, v[0]);
        let b = t.mul(v[2], v[1]);
        t.add(a, b)
    };
    let inputs = [u(3, 3, 5, -1.0, 1.0), u(4, 3, 5, -1.0, 1.0), u(5, 3, 5, 0.0, 1.0)];
    check_composition("lerp_matrix", &inputs, |t, v| t.lerp(v[0], v[1], v[2]), composed, FWD, GRAD);
    let composed_row = |t: &mut Tape, v: &[Var]| {
        let w = one_minus(t, v[2]);
        let a = t.mul_row(v[0], w);
        let b = t.mul_row(v[1], v[2]);
        t.add(a, b)
    };
    let inputs = [u(6, 3, 5, -1.0, 1.0), u(7, 3, 5, -1.0, 1.0), u(8, 1, 5, 0.0, 1.0)];
    check_composition("lerp_row", &inputs, |t, v| t.lerp(v[0], v[1], v[2]), composed_row, FWD, GRAD);
}

#[test]
fn bias_tanh() {
    let inputs = [u(9, 4, 5, -2.0, 2.0), u(10, 1, 5, -1.0, 0.0)];
    check_composition(
        "bias_tanh",
        &inputs,
        |t, v| t.bias_tanh(v[0], v[1], 0.5),
        |t, v| {
            let th = t.tanh(v[0]);
            let s = t.scale(th, 0.5);
            t.add_row(s, v[1])
        },
        FWD,
        GRAD,
    );
}

#[test]
fn swiglu() {
    let inputs = [u(11, 3, 6, -3.0, 3.0), u(12, 3, 6, -1.0, 1.0)];
    check_composition(
        "swiglu",
        &inputs,
        |t, v| t.swiglu(v[0], v[1]),
        |t, v| {
            let s = t.sigmoid(v[0]);
            let silu = t.mul(v[0], s);
            t.mul(silu, v[1])
        },
        FWD,
        GRAD,
    );
}

#[test]
fn rmsnorm() {
    let inputs = [u(13, 4, 6, -1.0, 1.0), u(14, 1, 6, 0.5, 1.5)];
    check_composition(
        "rmsnorm",
        &inputs,
        |t, v| t.rmsnorm(v[0], v[1]),
        |t, v| {
            // x · 1/sqrt(mean(x²) + 1e-6 + 1e-8) ⊙ g
            let cols = t.value(v[0]).cols as f32;
            let sq = t.mul(v[0], v[0]);
            let s = t.sum_cols(sq);
            let ms = t.scale(s, 1.0 / cols);
            let a = t.add_const(ms, 1e-6);
            let b = t.add_const(a, 1e-8);
            let rms = t.sqrt(b);
            let inv = t.recip(rms);
            let xn = t.mul_col(v[0], inv);
            t.mul_row(xn, v[1])
        },
        FWD,
        GRAD,
    );
}

#[test]
fn wkv_out() {
    // k, v, u, num, den
    let inputs = [
        u(15, 3, 4, -2.0, 2.0),
        u(16, 3, 4, -1.0, 1.0),
        u(17, 3, 4, -0.5, 1.0),
        u(18, 3, 4, -1.0, 1.0),
        u(19, 3, 4, 0.3, 2.0),
    ];
    check_composition(
        "wkv_out",
        &inputs,
        |t, v| t.wkv_out(v[0], v[1], v[2], v[3], v[4]),
        |t, v| {
            // (e^(u+k) ⊙ v + num) / (e^(u+k) + den + 1e-8)
            let uk = t.add(v[2], v[0]);
            let e = t.exp(uk);
            let ev = t.mul(e, v[1]);
            let top = t.add(ev, v[3]);
            let ed = t.add(e, v[4]);
            let bottom = t.add_const(ed, 1e-8);
            t.div(top, bottom)
        },
        FWD,
        GRAD,
    );
}

/// `e^(−e^w)`
fn decay(t: &mut Tape, w: Var) -> Var {
    let ew = t.exp(w);
    let neg = t.scale(ew, -1.0);
    t.exp(neg)
}

#[test]
fn wkv_state_updates() {
    // w, k, v, num
    let inputs = [u(20, 3, 4, -1.5, 0.5), u(21, 3, 4, -2.0, 2.0), u(22, 3, 4, -1.0, 1.0), u(23, 3, 4, -1.0, 1.0)];
    check_composition(
        "wkv_num",
        &inputs,
        |t, v| t.wkv_num(v[0], v[1], v[2], v[3]),
        |t, v| {
            let d = decay(t, v[0]);
            let kept = t.mul(d, v[3]);
            let ek = t.exp(v[1]);
            let new = t.mul(ek, v[2]);
            t.add(kept, new)
        },
        FWD,
        GRAD,
    );
    // w, k, den
    let inputs = [u(24, 3, 4, -1.5, 0.5), u(25, 3, 4, -2.0, 2.0), u(26, 3, 4, 0.3, 2.0)];
    check_composition(
        "wkv_den",
        &inputs,
        |t, v| t.wkv_den(v[0], v[1], v[2]),
        |t, v| {
            let d = decay(t, v[0]);
            let kept = t.mul(d, v[2]);
            let ek = t.exp(v[1]);
            t.add(kept, ek)
        },
        FWD,
        GRAD,
    );
}

#[test]
fn losses() {
    let logits = [u(27, 4, 6, -2.0, 2.0)];
    let targets = vec![0, 5, 2, 2];
    let tg = targets.clone();
    check_composition(
        "cross_entropy",
        &logits,
        |t, v| t.cross_entropy(v[0], targets.clone()),
        move |t, v| {
            let (lse, picked) = shifted_lse_and_pick(t, v[0], &tg);
            let nll = t.sub(lse, picked);
            t.mean_all(nll)
        },
        FWD,
        GRAD,
    );
    let targets = vec![3, 1, 0, 5];
    let tg = targets.clone();
    check_composition(
        "token_log_prob",
        &logits,
        |t, v| t.token_log_prob(v[0], targets.clone()),
        move |t, v| {
            let (lse, picked) = shifted_lse_and_pick(t, v[0], &tg);
            t.sub(picked, lse)
        },
        FWD,
        GRAD,
    );
}

/// The composition treats the row max as a constant; the fused op also
/// differentiates through it, which only matters via the `+1e-8` (a gradient
/// difference of at most ~1e-8·|g|, far inside the tolerance).
#[test]
fn router_softmax() {
    let l = [u(28, 4, 5, -2.0, 2.0)];
    check_composition(
        "router_softmax",
        &l,
        |t, v| t.router_softmax(v[0]),
        |t, v| {
            let z = minus_row_max(t, v[0]);
            let e = t.exp(z);
            let s = t.sum_cols(e);
            let d = t.add_const(s, 1e-8);
            let inv = t.recip(d);
            t.mul_col(e, inv)
        },
        FWD,
        GRAD,
    );
}

/// `coef = [1/(T + ε), p_j·[j∈S]/(T + ε)]` with `T = Σ_{j∈S} p_j + 1`, built
/// from a constant selection mask; the columns are placed into `[B, R + 1]`
/// by products with 0/1 matrices, which are exact.
#[test]
fn moe_gates() {
    let (b, r) = (5, 4);
    let p = [u(29, b, r, 0.05, 0.6)];
    let selected = vec![vec![], vec![2], vec![0, 3], vec![1, 2, 3], vec![3, 0, 1, 2]];
    let mut mask = Tensor::zeros(b, r);
    for (row, sel) in selected.iter().enumerate() {
        sel.iter().for_each(|&j| mask.data[row * r + j] = 1.0);
    }
    // first [1, R+1] = e_0; shift [R, R+1] maps column j to j + 1.
    let mut first = Tensor::zeros(1, r + 1);
    first.data[0] = 1.0;
    let mut shift = Tensor::zeros(r, r + 1);
    (0..r).for_each(|j| shift.data[j * (r + 1) + j + 1] = 1.0);
    check_composition(
        "moe_gates",
        &p,
        |t, v| t.moe_gates(v[0], selected.clone()),
        |t, v| {
            let m = t.constant(mask.clone());
            let sel = t.mul(v[0], m);
            let s = t.sum_cols(sel);
            let total = t.add_const(s, 1.0);
            let d = t.add_const(total, 1e-8);
            let inv = t.recip(d); // [B, 1]
            let weighted = t.mul_col(sel, inv); // [B, R]
            let (first, shift) = (t.constant(first.clone()), t.constant(shift.clone()));
            let c0 = t.matmul(inv, first);
            let rest = t.matmul(weighted, shift);
            t.add(c0, rest)
        },
        FWD,
        GRAD,
    );
}
