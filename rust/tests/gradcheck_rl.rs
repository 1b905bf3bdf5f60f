//! The GRPO op (`engine/ops/rl.rs`) and the RL functions on a small model
//! (`rl/`): finite differences, the composition from primitive ops, the
//! objective's values and gradient direction, the KL estimator, prompt feeding.

mod common;

use common::{check_composition, check_gradients, rng, uniform, uniform_away};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnnpy_core::engine::ops::rl::{grpo_token, GrpoRows};
use rnnpy_core::engine::{Tape, Tensor, Var};
use rnnpy_core::nn::model::Batch;
use rnnpy_core::nn::{Model, ModelConfig};
use rnnpy_core::rl::{grpo_loss_and_grad, sample_groups, token_log_probs, GrpoBatch, GrpoConfig, SampleConfig};

const EPS: f32 = 0.2;

/// Rows with ρ = e^(logp − old) spread over all three clip regions (kept
/// away from the kinks at 1 ± ε), advantages of both signs, a few zero weights.
fn rows(m: usize, with_ref: bool) -> (Tensor, GrpoRows) {
    let old = uniform(&mut rng(1), m, 1, -3.0, -0.5);
    let kinks = [(1.0 - EPS).ln(), (1.0 + EPS).ln()];
    let delta = uniform_away(&mut rng(2), m, 1, -0.6, 0.6, &kinks, 0.03);
    let logp = Tensor::from_vec(m, 1, old.data.iter().zip(&delta.data).map(|(o, d)| o + d).collect());
    let adv = uniform_away(&mut rng(3), m, 1, -1.5, 1.5, &[0.0], 0.1).data;
    let weights = (0..m).map(|i| if i % 5 == 4 { 0.0 } else { 0.5 + (i % 3) as f32 * 0.25 }).collect();
    let reference = with_ref.then(|| uniform(&mut rng(4), m, 1, -3.0, -0.5).data);
    (logp, GrpoRows { old_log_probs: old.data, ref_log_probs: reference, advantages: adv, weights })
}

#[test]
fn grpo_loss_finite_differences() {
    for (name, with_ref, beta) in [("grpo", false, 0.0), ("grpo_kl", true, 0.3), ("grpo_kl_zero_beta", true, 0.0)] {
        let (logp, r) = rows(24, with_ref);
        check_gradients(name, &[logp], move |t, v| t.grpo_loss(v[0], r.clone(), EPS, beta));
    }
}

/// The same loss from primitives: for A > 0, min(ρA, clip(ρ)A) = A·min(ρ, 1+ε);
/// for A < 0 it is A·max(ρ, 1−ε); KL = e^x − x − 1 with x = ref − logp.
fn composed(t: &mut Tape, logp: Var, r: &GrpoRows, beta: f32) -> Var {
    let m = r.weights.len();
    let col = |t: &mut Tape, xs: Vec<f32>| t.constant(Tensor::from_vec(xs.len(), 1, xs));
    let old = col(t, r.old_log_probs.clone());
    let d = t.sub(logp, old);
    let rho = t.exp(d);
    let mut terms = Vec::new();
    for positive in [true, false] {
        let idx: Vec<usize> = (0..m).filter(|&i| (r.advantages[i] > 0.0) == positive).collect();
        let part = t.gather_rows(rho, idx.clone());
        let (lo, hi) = if positive { (-1e30, 1.0 + EPS) } else { (1.0 - EPS, 1e30) };
        let clipped = t.clamp(part, lo, hi);
        let coef = col(t, idx.iter().map(|&i| -r.advantages[i] * r.weights[i]).collect());
        let prod = t.mul(clipped, coef);
        let mean = t.mean_all(prod);
        terms.push(t.scale(mean, idx.len() as f32));
    }
    if let Some(reference) = &r.ref_log_probs {
        let rf = col(t, reference.clone());
        let x = t.sub(rf, logp);
        let ex = t.exp(x);
        let k = t.sub(ex, x);
        let k = t.add_const(k, -1.0);
        let w = col(t, r.weights.iter().map(|w| w * beta).collect());
        let wk = t.mul(k, w);
        let mean = t.mean_all(wk);
        terms.push(t.scale(mean, m as f32));
    }
    let mut total = terms[0];
    for &x in &terms[1..] {
        total = t.add(total, x);
    }
    total
}

