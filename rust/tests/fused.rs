//! The fused path against the tape (whose every op is checked against finite
//! differences): logits, loss and every parameter's gradient, over model
//! variants and batch shapes, on every instruction set the CPU has.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnnpy_core::engine::kernels::isa;
use rnnpy_core::fused::batch as fused;
use rnnpy_core::fused::weights::ModelWeights;
use rnnpy_core::nn::model::Batch;
use rnnpy_core::nn::{Model, ModelConfig};

#[allow(clippy::too_many_arguments)]
fn config(v: usize, e: usize, h: usize, l: usize, ne: usize, k: usize, fast: bool, rwkv: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: v,
        embed_size: e,
        hidden_size: h,
        num_layers: l,
        fast_mode: fast,
        use_rwkv: rwkv,
        num_experts: ne,
        top_k: k,
        num_heads: 4,
    }
}

/// The variants of the Python gradient tests, and larger widths that
/// exercise the kernels' edges (H not a multiple of 16, several panels).
fn variants() -> Vec<ModelConfig> {
    vec![
        config(11, 8, 12, 1, 4, 1, false, true),
        config(11, 8, 12, 1, 4, 1, false, false),
        config(11, 8, 12, 1, 4, 1, true, true),
        config(11, 12, 12, 2, 3, 2, false, true),
        config(9, 8, 16, 3, 2, 1, false, true),
        config(13, 20, 20, 2, 1, 1, false, true),
        config(13, 8, 20, 1, 4, 0, false, true),
        config(13, 8, 20, 2, 4, 5, false, true),
        config(29, 24, 36, 2, 4, 2, false, true),
        config(65, 16, 32, 1, 4, 1, false, true),
        config(40, 40, 52, 2, 3, 1, true, true),
    ]
}

