//! AdamW with bias correction and decoupled weight decay:
//! `θ ← θ − lr·wd·θ − lr·m̂/(√v̂ + ε)`, β1 0.9, β2 0.999, ε 1e-8.
//! The moments are flat, in the checkpoint's order, and never leave the core
//! except to be saved.

use crate::engine::ops::par::PARALLEL_MIN_LEN;
use crate::engine::Tensor;
use crate::error::{Error, Result};
use crate::multiversion;
use rayon::prelude::*;

#[derive(Clone, Debug)]
pub struct AdamW {
    pub lr: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Steps taken (the checkpoint's `optimizer_step`).
    pub step: usize,
    /// First and second moments of every parameter value, flat.
    m: Vec<f32>,
    v: Vec<f32>,
}

/// Beyond this many steps `β^t` is 0 in float32 (0.999^(2^20) underflows), so
/// the bias corrections are computed from `min(step, this)`: no overflow
/// however large a stored step count is.
const MAX_EFFECTIVE_STEP: usize = 1 << 20;

impl AdamW {
    pub fn new(params: &[Tensor], lr: f32, weight_decay: f32) -> Self {
        let n: usize = params.iter().map(Tensor::len).sum();
        AdamW { lr, weight_decay, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, m: vec![0.0; n], v: vec![0.0; n] }
    }

    /// The moments in the checkpoint's order: `(m, v)`.
    pub fn flat_moments(&self) -> (Vec<f32>, Vec<f32>) {
        (self.m.clone(), self.v.clone())
    }

    /// Restores the step count and the moments from flat arrays (checkpoint order).
    pub fn set_flat_state(&mut self, step: usize, m: &[f32], v: &[f32]) -> Result<()> {
        let n = self.m.len();
        for (what, got) in [("first moments", m.len()), ("second moments", v.len())] {
            if got != n {
                return Err(Error::Input(format!("optimizer {what}: {got} values given, {n} expected")));
            }
        }
        self.m.copy_from_slice(m);
        self.v.copy_from_slice(v);
        self.step = step;
        Ok(())
    }

    /// One update of every parameter with per-parameter gradients (same shapes).
    pub fn update(&mut self, params: &mut [Tensor], grads: &[Tensor]) {
        let flat: Vec<f32> = grads.iter().flat_map(|g| g.data.iter().copied()).collect();
        self.update_flat(params, &flat);
    }

    /// One update of every parameter with a flat gradient (checkpoint order).
    pub fn update_flat(&mut self, params: &mut [Tensor], grad: &[f32]) {
        assert_eq!(
            grad.len(),
            self.m.len(),
            "AdamW: gradient of {} values for {} parameters",
            grad.len(),
            self.m.len()
        );
        self.step = self.step.saturating_add(1);
        let t = self.step.min(MAX_EFFECTIVE_STEP) as i32;
        let c = Coefs {
            b1: self.beta1,
            b2: self.beta2,
            lr: self.lr,
            wd: self.weight_decay,
            eps: self.eps,
            bc1: 1.0 - self.beta1.powi(t),
            bc2: 1.0 - self.beta2.powi(t),
        };
        let mut off = 0;
        for p in params.iter_mut() {
            let n = p.len();
            let (g, m, v) = (&grad[off..off + n], &mut self.m[off..off + n], &mut self.v[off..off + n]);
            if n >= PARALLEL_MIN_LEN {
                const CHUNK: usize = 1 << 14;
                p.data
                    .par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
                    .for_each(|((p, g), (m, v))| adamw_slice(&c, p, g, m, v));
            } else {
                adamw_slice(&c, &mut p.data, g, m, v);
            }
            off += n;
        }
    }
}

/// The scalars of one update.
struct Coefs {
    b1: f32,
    b2: f32,
    lr: f32,
    wd: f32,
    eps: f32,
    bc1: f32,
    bc2: f32,
}

multiversion! {
    fn adamw_slice(c: &Coefs, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = c.b1 * *m + (1.0 - c.b1) * g;
            *v = c.b2 * *v + (1.0 - c.b2) * g * g;
            let m_hat = *m / c.bc1;
            let v_hat = *v / c.bc2;
            *p = *p - c.lr * c.wd * *p - c.lr * m_hat / (v_hat.sqrt() + c.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_against_the_gradient_sign() {
        let mut p = vec![Tensor::from_vec(1, 3, vec![1.0, -2.0, 0.5])];
        let g = vec![Tensor::from_vec(1, 3, vec![0.3, -4.0, 0.0])];
        let mut opt = AdamW::new(&p, 0.1, 0.01);
        opt.update(&mut p, &g);
        // m̂ = g, v̂ = g², so the step is lr·sign(g) (plus decay lr·wd·θ).
        let want = [1.0 - 0.001 - 0.1, -2.0 + 0.002 + 0.1, 0.5 - 0.0005];
        for (a, b) in p[0].data.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert_eq!(opt.step, 1);
    }

    #[test]
    fn a_huge_stored_step_count_neither_wraps_nor_breaks_the_update() {
        let mut p = vec![Tensor::from_vec(1, 2, vec![1.0, -1.0])];
        let mut opt = AdamW::new(&p, 0.01, 0.0);
        opt.set_flat_state(usize::MAX, &[0.1, -0.1], &[0.01, 0.01]).unwrap();
        opt.update_flat(&mut p, &[0.1, -0.1]);
        assert_eq!(opt.step, usize::MAX);
        assert!(p[0].data.iter().all(|x| x.is_finite()), "{:?}", p[0].data);
        assert!((p[0].data[0] - 0.99).abs() < 1e-4, "{:?}", p[0].data);
    }
}
