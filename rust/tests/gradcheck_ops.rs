//! Finite-difference gradient checks of the primitive ops (`linalg.rs`,
//! `elementwise.rs`, `shape.rs`), and the checker's own sanity checks: a
//! deliberately wrong gradient must fail it. Tolerances: `common/mod.rs`.

mod common;

use common::{analytic, check_gradients, compare, numeric, rng, seed_for, uniform, uniform_away};
use rnnpy_core::engine::{Tape, Tensor, Var};

fn u(seed: u64, rows: usize, cols: usize, lo: f32, hi: f32) -> Tensor {
    uniform(&mut rng(seed), rows, cols, lo, hi)
}

// ---- the checker itself -------------------------------------------------

/// A gradient off by 10%, or missing, must not pass: otherwise a passing
/// check says nothing.
#[test]
fn checker_rejects_wrong_gradients() {
    let inputs = [u(1, 3, 4, -1.0, 1.0), u(2, 4, 5, -1.0, 1.0)];
    let f = |t: &mut Tape, v: &[Var]| {
        let y = t.matmul(v[0], v[1]);
        t.tanh(y)
    };
    let seed = seed_for("sanity", &inputs, &f);
    let a = analytic(&inputs, &f, &seed);
    let n = numeric(&inputs, &f, &seed);
    compare("sanity", &a.grads, &n).expect("the correct gradient passes");
    for i in 0..inputs.len() {
        let mut scaled = a.grads.clone();
        scaled[i].data.iter_mut().for_each(|g| *g *= 1.1);
        assert!(compare("scaled", &scaled, &n).is_err(), "a gradient of input {i} scaled by 1.1 passed");
        let mut zeroed = a.grads.clone();
        zeroed[i].data.fill(0.0);
        assert!(compare("zeroed", &zeroed, &n).is_err(), "a zero gradient of input {i} passed");
        let mut one_wrong = a.grads.clone();
        one_wrong[i].data[2] *= -1.0;
        assert!(compare("sign", &one_wrong, &n).is_err(), "one flipped element of input {i} passed");
    }
}

// ---- linalg ---------------------------------------------------------------

#[test]
fn matmul_both_operands() {
    let inputs = [u(10, 3, 4, -1.0, 1.0), u(11, 4, 5, -1.0, 1.0)];
    check_gradients("matmul", &inputs, |t, v| t.matmul(v[0], v[1]));
}

#[test]
fn matmul_vector_and_transposed_shapes() {
    // [1, K] @ [K, N] (a recurrent step of one sequence) and [M, 1] @ [1, N].
    let inputs = [u(12, 1, 6, -1.0, 1.0), u(13, 6, 3, -1.0, 1.0)];
    check_gradients("matmul_row", &inputs, |t, v| t.matmul(v[0], v[1]));
    let inputs = [u(14, 4, 1, -1.0, 1.0), u(15, 1, 3, -1.0, 1.0)];
    check_gradients("matmul_outer", &inputs, |t, v| t.matmul(v[0], v[1]));
}

/// One input used several times: the gradient contributions must add up.
#[test]
fn shared_input_accumulates() {
    let inputs = [u(16, 4, 4, -1.0, 1.0)];
    check_gradients("shared", &inputs, |t, v| {
        let sq = t.matmul(v[0], v[0]);
        let m = t.mul(v[0], v[0]);
        let s = t.add(sq, m);
        t.add(s, v[0])
    });
}

// ---- elementwise ---------------------------------------------------------

#[test]
fn add_sub_mul_div() {
    let ab = [u(20, 3, 5, -1.0, 1.0), u(21, 3, 5, -1.0, 1.0)];
    check_gradients("add", &ab, |t, v| t.add(v[0], v[1]));
    check_gradients("sub", &ab, |t, v| t.sub(v[0], v[1]));
    check_gradients("mul", &ab, |t, v| t.mul(v[0], v[1]));
    // The divisor stays in [0.5, 2): away from the pole at 0.
    let ab = [u(22, 3, 5, -1.0, 1.0), u(23, 3, 5, 0.5, 2.0)];
    check_gradients("div", &ab, |t, v| t.div(v[0], v[1]));
    let ab = [u(24, 3, 5, -1.0, 1.0), u(25, 3, 5, -2.0, -0.5)];
    check_gradients("div_negative", &ab, |t, v| t.div(v[0], v[1]));
}

