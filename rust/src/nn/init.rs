//! Seeded initialisation, per MODEL.md's table. The RNG is ChaCha8 seeded from
//! a u64, and tensors are filled in the flat order, so a seed fixes the model.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::config::{ModelConfig, ParamSpec};
use crate::engine::Tensor;

fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    (0..n).map(|_| (Distribution::<f64>::sample(&StandardNormal, rng) * std) as f32).collect()
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, f: impl Fn(usize, f64) -> f64) -> Vec<f32> {
    (0..n).map(|i| f(i, rng.gen::<f64>()) as f32).collect()
}

/// Initial values of one parameter of layer input width `i`.
fn init_one(cfg: &ModelConfig, spec: &ParamSpec, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (h, e, v) = (cfg.hidden_size as f64, cfg.embed_size as f64, cfg.vocab_size as f64);
    let n = spec.numel();
    let rows = spec.shape[0] as f64;
    let leaf = spec.name.rsplit('.').next().unwrap_or("");
    match leaf {
        "weight" => normal(rng, n, (1.0 / e).sqrt()),
        // [I, H]: I is the first dimension.
        "wz" | "wr" | "wh" | "proj_in" => normal(rng, n, (2.0 / (rows + h)).sqrt()),
        "uz" | "ur" | "uh" | "wk" | "wv" | "wo" => normal(rng, n, (1.0 / h).sqrt()),
        "time_decay_proj" | "time_first_proj" => normal(rng, n, 0.1 * (1.0 / h).sqrt()),
        "bz" | "br" | "bh" => vec![0.0; n],
        "input_norm" | "hidden_norm" | "norm" | "output_norm" => vec![1.0; n],
        "time_decay" => {
            let head_size = cfg.hidden_size / cfg.num_heads;
            uniform(rng, n, |d, u| -0.3 - 0.1 * (d / head_size) as f64 - 0.4 * u)
        }
        "time_first" => uniform(rng, n, |_, u| 0.3 + 0.2 * u),
        "mix_k" | "mix_v" | "mix_r" => uniform(rng, n, |_, u| 0.5 + 0.1 * (u - 0.5)),
        "w_gate" | "w_up" | "w_down" => normal(rng, n, (2.0 / (3.0 * h)).sqrt()),
        "router" => normal(rng, n, (2.0 / (h + (cfg.num_experts - 1) as f64)).sqrt()),
        "output_proj" => normal(rng, n, (2.0 / (h + v)).sqrt()),
        other => unreachable!("no initialiser for parameter kind {other}"),
    }
}

pub fn init_params(cfg: &ModelConfig, specs: &[ParamSpec], seed: u64) -> Vec<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    specs
        .iter()
        .map(|s| {
            let (r, c) = s.matrix();
            Tensor::from_vec(r, c, init_one(cfg, s, &mut rng))
        })
        .collect()
}