#[test]
fn grpo_loss_matches_composition() {
    for (name, with_ref) in [("grpo_composed", false), ("grpo_kl_composed", true)] {
        let (logp, r) = rows(30, with_ref);
        let r2 = r.clone();
        check_composition(
            name,
            &[logp],
            move |t, v| t.grpo_loss(v[0], r.clone(), EPS, 0.25),
            move |t, v| composed(t, v[0], &r2, 0.25),
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn clipped_objective_values_and_gradient_direction() {
    let ln = f32::ln;
    // (logp − old, A) -> (loss, d loss / d logp)
    let cases = [
        (0.0, 1.0, -1.0, -1.0),     // ρ = 1: loss −A, descent raises logp
        (0.0, -1.0, 1.0, 1.0),      // negative advantage: descent lowers logp
        (ln(1.1), 2.0, -2.2, -2.2), // inside the clip range: unclipped
        (ln(1.5), 1.0, -1.2, 0.0),  // A > 0, ρ > 1+ε: clipped, no gradient
        (ln(0.5), 1.0, -0.5, -0.5), // A > 0, ρ < 1−ε: unclipped (pessimistic)
        (ln(0.5), -1.0, 0.8, 0.0),  // A < 0, ρ < 1−ε: clipped, no gradient
        (ln(1.5), -1.0, 1.5, 1.5),  // A < 0, ρ > 1+ε: unclipped (pessimistic)
        (0.3, 0.0, 0.0, 0.0),       // zero advantage: nothing
    ];
    for (d, adv, loss, grad) in cases {
        let (l, g) = grpo_token(-1.0 + d, -1.0, None, adv, EPS, 0.0);
        assert!(
            (l - loss).abs() < 1e-5 && (g - grad).abs() < 1e-5,
            "Δ={d} A={adv}: got ({l}, {g}), want ({loss}, {grad})"
        );
    }
}

#[test]
fn kl_estimator_is_nonnegative_and_zero_when_equal() {
    for &logp in &[-3.0f32, -1.0, -0.1] {
        let (l, g) = grpo_token(logp, logp, Some(logp), 0.0, EPS, 1.0);
        assert!(l.abs() < 1e-7 && g.abs() < 1e-7, "equal policies: KL {l}, gradient {g}");
        for &r in &[-4.0f32, -2.0, -0.5, -0.01] {
            let (kl, _) = grpo_token(logp, logp, Some(r), 0.0, EPS, 1.0);
            let x = (r - logp) as f64;
            assert!(kl >= 0.0 && ((kl as f64) - (x.exp() - x - 1.0)).abs() < 1e-5, "logp {logp}, ref {r}: KL {kl}");
        }
    }
    // β scales it, and its gradient pulls logp toward the reference.
    let (k1, g1) = grpo_token(-1.0, -1.0, Some(-2.0), 0.0, EPS, 1.0);
    let (k2, _) = grpo_token(-1.0, -1.0, Some(-2.0), 0.0, EPS, 0.5);
    assert!((k2 - 0.5 * k1).abs() < 1e-6 && g1 > 0.0);
}

fn tiny_model(seed: u64) -> Model {
    let cfg = ModelConfig {
        vocab_size: 7,
        embed_size: 8,
        hidden_size: 8,
        num_layers: 1,
        fast_mode: false,
        use_rwkv: true,
        num_experts: 2,
        top_k: 1,
        num_heads: 2,
    };
    Model::new(cfg, seed).unwrap()
}

fn sample_cfg(g: usize, temperature: f32) -> SampleConfig {
    SampleConfig { group_size: g, max_len: 6, stop_ids: vec![0], temperature }
}

#[test]
fn sampling_feeds_the_prompt_and_reports_policy_log_probs() {
    let model = tiny_model(3);
    let prompts = vec![vec![1, 2, 3], vec![4, 5, 6, 6]];
    let out = sample_groups(&model, &prompts, &sample_cfg(4, 1.0), &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    check_sampled_log_probs(&model, &prompts, &out, 1.0);
    // Deterministic by seed.
    let again = sample_groups(&model, &prompts, &sample_cfg(4, 1.0), &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    assert_eq!(out, again);
}

/// `log softmax(logits / τ)[token]`, straight from the model's logits in f64.
fn direct_log_prob(model: &Model, prefix: &[u32], token: u32, tau: f64) -> f64 {
    let logits = model.logits(Batch { tokens: prefix, b: 1, t: prefix.len() }).unwrap();
    let row: Vec<f64> = logits.row(prefix.len() - 1).iter().map(|&x| x as f64 / tau).collect();
    let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    row[token as usize] - m - row.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// The sampler's log-probs, `token_log_probs` at the same τ, and the direct
/// computation agree: the sampled distribution is the one the loss's ratio uses.
fn check_sampled_log_probs(model: &Model, prompts: &[Vec<u32>], out: &[rnnpy_core::rl::Completion], tau: f32) {
    let g = out.len() / prompts.len();
    for (i, c) in out.iter().enumerate() {
        let prompt = &prompts[i / g];
        assert!(!c.tokens.is_empty() && c.tokens.len() <= 6 && c.tokens.len() == c.log_probs.len());
        assert!(c.tokens[..c.tokens.len() - 1].iter().all(|&x| x != 0), "sampling continued past a stop id");
        // The log-probs are those of the whole sequence read from zero state:
        // the completion was sampled from the state after the prompt.
        let seq: Vec<u32> = prompt.iter().chain(&c.tokens).copied().collect();
        let lp = token_log_probs(model, &seq, 1, seq.len(), tau).unwrap();
        for (k, &l) in c.log_probs.iter().enumerate() {
            let want = lp.data[prompt.len() + k];
            assert!((l - want).abs() < 1e-4, "completion {i} token {k}: sampled log-prob {l}, recomputed {want}");
            let direct = direct_log_prob(model, &seq[..prompt.len() + k], seq[prompt.len() + k], tau as f64);
            assert!((l as f64 - direct).abs() < 1e-4, "completion {i} token {k}: {l}, directly {direct} at τ {tau}");
        }
    }
}

#[test]
fn log_probs_are_taken_at_the_sampling_temperature() {
    let model = tiny_model(3);
    let prompts = vec![vec![1, 2, 3], vec![4, 5, 6, 6]];
    for tau in [0.5f32, 1.7] {
        let out = sample_groups(&model, &prompts, &sample_cfg(4, tau), &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
        check_sampled_log_probs(&model, &prompts, &out, tau);
        // π_θ = π_old at the sampling temperature: every ratio is 1 (at τ = 1
        // instead of τ it would not be), so the update starts at the unclipped point.
        let seqs: Vec<Vec<u32>> =
            out.iter().enumerate().map(|(i, c)| [&prompts[i / 4][..], &c.tokens].concat()).collect();
        let t = seqs.iter().map(Vec::len).max().unwrap();
        let mut flat = vec![0u32; seqs.len() * t];
        let (mut mask, mut old) = (vec![0f32; flat.len()], vec![0f32; flat.len()]);
        for (i, (s, c)) in seqs.iter().zip(&out).enumerate() {
            flat[i * t..i * t + s.len()].copy_from_slice(s);
            let p = s.len() - c.tokens.len();
            for k in 0..c.tokens.len() {
                mask[i * t + p + k] = 1.0;
                old[i * t + p + k] = c.log_probs[k];
            }
        }
        let adv: Vec<f32> = (0..seqs.len()).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let b = GrpoBatch {
            sequences: &flat,
            n: seqs.len(),
            t,
            mask: &mask,
            old_log_probs: &old,
            ref_log_probs: None,
            advantages: &adv,
        };
        let at = |temperature| grpo_loss_and_grad(&model, b, GrpoConfig { clip: 0.2, kl_beta: 0.0, temperature });
        let (stats, _) = at(tau).unwrap();
        assert!((stats.mean_ratio - 1.0).abs() < 1e-4 && stats.clip_fraction == 0.0, "τ {tau}: {stats:?}");
        let (untempered, _) = at(1.0).unwrap();
        assert!((untempered.mean_ratio - 1.0).abs() > 1e-2, "τ {tau}: the ratio at τ = 1 should not be 1");
    }
}

#[test]
fn the_first_token_distribution_depends_on_the_prompt() {
    let model = tiny_model(5);
    let first = |prompt: Vec<u32>| {
        let out = sample_groups(
            &model,
            &[prompt],
            &SampleConfig { max_len: 1, ..sample_cfg(1, 0.0) },
            &mut ChaCha8Rng::seed_from_u64(0),
        )
        .unwrap();
        out[0].log_probs[0]
    };
    // The greedy first token's log-prob equals log-softmax of the logits after the prompt.
    let logits = model.logits(Batch { tokens: &[1, 2, 3], b: 1, t: 3 }).unwrap();
    let last = logits.row(2);
    let m = last.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let lse = m + last.iter().map(|&x| (x - m).exp()).sum::<f32>().ln();
    assert!((first(vec![1, 2, 3]) - (m - lse)).abs() < 1e-5);
    let other = model.logits(Batch { tokens: &[4, 5, 6], b: 1, t: 3 }).unwrap();
    let diff: f32 = last.iter().zip(other.row(2)).map(|(a, b)| (a - b).abs()).sum();
    assert!(diff > 1e-2, "logits after different prompts should differ");
}

/// The whole chain (model forward, token log-probs, GRPO op) against central
/// differences on a few parameter entries, in f64 accumulation, at τ = 1 and
/// at another temperature (the 1/τ of the logits' gradient).
#[test]
fn grpo_loss_and_grad_matches_finite_differences_on_parameters() {
    for tau in [1.0f32, 0.6] {
        grpo_finite_differences(tau);
    }
}

fn grpo_finite_differences(tau: f32) {
    let model = tiny_model(9);
    let (n, t) = (4, 6);
    let seqs: Vec<u32> = vec![1, 2, 3, 4, 0, 0, 2, 3, 5, 1, 6, 0, 4, 4, 1, 0, 0, 0, 5, 6, 2, 2, 3, 0];
    let mask: Vec<f32> = (0..n * t).map(|i| if i % t >= 2 && seqs[i] != 0 || i % t == 3 { 1.0 } else { 0.0 }).collect();
    let base = token_log_probs(&model, &seqs, n, t, tau).unwrap();
    // π_old slightly off π_θ so ratios differ from 1; a reference further off.
    let old: Vec<f32> = base.data.iter().enumerate().map(|(i, x)| x + 0.05 * ((i % 7) as f32 - 3.0)).collect();
    let reference: Vec<f32> = base.data.iter().enumerate().map(|(i, x)| x - 0.2 * ((i % 3) as f32)).collect();
    let adv = [1.0f32, -0.5, 0.7, -1.2];
    let cfg = GrpoConfig { clip: 0.2, kl_beta: 0.1, temperature: tau };
    let batch = |m: &Model| {
        let b = GrpoBatch {
            sequences: &seqs,
            n,
            t,
            mask: &mask,
            old_log_probs: &old,
            ref_log_probs: Some(&reference),
            advantages: &adv,
        };
        grpo_loss_and_grad(m, b, cfg).unwrap()
    };
    let (stats, grads) = batch(&model);
    assert!(stats.tokens > 0 && stats.kl > 0.0 && stats.mean_ratio > 0.0);
    let h = 1e-2f32;
    let mut checked = 0;
    for p in [0usize, 1, model.params().len() - 1] {
        for j in [0usize, 3, 7] {
            let mut plus = model.clone();
            plus.params_mut()[p].data[j] += h;
            let mut minus = model.clone();
            minus.params_mut()[p].data[j] -= h;
            let num = (batch(&plus).0.loss as f64 - batch(&minus).0.loss as f64) / (2.0 * h as f64);
            let ana = grads[p].data[j] as f64;
            assert!(
                (num - ana).abs() <= 0.03 * ana.abs() + 2e-4,
                "τ {tau}, param {p}[{j}]: analytic {ana:.6e}, numeric {num:.6e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}

#[test]
fn bad_batches_are_errors_not_panics() {
    let model = tiny_model(1);
    let seqs = [1u32, 2, 3, 4];
    let zeros = [0.0f32; 4];
    let cfg = GrpoConfig { clip: 0.2, kl_beta: 0.0, temperature: 1.0 };
    let b = |mask: &'static [f32], adv: &'static [f32]| GrpoBatch {
        sequences: &seqs,
        n: 2,
        t: 2,
        mask,
        old_log_probs: &zeros,
        ref_log_probs: None,
        advantages: adv,
    };
    for (mask, adv, msg) in [
        (&[0.0f32, 0.0, 0.0, 0.0][..], &[1.0f32, 1.0][..], "no completion tokens"),
        (&[1.0, 1.0, 0.0, 1.0][..], &[1.0, 1.0][..], "position 0"),
        (&[0.0, 1.0, 0.0, 1.0][..], &[1.0][..], "advantages"),
        (&[0.0, 0.5, 0.0, 1.0][..], &[1.0, 1.0][..], "0 or 1"),
    ] {
        let err = grpo_loss_and_grad(&model, b(mask, adv), cfg).expect_err(msg).to_string();
        assert!(err.contains(msg), "{err}");
    }
    assert!(token_log_probs(&model, &[1, 9], 1, 2, 1.0).is_err());
    assert!(token_log_probs(&model, &[1], 1, 1, 1.0).is_err());
    for tau in [0.0, -1.0, f32::NAN] {
        assert!(token_log_probs(&model, &[1, 2], 1, 2, tau).expect_err("τ").to_string().contains("temperature"));
        let cfg = GrpoConfig { temperature: tau, ..cfg };
        assert!(grpo_loss_and_grad(&model, b(&[0.0, 1.0, 0.0, 1.0], &[1.0, 1.0]), cfg).is_err());
    }
    assert!(sample_groups(&model, &[vec![]], &sample_cfg(2, 1.0), &mut ChaCha8Rng::seed_from_u64(0)).is_err());
}

/// The fused path's GRPO loss, statistics, gradients and token log-probs
/// equal the tape's (the reference, checked op by op against finite differences).
#[test]
fn fused_grpo_matches_the_tape() {
    use rnnpy_core::rl::{reference_grpo_loss_and_grad, reference_token_log_probs};
    let cfg_model = ModelConfig {
        hidden_size: 20,
        embed_size: 12,
        num_layers: 2,
        num_experts: 3,
        top_k: 2,
        ..tiny_model(0).config
    };
    let model = Model::new(cfg_model, 4).unwrap();
    let (n, t) = (19, 7); // three chunks of sequences
    let seqs: Vec<u32> = (0..n * t).map(|i| ((i * 7 + i / t) % 7) as u32).collect();
    let mask: Vec<f32> = (0..n * t).map(|i| if i % t >= 3 && (i / t) % 4 != 3 { 1.0 } else { 0.0 }).collect();
    for tau in [0.7f32, 1.6] {
        let tape = reference_token_log_probs(&model, &seqs, n, t, tau).unwrap();
        let fused = token_log_probs(&model, &seqs, n, t, tau).unwrap();
        let d = tape.data.iter().zip(&fused.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(d < 1e-5, "token log-probs at τ {tau} differ by {d}");
    }
    let base = reference_token_log_probs(&model, &seqs, n, t, 1.0).unwrap();
    let fused_lp = token_log_probs(&model, &seqs, n, t, 1.0).unwrap();
    let d = base.data.iter().zip(&fused_lp.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(d < 1e-5, "token log-probs differ by {d}");
    let old: Vec<f32> = base.data.iter().enumerate().map(|(i, x)| x + 0.04 * ((i % 5) as f32 - 2.0)).collect();
    let reference: Vec<f32> = base.data.iter().enumerate().map(|(i, x)| x - 0.1 * ((i % 3) as f32)).collect();
    let adv: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    for (with_ref, beta, temperature) in [(false, 0.0, 1.0), (true, 0.1, 1.0), (true, 0.1, 0.7)] {
        let b = GrpoBatch {
            sequences: &seqs,
            n,
            t,
            mask: &mask,
            old_log_probs: &old,
            ref_log_probs: with_ref.then_some(&reference[..]),
            advantages: &adv,
        };
        let cfg = GrpoConfig { clip: 0.2, kl_beta: beta, temperature };
        let (fs, fg) = grpo_loss_and_grad(&model, b, cfg).unwrap();
        let (ts, tg) = reference_grpo_loss_and_grad(&model, b, cfg).unwrap();
        assert_eq!((fs.tokens, fs.clip_fraction), (ts.tokens, ts.clip_fraction));
        for (a, b, what) in [(fs.loss, ts.loss, "loss"), (fs.mean_ratio, ts.mean_ratio, "ratio"), (fs.kl, ts.kl, "kl")]
        {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: fused {a}, tape {b}");
        }
        for (i, (f, r)) in fg.iter().zip(&tg).enumerate() {
            let scale = r.data.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let d = f.data.iter().zip(&r.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(d <= 1e-4 * scale + 1e-8, "{}: gradient differs by {d} (scale {scale})", model.specs[i].name);
        }
    }
}
