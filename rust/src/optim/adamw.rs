//! AdamW with bias correction and decoupled weight decay:
//! `θ ← θ − lr·wd·θ − lr·m̂/(√v̂ + ε)`, β1 0.9, β2 0.999, ε 1e-8.

use crate::engine::ops::par::PARALLEL_MIN_LEN;
use crate::engine::Tensor;
use crate::error::{Error, Result};
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
    /// First and second moments, one per parameter, same shapes.
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

impl AdamW {
    pub fn new(params: &[Tensor], lr: f32, weight_decay: f32) -> Self {
        let zeros = || params.iter().map(|p| Tensor::zeros(p.rows, p.cols)).collect();
        AdamW { lr, weight_decay, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, m: zeros(), v: zeros() }
    }

    /// The moments flattened in the checkpoint's order: `(m, v)`.
    pub fn flat_moments(&self) -> (Vec<f32>, Vec<f32>) {
        let flat = |ts: &[Tensor]| ts.iter().flat_map(|t| t.data.iter().copied()).collect();
        (flat(&self.m), flat(&self.v))
    }

    /// Restores the step count and the moments from flat arrays (checkpoint order).
    pub fn set_flat_state(&mut self, step: usize, m: &[f32], v: &[f32]) -> Result<()> {
        let n: usize = self.m.iter().map(Tensor::len).sum();
        for (what, got) in [("first moments", m.len()), ("second moments", v.len())] {
            if got != n {
                return Err(Error::Input(format!("optimizer {what}: {got} values given, {n} expected")));
            }
        }
        let mut off = 0;
        for (tm, tv) in self.m.iter_mut().zip(self.v.iter_mut()) {
            let len = tm.len();
            tm.data.copy_from_slice(&m[off..off + len]);
            tv.data.copy_from_slice(&v[off..off + len]);
            off += len;
        }
        self.step = step;
        Ok(())
    }

    /// One update of every parameter with `grads` (same shapes).
    pub fn update(&mut self, params: &mut [Tensor], grads: &[Tensor]) {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2, lr, wd, eps) = (self.beta1, self.beta2, self.lr, self.weight_decay, self.eps);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let update = |(((p, g), m), v): (((&mut f32, &f32), &mut f32), &mut f32)| {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let m_hat = *m / bc1;
            let v_hat = *v / bc2;
            *p = *p - lr * wd * *p - lr * m_hat / (v_hat.sqrt() + eps);
        };
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            if p.len() >= PARALLEL_MIN_LEN {
                p.data.par_iter_mut().zip(&g.data).zip(&mut m.data).zip(&mut v.data).for_each(update);
            } else {
                p.data.iter_mut().zip(&g.data).zip(&mut m.data).zip(&mut v.data).for_each(update);
            }
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
}