#[test]
fn constants_get_no_gradient_and_do_not_break_rules() {
    // Only the first operand is an input; the other is a constant on the tape.
    let x = [u(26, 3, 4, 0.5, 2.0)];
    let c = u(27, 3, 4, 0.5, 2.0);
    let c1 = c.clone();
    check_gradients("mul_const", &x, move |t, v| {
        let k = t.constant(c1.clone());
        t.mul(k, v[0])
    });
    check_gradients("div_by_input", &x, move |t, v| {
        let k = t.constant(c.clone());
        t.div(k, v[0])
    });
}

#[test]
fn row_and_column_broadcasts() {
    let inputs = [u(30, 4, 5, -1.0, 1.0), u(31, 1, 5, -1.0, 1.0)];
    check_gradients("add_row", &inputs, |t, v| t.add_row(v[0], v[1]));
    check_gradients("mul_row", &inputs, |t, v| t.mul_row(v[0], v[1]));
    let inputs = [u(32, 4, 5, -1.0, 1.0), u(33, 4, 1, -1.0, 1.0)];
    check_gradients("mul_col", &inputs, |t, v| t.mul_col(v[0], v[1]));
}

#[test]
fn scale_and_add_const() {
    let x = [u(40, 3, 4, -1.0, 1.0)];
    check_gradients("scale", &x, |t, v| t.scale(v[0], -1.7));
    check_gradients("add_const", &x, |t, v| t.add_const(v[0], 0.3));
}

#[test]
fn unary_functions() {
    let x = [u(50, 3, 5, -2.0, 2.0)];
    check_gradients("sigmoid", &x, |t, v| t.sigmoid(v[0]));
    check_gradients("tanh", &x, |t, v| t.tanh(v[0]));
    check_gradients("exp", &x, |t, v| t.exp(v[0]));
    // log, sqrt and recip on [0.5, 2): away from 0, where they blow up.
    let x = [u(51, 3, 5, 0.5, 2.0)];
    check_gradients("log", &x, |t, v| t.log(v[0]));
    check_gradients("sqrt", &x, |t, v| t.sqrt(v[0]));
    check_gradients("recip", &x, |t, v| t.recip(v[0]));
}

#[test]
fn clamp_inside_and_outside_the_range() {
    // Entries on both sides of both bounds, never within 0.05 of one.
    let x = uniform_away(&mut rng(60), 4, 6, -3.0, 3.0, &[-1.0, 1.0], 0.05);
    let outside: Vec<usize> = (0..x.len()).filter(|&i| x.data[i].abs() > 1.0).collect();
    assert!(!outside.is_empty() && outside.len() < x.len(), "inputs must straddle the bounds");
    let f = |t: &mut Tape, v: &[Var]| t.clamp(v[0], -1.0, 1.0);
    check_gradients("clamp", std::slice::from_ref(&x), f);
    // Outside the range the gradient is exactly zero.
    let seed = seed_for("clamp", std::slice::from_ref(&x), &f);
    let a = analytic(std::slice::from_ref(&x), &f, &seed);
    for i in outside {
        assert_eq!(a.grads[0].data[i], 0.0, "clamp passes gradient at {}", x.data[i]);
    }
}

#[test]
fn reductions() {
    let x = [u(70, 4, 5, -1.0, 1.0)];
    check_gradients("sum_cols", &x, |t, v| t.sum_cols(v[0]));
    check_gradients("mean_all", &x, |t, v| t.mean_all(v[0]));
    check_gradients("pick_cols", &x, |t, v| t.pick_cols(v[0], vec![4, 0, 2, 2]));
}

// ---- shape ----------------------------------------------------------------

#[test]
fn gather_rows_with_repeats() {
    let x = [u(80, 5, 3, -1.0, 1.0)];
    // Row 1 three times, row 3 never: repeated rows add their gradients.
    check_gradients("gather_rows", &x, |t, v| t.gather_rows(v[0], vec![1, 4, 1, 0, 2, 1]));
}

#[test]
fn slice_and_concat_rows() {
    let x = [u(81, 6, 3, -1.0, 1.0)];
    check_gradients("slice_rows", &x, |t, v| t.slice_rows(v[0], 2, 3));
    let parts = [u(82, 2, 3, -1.0, 1.0), u(83, 1, 3, -1.0, 1.0), u(84, 3, 3, -1.0, 1.0)];
    check_gradients("concat_rows", &parts, |t, v| t.concat_rows(vec![v[0], v[1], v[2]]));
    // Slices of one matrix concatenated back in another order (time steps).
    check_gradients("slice_concat", &x, |t, v| {
        let a = t.slice_rows(v[0], 0, 2);
        let b = t.slice_rows(v[0], 4, 2);
        let c = t.slice_rows(v[0], 1, 2);
        t.concat_rows(vec![b, a, c])
    });
}