/// A seeded model whose vectors are moved off their initial values (gains 1
/// and biases 0 would hide mistakes in their gradients).
fn model(cfg: ModelConfig, seed: u64) -> Model {
    let mut m = Model::new(cfg, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for p in m.params_mut() {
        if p.rows == 1 {
            p.data.iter_mut().for_each(|x| *x += rng.gen_range(-0.3..0.3));
        }
    }
    m
}

fn tokens(rng: &mut ChaCha8Rng, n: usize, v: usize) -> Vec<u32> {
    (0..n).map(|_| rng.gen_range(0..v as u32)).collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check_against_tape(cfg: &ModelConfig, seed: u64, b: usize, t: usize) {
    let m = model(cfg.clone(), seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    let (x, y) = (tokens(&mut rng, b * t, cfg.vocab_size), tokens(&mut rng, b * t, cfg.vocab_size));
    let want = m.reference_logits(Batch { tokens: &x, b, t }).unwrap();
    let got = fused::logits(&m, &x, b, t);
    let scale = want.data.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1.0);
    let d = max_abs(&got, &want.data);
    assert!(d <= 2e-5 * scale, "{cfg:?} B{b} T{t}: logits differ by {d} (scale {scale})");

    let (tape_loss, tape_grads) = m.reference_loss_and_grad(Batch { tokens: &x, b, t }, &y, true).unwrap();
    let mut w = ModelWeights::default();
    w.pack(m.params(), m.index(), cfg.effective_top_k() > 0 && !cfg.fast_mode, true);
    let (mut ws, mut grad) = (Vec::new(), Vec::new());
    let loss = fused::loss_and_grad(&m, &w, &x, &y, b, t, 1.0, None, &mut ws, &mut grad);
    assert!((loss - tape_loss).abs() <= 1e-5 * tape_loss.abs().max(1.0), "{cfg:?}: loss {loss} vs {tape_loss}");
    for (i, (spec, tg)) in m.specs.iter().zip(tape_grads.unwrap()).enumerate() {
        let fg = &grad[m.offsets[i]..m.offsets[i + 1]];
        let scale = tg.data.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = max_abs(fg, &tg.data);
        assert!(
            d <= 1e-4 * scale + 1e-7,
            "{cfg:?} B{b} T{t}: gradient of {} differs by {d} (scale {scale})",
            spec.name
        );
    }
}

#[test]
fn fused_path_matches_the_tape_on_every_variant_and_instruction_set() {
    for chosen in isa::supported() {
        isa::set(chosen);
        for (i, cfg) in variants().iter().enumerate() {
            for (b, t) in [(1, 1), (3, 5), (17, 4)] {
                check_against_tape(cfg, i as u64, b, t);
            }
        }
    }
    isa::set(isa::best());
}

/// The fused path's loss, gradient, logits and inference loss for one routed-MoE model.
fn fused_run(cfg: &ModelConfig, b: usize, t: usize) -> (f32, Vec<f32>, Vec<f32>, f32) {
    let m = model(cfg.clone(), 7);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (x, y) = (tokens(&mut rng, b * t, cfg.vocab_size), tokens(&mut rng, b * t, cfg.vocab_size));
    let mut w = ModelWeights::default();
    w.pack(m.params(), m.index(), true, true);
    let (mut ws, mut grad) = (Vec::new(), Vec::new());
    let loss = fused::loss_and_grad(&m, &w, &x, &y, b, t, 1.0, None, &mut ws, &mut grad);
    let (inference_loss, _) = m.loss_and_grad(Batch { tokens: &x, b, t }, &y, false).unwrap();
    (loss, grad, fused::logits(&m, &x, b, t), inference_loss)
}

#[test]
fn same_bits_on_every_instruction_set_and_thread_count() {
    let cfg = config(29, 24, 36, 2, 4, 2, false, true);
    let (b, t) = (17, 6); // two chunks
    let mut runs = Vec::new();
    for chosen in isa::supported() {
        isa::set(chosen);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            runs.push((chosen, threads, pool.install(|| fused_run(&cfg, b, t))));
        }
    }
    isa::set(isa::best());
    let (_, _, first) = &runs[0];
    for (chosen, threads, run) in &runs[1..] {
        assert!(run == first, "{chosen:?} at {threads} threads gives other bits");
    }
}

#[test]
fn stepping_token_by_token_gives_the_same_logits_and_state_as_the_whole_sequence() {
    use rnnpy_core::generate::{step, RecurrentState};
    for cfg in [config(29, 24, 36, 2, 4, 2, false, true), config(13, 8, 20, 1, 4, 0, false, false)] {
        let m = model(cfg.clone(), 3);
        let (b, t) = (3, 9);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x = tokens(&mut rng, b * t, cfg.vocab_size);
        let whole = fused::logits(&m, &x, b, t);
        let mut state = RecurrentState::zeros(&m, b);
        let v = cfg.vocab_size;
        for ti in 0..t {
            let col: Vec<u32> = (0..b).map(|bi| x[bi * t + ti]).collect();
            let lg = step(&m, &mut state, &col).unwrap();
            for bi in 0..b {
                assert_eq!(lg.row(bi), &whole[(bi * t + ti) * v..(bi * t + ti + 1) * v], "{cfg:?} step {ti} row {bi}");
            }
        }
        // The state carried: stepping on from it equals the tape fed the whole sequence.
        let next: Vec<u32> = (0..b as u32).collect();
        let lg = step(&m, &mut state, &next).unwrap();
        let longer: Vec<u32> =
            (0..b).flat_map(|bi| x[bi * t..(bi + 1) * t].iter().copied().chain([bi as u32])).collect();
        let want = m.reference_logits(Batch { tokens: &longer, b, t: t + 1 }).unwrap();
        for bi in 0..b {
            let d = max_abs(lg.row(bi), want.row(bi * (t + 1) + t));
            assert!(d < 1e-4, "{cfg:?}: carried state differs from the tape by {d}");
        }
    }
}

#[test]
fn a_text_read_in_windows_with_the_state_carried_has_the_loss_of_the_whole_text() {
    use rnnpy_core::generate::RecurrentState;
    let cfg = config(29, 24, 36, 2, 4, 2, false, true);
    let m = model(cfg.clone(), 5);
    let (b, t1, t2) = (3, 7, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (x, y) = (tokens(&mut rng, b * (t1 + t2), 29), tokens(&mut rng, b * (t1 + t2), 29));
    let t = t1 + t2;
    let cut = |v: &[u32], from: usize, len: usize| -> Vec<u32> {
        (0..b).flat_map(|bi| v[bi * t + from..bi * t + from + len].iter().copied()).collect()
    };
    let (whole, _) = m.loss_and_grad(Batch { tokens: &x, b, t }, &y, false).unwrap();
    let mut state = RecurrentState::zeros(&m, b);
    let l1 = m.loss_from(Batch { tokens: &cut(&x, 0, t1), b, t: t1 }, &cut(&y, 0, t1), &mut state).unwrap();
    let l2 = m.loss_from(Batch { tokens: &cut(&x, t1, t2), b, t: t2 }, &cut(&y, t1, t2), &mut state).unwrap();
    let windows = (l1 * t1 as f32 + l2 * t2 as f32) / t as f32;
    assert!((windows - whole).abs() < 1e-5, "{windows} vs {whole}");
    // A state of the wrong batch size is an error, not a panic.
    let mut wrong = RecurrentState::zeros(&m, b + 1);
    assert!(m.loss_from(Batch { tokens: &cut(&x, 0, t1), b, t: t1 }, &cut(&y, 0, t1), &mut wrong).is_err());
}

#[test]
fn a_gradient_applied_from_a_flat_buffer_is_a_training_step_and_shards_add_up() {
    use rnnpy_core::train::Trainer;
    let cfg = config(29, 24, 36, 2, 4, 2, false, true);
    let (b, t) = (8, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (x, y) = (tokens(&mut rng, b * t, 29), tokens(&mut rng, b * t, 29));
    let mut stepped = model(cfg.clone(), 1);
    let mut applied = stepped.clone();
    let mut t1 = Trainer::new(&stepped, 1e-2, 0.01, 1.0);
    let mut t2 = Trainer::new(&applied, 1e-2, 0.01, 1.0);
    let s = t1.step(&mut stepped, Batch { tokens: &x, b, t }, &y).unwrap();
    let mut g = vec![0.0; applied.num_params()];
    let loss = t2.gradient(&applied, Batch { tokens: &x, b, t }, &y, 1.0, None, &mut g).unwrap();
    let norm = t2.apply_flat(&mut applied, &mut g).unwrap();
    assert_eq!((loss, norm), (s.loss, s.grad_norm));
    assert!(stepped.params() == applied.params());
    // Two shards of half the rows, each scaled by its share, sum to the whole batch.
    let m = model(cfg, 2);
    let mut tr = Trainer::new(&m, 1e-2, 0.01, 1.0);
    let mut whole = vec![0.0; m.num_params()];
    let lw = tr.gradient(&m, Batch { tokens: &x, b, t }, &y, 1.0, None, &mut whole).unwrap();
    let (mut sum, mut part, mut lsum) = (vec![0.0f32; m.num_params()], vec![0.0; m.num_params()], 0.0);
    for half in [0..b / 2, b / 2..b] {
        let r = half.start * t..half.end * t;
        lsum += tr.gradient(&m, Batch { tokens: &x[r.clone()], b: b / 2, t }, &y[r], 0.5, None, &mut part).unwrap();
        sum.iter_mut().zip(&part).for_each(|(a, p)| *a += p);
    }
    assert!((lsum - lw).abs() < 1e-5, "{lsum} vs {lw}");
    let scale = whole.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    assert!(max_abs(&sum, &whole) <= 1e-5 * scale, "shards differ by {}", max_abs(&sum, &whole));
    let mut short = vec![0.0; 3];
    assert!(tr.gradient(&m, Batch { tokens: &x, b, t }, &y, 1.0, None, &mut short).is_err());
}
