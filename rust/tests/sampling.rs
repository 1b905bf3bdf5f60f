//! The sampler's filters (top-k, top-p), that plain temperature sampling
//! draws exactly what it drew before they existed, and that generation in
//! chunks equals generation in one call.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnnpy_core::generate::{generate, sample, Generation, Sampling};
use rnnpy_core::nn::{Model, ModelConfig};

fn how(temperature: f32, top_k: usize, top_p: f32) -> Sampling {
    Sampling { temperature, top_k, top_p }
}

/// Counts of each id over `n` draws.
fn histogram(logits: &[f32], s: &Sampling, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = vec![0; logits.len()];
    for _ in 0..n {
        counts[sample(logits, s, &mut rng) as usize] += 1;
    }
    counts
}

/// Probabilities 0.4, 0.3, 0.2, 0.1 at temperature 1.
fn four() -> Vec<f32> {
    [0.4f32, 0.3, 0.2, 0.1].iter().map(|p| p.ln()).collect()
}

/// The sampler as it was before top-k / top-p (commit 5a19980), to check
/// that seeds given before still draw the same tokens.
fn sample_before(logits: &[f32], temperature: f32, rng: &mut ChaCha8Rng) -> u32 {
    let t = temperature as f64;
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let w: Vec<f64> = logits.iter().map(|&x| ((x as f64 - m) / t).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut r = rng.gen::<f64>() * total;
    for (i, &wi) in w.iter().enumerate() {
        r -= wi;
        if r < 0.0 {
            return i as u32;
        }
    }
    (w.len() - 1) as u32
}

#[test]
fn without_filters_the_draws_are_the_plain_temperature_samplers() {
    let mut data = ChaCha8Rng::seed_from_u64(1);
    for temperature in [0.3f32, 0.8, 1.0, 2.5] {
        let logits: Vec<f32> = (0..65).map(|_| data.gen_range(-4.0..4.0)).collect();
        let (mut a, mut b, mut c) =
            (ChaCha8Rng::seed_from_u64(7), ChaCha8Rng::seed_from_u64(7), ChaCha8Rng::seed_from_u64(7));
        for _ in 0..2000 {
            let before = sample_before(&logits, temperature, &mut a);
            assert_eq!(sample(&logits, &Sampling::temperature(temperature), &mut b), before);
            // top_k at or above the vocabulary size keeps everything too
            assert_eq!(sample(&logits, &how(temperature, 65, 1.0), &mut c), before);
        }
    }
}

#[test]
fn top_k_draws_only_the_k_most_likely_in_their_renormalised_proportions() {
    let counts = histogram(&four(), &how(1.0, 2, 1.0), 40_000, 3);
    assert_eq!(&counts[2..], &[0, 0]);
    let share = counts[0] as f64 / 40_000.0;
    assert!((share - 4.0 / 7.0).abs() < 0.01, "{counts:?}");
    // top_k = 1 is argmax at any temperature
    let mut data = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..200 {
        let logits: Vec<f32> = (0..30).map(|_| data.gen_range(-3.0..3.0)).collect();
        let greedy = sample(&logits, &how(0.0, 0, 1.0), &mut data);
        assert_eq!(sample(&logits, &how(2.0, 1, 1.0), &mut data), greedy);
    }
}

#[test]
fn top_p_keeps_the_fewest_most_likely_tokens_that_reach_p() {
    let kept = |top_k: usize, top_p: f32| -> Vec<usize> {
        let counts = histogram(&four(), &how(1.0, top_k, top_p), 20_000, 5);
        (0..4).filter(|&i| counts[i] > 0).collect()
    };
    assert_eq!(kept(0, 0.05), vec![0]); // the most likely alone already reaches it
    assert_eq!(kept(0, 0.65), vec![0, 1]); // 0.4 < 0.65 <= 0.7
    assert_eq!(kept(0, 0.75), vec![0, 1, 2]);
    assert_eq!(kept(0, 0.95), vec![0, 1, 2, 3]);
    // after top-k, p is of the renormalised top-k mass: 0.4/0.9 < 0.5 <= 0.7/0.9
    assert_eq!(kept(3, 0.5), vec![0, 1]);
    let counts = histogram(&four(), &how(1.0, 0, 0.65), 40_000, 6);
    assert!((counts[0] as f64 / 40_000.0 - 4.0 / 7.0).abs() < 0.01, "{counts:?}");
}

#[test]
fn ties_rank_the_lower_id_first() {
    let flat = [1.0f32; 5];
    assert_eq!(histogram(&flat, &how(1.0, 1, 1.0), 500, 8), vec![500, 0, 0, 0, 0]);
    let two = histogram(&flat, &how(1.0, 2, 1.0), 2000, 9);
    assert!(two[0] > 0 && two[1] > 0 && two[2..].iter().all(|&c| c == 0), "{two:?}");
}

#[test]
fn settings_outside_their_range_are_input_errors() {
    for bad in [how(-1.0, 0, 1.0), how(f32::NAN, 0, 1.0), how(1.0, 0, 0.0), how(1.0, 0, 1.5), how(1.0, 0, f32::NAN)] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
    assert!(how(0.0, 3, 0.9).check().is_ok());
}

#[test]
fn generation_in_chunks_equals_one_call() {
    let cfg = ModelConfig {
        vocab_size: 17,
        embed_size: 8,
        hidden_size: 12,
        num_layers: 2,
        fast_mode: false,
        use_rwkv: true,
        num_experts: 3,
        top_k: 1,
        num_heads: 4,
    };
    let model = Model::new(cfg, 4).unwrap();
    let s = how(0.9, 5, 0.9);
    let whole = generate(&model, &[1, 2, 3], 40, &s, &mut ChaCha8Rng::seed_from_u64(11)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut g = Generation::start(&model, &[1, 2, 3]).unwrap();
    let mut chunks = Vec::new();
    for n in [1, 7, 0, 12, 20] {
        chunks.extend(g.next(&model, n, &s, &mut rng).unwrap());
    }
    assert_eq!(chunks, whole);
    assert!(Generation::start(&model, &[]).is_err(), "an empty prompt is an error, not a panic");
}
