//! Shared helpers of the gradient checks: seeded random tensors, a
//! central-difference checker for any function of `Input` vars, and a
//! comparison of a fused op against its composition from primitives.
//!
//! The checked scalar is `f(x) = Σ out ⊙ R` for a fixed random `R` shaped like
//! the output, so one backward pass (`backward_with(out, R)`) gives the whole
//! vector–Jacobian product and every output element is exercised with its own
//! weight (a plain `Σ out` would hide errors that cancel across elements).

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnnpy_core::engine::{Tape, Tensor, Var};

/// Central-difference step, applied in f32. Large enough that the f32
/// rounding of the outputs (~6e-8 relative) divided by `2h` stays ~1e-5 of
/// the output scale; small enough that the truncation error `h²·f'''/6` is
/// ~1e-4 relative or less for the well-conditioned inputs chosen below.
pub const H: f32 = 1e-2;
/// Allowed relative error, `|num − ana| ≤ RTOL·(|ana| + FLOOR·scale)`, where
/// `scale` is the largest gradient magnitude of that input. The two error
/// sources above stay below ~1e-3 relative, so 2e-2 leaves a 20× margin, while
/// a backward rule that is off by 10% (or has a wrong sign, a missing term or
/// a misplaced index) exceeds it on every element whose gradient is more than
/// 1% of the input's largest one. `FLOOR` keeps elements whose true gradient
/// is ~0 (where only rounding noise is left) from failing on relative terms.
pub const RTOL: f64 = 2e-2;
pub const FLOOR: f64 = 1e-2;

/// A function under test: records ops on the tape from the given input vars
/// and returns the output var.
pub trait Func: Fn(&mut Tape, &[Var]) -> Var {}
impl<F: Fn(&mut Tape, &[Var]) -> Var> Func for F {}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `[rows, cols]` with entries uniform in `[lo, hi)`.
pub fn uniform(rng: &mut ChaCha8Rng, rows: usize, cols: usize, lo: f32, hi: f32) -> Tensor {
    Tensor::from_vec(rows, cols, (0..rows * cols).map(|_| rng.gen_range(lo..hi)).collect())
}

/// Like [`uniform`], with every entry at least `margin` away from each of
/// `kinks` (points where the function is not differentiable).
pub fn uniform_away(
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
    lo: f32,
    hi: f32,
    kinks: &[f32],
    margin: f32,
) -> Tensor {
    let data = (0..rows * cols)
        .map(|_| loop {
            let x = rng.gen_range(lo..hi);
            if kinks.iter().all(|k| (x - k).abs() >= margin) {
                break x;
            }
        })
        .collect();
    Tensor::from_vec(rows, cols, data)
}

/// A stable seed per check name, so each check has its own fixed `R`.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Forward only: the output value of `f` at `inputs`, on a fresh tape.
pub fn forward(inputs: &[Tensor], f: &impl Func) -> Tensor {
    let no_params: [Tensor; 0] = [];
    let mut tape = Tape::new(&no_params);
    let vars: Vec<Var> = inputs.iter().map(|t| tape.input(t.clone())).collect();
    let out = f(&mut tape, &vars);
    tape.value(out).clone()
}

/// The output, the seed `R` and the analytic gradient of `Σ out ⊙ R` per input
/// (zeros where the backward pass did not reach an input).
pub struct Analytic {
    pub out: Tensor,
    pub seed: Tensor,
    pub grads: Vec<Tensor>,
}

pub fn analytic(inputs: &[Tensor], f: &impl Func, seed: &Tensor) -> Analytic {
    let no_params: [Tensor; 0] = [];
    let mut tape = Tape::new(&no_params);
    let vars: Vec<Var> = inputs.iter().map(|t| tape.input(t.clone())).collect();
    let out = f(&mut tape, &vars);
    let value = tape.value(out).clone();
    let g = tape.backward_with(out, seed.clone());
    let grads = vars
        .iter()
        .zip(inputs)
        .map(|(&v, t)| g.input(v).cloned().unwrap_or_else(|| Tensor::zeros(t.rows, t.cols)))
        .collect();
    Analytic { out: value, seed: seed.clone(), grads }
}

/// The random seed tensor of a check: uniform in [-1, 1), shaped like `f`'s output.
pub fn seed_for(name: &str, inputs: &[Tensor], f: &impl Func) -> Tensor {
    let out = forward(inputs, f);
    uniform(&mut rng(name_seed(name)), out.rows, out.cols, -1.0, 1.0)
}

/// `Σ out ⊙ R`, accumulated in f64.
fn objective(inputs: &[Tensor], f: &impl Func, seed: &Tensor) -> f64 {
    let out = forward(inputs, f);
    out.data.iter().zip(&seed.data).map(|(&o, &r)| o as f64 * r as f64).sum()
}

