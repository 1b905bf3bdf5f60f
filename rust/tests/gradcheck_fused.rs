//! Finite-difference gradient checks of the fused kernels (`fused.rs`) and the
//! mixture-of-experts ops (`moe.rs`), every input of each. Input ranges follow
//! the model's (den > 0 as a sum of exponentials, time decay around −0.7, ...)
//! and stay away from poles. Tolerances: `common/mod.rs`.

mod common;

use common::{check_gradients, rng, uniform};
use rnnpy_core::engine::ops::moe::ExpertPart;
use rnnpy_core::engine::Tensor;

fn u(seed: u64, rows: usize, cols: usize, lo: f32, hi: f32) -> Tensor {
    uniform(&mut rng(seed), rows, cols, lo, hi)
}

#[test]
fn gru_gates() {
    let ab = [u(1, 3, 5, -1.5, 1.5), u(2, 3, 5, -1.5, 1.5)];
    check_gradients("add_sigmoid", &ab, |t, v| t.add_sigmoid(v[0], v[1]));
    check_gradients("add_tanh", &ab, |t, v| t.add_tanh(v[0], v[1]));
}

#[test]
fn lerp_matrix_and_row_weight() {
    let inputs = [u(3, 3, 5, -1.0, 1.0), u(4, 3, 5, -1.0, 1.0), u(5, 3, 5, 0.0, 1.0)];
    check_gradients("lerp_matrix", &inputs, |t, v| t.lerp(v[0], v[1], v[2]));
    let inputs = [u(6, 3, 5, -1.0, 1.0), u(7, 3, 5, -1.0, 1.0), u(8, 1, 5, 0.0, 1.0)];
    check_gradients("lerp_row", &inputs, |t, v| t.lerp(v[0], v[1], v[2]));
    // One row with a [1, N] weight is the matrix case.
    let inputs = [u(9, 1, 5, -1.0, 1.0), u(10, 1, 5, -1.0, 1.0), u(11, 1, 5, 0.0, 1.0)];
    check_gradients("lerp_single_row", &inputs, |t, v| t.lerp(v[0], v[1], v[2]));
}

#[test]
fn bias_tanh() {
    let inputs = [u(12, 4, 5, -2.0, 2.0), u(13, 1, 5, -1.0, 0.0)];
    check_gradients("bias_tanh", &inputs, |t, v| t.bias_tanh(v[0], v[1], 0.5));
    check_gradients("bias_tanh_neg", &inputs, |t, v| t.bias_tanh(v[0], v[1], -0.3));
}

#[test]
fn swiglu() {
    let inputs = [u(14, 3, 6, -3.0, 3.0), u(15, 3, 6, -1.0, 1.0)];
    check_gradients("swiglu", &inputs, |t, v| t.swiglu(v[0], v[1]));
}

#[test]
fn rmsnorm_x_and_gain() {
    let inputs = [u(16, 4, 6, -1.0, 1.0), u(17, 1, 6, 0.5, 1.5)];
    check_gradients("rmsnorm", &inputs, |t, v| t.rmsnorm(v[0], v[1]));
    // A single row with larger values (the 1/rms factor is not ~1).
    let inputs = [u(18, 1, 8, -4.0, 4.0), u(19, 1, 8, -1.5, 1.5)];
    check_gradients("rmsnorm_row", &inputs, |t, v| t.rmsnorm(v[0], v[1]));
}

#[test]
fn wkv_out_all_inputs() {
    // k, v, u, num, den
    let inputs = [
        u(20, 3, 4, -2.0, 2.0),
        u(21, 3, 4, -1.0, 1.0),
        u(22, 3, 4, -0.5, 1.0),
        u(23, 3, 4, -1.0, 1.0),
        u(24, 3, 4, 0.3, 2.0),
    ];
    check_gradients("wkv_out", &inputs, |t, v| t.wkv_out(v[0], v[1], v[2], v[3], v[4]));
}

