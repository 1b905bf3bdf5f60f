//! Global L2-norm clipping over every parameter's gradient.

use crate::engine::Tensor;

/// Scales `grads` so that their global L2 norm is at most `max_norm`;
/// returns the norm before clipping (what the training log prints as ∇).
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f32) -> f32 {
    let norm = grads.iter().map(Tensor::sum_sq).sum::<f64>().sqrt() as f32;
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
    }
}