/// Central differences of `Σ out ⊙ R` for every element of every input. The
/// step actually taken is `(x + h) − (x − h)` as rounded in f32.
pub fn numeric(inputs: &[Tensor], f: &impl Func, seed: &Tensor) -> Vec<Vec<f64>> {
    let mut xs = inputs.to_vec();
    (0..xs.len())
        .map(|i| {
            (0..xs[i].len())
                .map(|j| {
                    let x0 = xs[i].data[j];
                    let (xp, xm) = (x0 + H, x0 - H);
                    xs[i].data[j] = xp;
                    let fp = objective(&xs, f, seed);
                    xs[i].data[j] = xm;
                    let fm = objective(&xs, f, seed);
                    xs[i].data[j] = x0;
                    (fp - fm) / (xp as f64 - xm as f64)
                })
                .collect()
        })
        .collect()
}

/// Checks analytic against numeric gradients with the tolerance above.
/// `Ok` holds the worst `|num − ana| / tol` (below 1); `Err` names the first
/// element that does not fit.
pub fn compare(name: &str, analytic: &[Tensor], numeric: &[Vec<f64>]) -> Result<f64, String> {
    let mut worst = 0.0f64;
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let scale = a.data.iter().map(|&v| (v as f64).abs()).chain(n.iter().map(|v| v.abs())).fold(0.0, f64::max);
        for (j, (&av, &nv)) in a.data.iter().zip(n).enumerate() {
            let av = av as f64;
            let tol = RTOL * (av.abs() + FLOOR * scale);
            if (nv - av).abs() > tol || !av.is_finite() {
                let (r, c) = (j / a.cols.max(1), j % a.cols.max(1));
                return Err(format!(
                    "{name}: input {i} [{r}, {c}]: analytic {av:.6e}, numeric {nv:.6e}, |diff| {:.3e} > tol {tol:.3e}",
                    (nv - av).abs()
                ));
            }
            if tol > 0.0 {
                worst = worst.max((nv - av).abs() / tol);
            }
        }
    }
    Ok(worst)
}

/// The finite-difference check of `f` at `inputs`: panics on a mismatch, and
/// when every numeric gradient is exactly zero (a check that cannot fail is
/// no check).
pub fn check_gradients(name: &str, inputs: &[Tensor], f: impl Func) {
    let seed = seed_for(name, inputs, &f);
    let a = analytic(inputs, &f, &seed);
    let n = numeric(inputs, &f, &seed);
    match compare(name, &a.grads, &n) {
        // Visible with `--nocapture`: how much of the tolerance a check uses.
        Ok(worst) => eprintln!("{name}: worst |num − ana| / tol = {worst:.3}"),
        Err(e) => panic!("{e}"),
    }
    // Scale-free on purpose: small gradients are checked relatively like any
    // others; only a check where nothing moves at all is vacuous.
    let largest = n.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(largest > 0.0, "{name}: every gradient is zero, the check proves nothing");
}

/// `|x − y| ≤ rtol·(|y| + floor·max|y|)` elementwise; panics naming the
/// element, else returns the worst `|x − y| / tol`.
pub fn assert_close(what: &str, x: &Tensor, y: &Tensor, rtol: f64, floor: f64) -> f64 {
    let mut worst = 0.0f64;
    assert!(x.same_shape(y), "{what}: shapes [{}, {}] vs [{}, {}]", x.rows, x.cols, y.rows, y.cols);
    let scale = y.data.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    for (j, (&a, &b)) in x.data.iter().zip(&y.data).enumerate() {
        let (a, b) = (a as f64, b as f64);
        let tol = rtol * (b.abs() + floor * scale);
        assert!(
            (a - b).abs() <= tol,
            "{what} [{}, {}]: {a:.8e} vs {b:.8e}, |diff| {:.3e} > tol {tol:.3e}",
            j / y.cols.max(1),
            j % y.cols.max(1),
            (a - b).abs()
        );
        if tol > 0.0 {
            worst = worst.max((a - b).abs() / tol);
        }
    }
    worst
}

/// A fused op against the same function built from primitive ops: forward
/// values within `fwd_rtol` and, with the same seed `R`, gradients of every
/// input within `grad_rtol` (both relative, with a 1% floor of the tensor's
/// largest magnitude for elements near zero).
pub fn check_composition(
    name: &str,
    inputs: &[Tensor],
    fused: impl Func,
    composed: impl Func,
    fwd_rtol: f64,
    grad_rtol: f64,
) {
    let seed = seed_for(name, inputs, &fused);
    let a = analytic(inputs, &fused, &seed);
    let b = analytic(inputs, &composed, &seed);
    let fwd = assert_close(&format!("{name}: forward"), &a.out, &b.out, fwd_rtol, 1e-2);
    let mut grad = 0.0f64;
    for (i, (ga, gb)) in a.grads.iter().zip(&b.grads).enumerate() {
        grad = grad.max(assert_close(&format!("{name}: gradient of input {i}"), ga, gb, grad_rtol, 1e-2));
    }
    eprintln!("{name}: worst |fused − composed| / tol: forward {fwd:.3}, gradients {grad:.3}");
}