#[test]
fn wkv_state_updates_all_inputs() {
    // w, k, v, num
    let inputs = [u(25, 3, 4, -1.5, 0.5), u(26, 3, 4, -2.0, 2.0), u(27, 3, 4, -1.0, 1.0), u(28, 3, 4, -1.0, 1.0)];
    check_gradients("wkv_num", &inputs, |t, v| t.wkv_num(v[0], v[1], v[2], v[3]));
    // w, k, den
    let inputs = [u(29, 3, 4, -1.5, 0.5), u(30, 3, 4, -2.0, 2.0), u(31, 3, 4, 0.3, 2.0)];
    check_gradients("wkv_den", &inputs, |t, v| t.wkv_den(v[0], v[1], v[2]));
}

#[test]
fn losses() {
    let logits = [u(32, 4, 6, -2.0, 2.0)];
    check_gradients("cross_entropy", &logits, |t, v| t.cross_entropy(v[0], vec![0, 5, 2, 2]));
    check_gradients("token_log_prob", &logits, |t, v| t.token_log_prob(v[0], vec![3, 1, 0, 5]));
    // Large logits: the max shift must keep everything finite and exact.
    let logits = [u(33, 2, 5, 40.0, 44.0)];
    check_gradients("cross_entropy_large", &logits, |t, v| t.cross_entropy(v[0], vec![1, 4]));
}

#[test]
fn router_softmax() {
    let l = [u(34, 4, 5, -2.0, 2.0)];
    check_gradients("router_softmax", &l, |t, v| t.router_softmax(v[0]));
    // Peaked rows (one p near 1): the ε term through the max matters most here.
    let l = [u(35, 3, 3, -6.0, 6.0)];
    check_gradients("router_softmax_peaked", &l, |t, v| t.router_softmax(v[0]));
}

#[test]
fn moe_gates_with_varied_selections() {
    // p as a router softmax gives it (positive, rows summing to ~1 or less).
    let p = [u(36, 5, 4, 0.05, 0.6)];
    // Several selections per row, in any order, and one empty row.
    let selected = vec![vec![], vec![2], vec![0, 3], vec![1, 2, 3], vec![3, 0, 1, 2]];
    check_gradients("moe_gates", &p, move |t, v| t.moe_gates(v[0], selected.clone()));
}

#[test]
fn moe_combine_coef_and_every_expert() {
    // coef [B = 5, 4], expert 0 on every row, the others on row subsets.
    let inputs = [
        u(37, 5, 4, 0.0, 1.0),
        u(38, 5, 3, -1.0, 1.0),
        u(39, 2, 3, -1.0, 1.0),
        u(40, 3, 3, -1.0, 1.0),
        u(41, 1, 3, -1.0, 1.0),
    ];
    check_gradients("moe_combine", &inputs, |t, v| {
        let parts = vec![
            ExpertPart { y: v[1], col: 0, rows: (0..5).collect() },
            ExpertPart { y: v[2], col: 1, rows: vec![0, 3] },
            ExpertPart { y: v[3], col: 3, rows: vec![1, 2, 4] },
            ExpertPart { y: v[4], col: 2, rows: vec![3] },
        ];
        t.moe_combine(v[0], parts)
    });
}

/// The gates feeding the combination, as in the model: the router gets its
/// gradient through both the weights `p_j` and the normaliser `T`.
#[test]
fn router_to_combine_chain() {
    let inputs = [u(42, 4, 3, -1.0, 1.0), u(43, 4, 2, -1.0, 1.0), u(44, 2, 2, -1.0, 1.0), u(45, 2, 2, -1.0, 1.0)];
    check_gradients("moe_chain", &inputs, |t, v| {
        let p = t.router_softmax(v[0]);
        let coef = t.moe_gates(p, vec![vec![0], vec![2], vec![0], vec![1]]);
        let parts = vec![
            ExpertPart { y: v[1], col: 0, rows: (0..4).collect() },
            ExpertPart { y: v[2], col: 1, rows: vec![0, 2] },
            ExpertPart { y: v[3], col: 3, rows: vec![1, 3] },
        ];
        t.moe_combine(coef, parts)
    });
}
