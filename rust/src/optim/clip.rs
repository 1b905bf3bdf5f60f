//! Global L2-norm clipping over every parameter's gradient.

use crate::engine::Tensor;
use crate::multiversion;

multiversion! {
    /// `Σ x²` in float64, as 8 partial sums added in a fixed order.
    fn sum_sq_f64(x: &[f32]) -> f64 {
        let mut acc = [0.0f64; 8];
        let mut chunks = x.chunks_exact(8);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += v as f64 * v as f64;
            }
        }
        for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
            *a += v as f64 * v as f64;
        }
        acc.iter().sum()
    }
}

/// Scales a flat gradient so that its L2 norm is at most `max_norm` (0 =
/// no clipping); returns the norm before clipping (the training log's ∇).
pub fn clip_flat(grad: &mut [f32], max_norm: f32) -> f32 {
    let norm = sum_sq_f64(grad).sqrt() as f32;
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / norm;
        grad.iter_mut().for_each(|x| *x *= scale);
    }
    norm
}

/// [`clip_flat`] over per-parameter gradients.
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f32) -> f32 {
    let norm = grads.iter().map(|g| sum_sq_f64(&g.data)).sum::<f64>().sqrt() as f32;
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / norm;
        for g in grads.iter_mut() {
            g.data.iter_mut().for_each(|x| *x *= scale);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_only_above_the_limit() {
        let mut g = vec![Tensor::from_vec(1, 2, vec![3.0, 4.0])];
        assert_eq!(clip_global_norm(&mut g, 10.0), 5.0);
        assert_eq!(g[0].data, vec![3.0, 4.0]);
        assert_eq!(clip_global_norm(&mut g, 1.0), 5.0);
        assert!((g[0].data[0] - 0.6).abs() < 1e-6 && (g[0].data[1] - 0.8).abs() < 1e-6);
        let mut flat = vec![3.0, 4.0, 0.0];
        assert_eq!(clip_flat(&mut flat, 1.0), 5.0);
        assert!((flat[1] - 0.8).abs() < 1e-6);
    }
}
