//! Branch-free float32 math that vectorises: `exp`, `tanh`, `sigmoid`, `silu`
//! and fixed-order sums. Used inside `multiversion!` kernels, where each
//! loop over these compiles to 16- or 8-lane code; the portable build runs
//! the same operations one lane at a time, with the same results.
//!
//! Accuracy (checked against libm over wide ranges in the tests): `exp`
//! within 2 ulp, `tanh` and `sigmoid` within 4e-7 absolute / 3 ulp. NaN in
//! gives NaN out (divergence must stay visible).

// Polynomial coefficients are written as published (Cephes); f32 rounds them.
#![allow(clippy::excessive_precision)]

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2²³: adding it rounds to an integer held in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// `exp` saturates outside this range (2¹²⁷ and 2⁻¹²⁶ are the limits of its scale).
const EXP_HI: f32 = 88.0;
const EXP_LO: f32 = -87.3;

/// Clamp that keeps NaN (comparisons with NaN are false).
#[inline(always)]
fn clamp_keep_nan(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x > hi { hi } else { x };
    if x < lo {
        lo
    } else {
        x
    }
}

/// `e^x`: `x = n·ln2 + r`, `|r| ≤ ln2/2`, a degree-6 polynomial for `e^r`
/// (Cephes' expf coefficients), and `2^n` built in the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = clamp_keep_nan(x, EXP_LO, EXP_HI);
    let t = x.mul_add(LOG2E, ROUND);
    let n = t - ROUND;
    let r = n.mul_add(-LN2_HI, x);
    let r = n.mul_add(-LN2_LO, r);
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 5.000_000_1e-1);
    let p = p.mul_add(r * r, r) + 1.0;
    // t's low bits hold n + 0x400000; (n + 127) << 23 is 2^n (n in −126..=127).
    let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
    p * scale
}

/// `1 / (1 + e^−x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `x · σ(x)`.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// `tanh x`: an odd polynomial below 0.625 (Cephes' tanhf), else
/// `1 − 2/(e^{2|x|} + 1)` with the sign of x.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = p.mul_add(z, 2.063_908_9e-2);
    p = p.mul_add(z, -5.373_971_6e-2);
    p = p.mul_add(z, 1.333_144_2e-1);
    p = p.mul_add(z, -3.333_328_2e-1);
    let small = (p * z).mul_add(x, x);
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// Lanes of the fixed-order partial sums below.
pub const LANES: usize = 16;

/// `Σ f(i)` over `0..n` as 16 interleaved partial sums added in a fixed
/// order: vectorisable, and the same value on every instruction set.
#[inline(always)]
pub fn sum_by(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let full = n / LANES * LANES;
    for i0 in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i0 + l);
        }
    }
    for (l, a) in acc.iter_mut().enumerate().take(n - full) {
        *a += f(full + l);
    }
    let mut s = 0.0;
    for a in acc {
        s += a;
    }
    s
}

/// `Σ x²`.
#[inline(always)]
pub fn sum_sq(x: &[f32]) -> f32 {
    sum_by(x.len(), |i| x[i] * x[i])
}

/// `Σ a ⊙ b`.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    sum_by(a.len(), |i| a[i] * b[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulp_diff(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        for x in grid(-87.0, 88.0, 400_000) {
            let (got, want) = (exp(x), x.exp());
            assert!(ulp_diff(got, want) <= 2, "exp({x}) = {got}, libm {want}");
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-200.0) < 2e-38 && exp(-200.0) >= 0.0);
        assert!(exp(200.0) > 1e38 && exp(200.0).is_finite());
    }

    #[test]
    fn tanh_and_sigmoid_match_libm() {
        for x in grid(-20.0, 20.0, 400_000) {
            let (t, want_t) = (tanh(x), x.tanh());
            assert!((t - want_t).abs() <= 3e-7 || ulp_diff(t, want_t) <= 3, "tanh({x}) = {t}, libm {want_t}");
            let want_s = 1.0 / (1.0 + (-x).exp());
            let s = sigmoid(x);
            assert!((s - want_s).abs() <= 4e-7 || ulp_diff(s, want_s) <= 3, "sigmoid({x}) = {s}, libm {want_s}");
        }
        for x in grid(-1e-3, 1e-3, 1000) {
            assert!(ulp_diff(tanh(x), x.tanh()) <= 2, "tanh near 0: {x}");
        }
        assert!(tanh(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
        assert_eq!(sigmoid(-200.0).max(0.0), sigmoid(-200.0));
    }

    #[test]
    fn sums_are_exact_on_integers_and_fixed_order() {
        let x: Vec<f32> = (0..37).map(|i| i as f32).collect();
        assert_eq!(sum_sq(&x), (0..37).map(|i| (i * i) as f32).sum::<f32>());
        assert_eq!(dot(&x, &x), sum_sq(&x));
        assert_eq!(sum_sq(&[]), 0.0);
    }
}
