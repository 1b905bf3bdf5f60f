//! Training-time dropout on the fused path (`fused/dropout.rs`): its
//! gradient against finite differences of its own loss (the masks fixed by
//! the seed), the same bits for any thread count and any split of the batch
//! into shards, nothing dropped at rate 0, and evaluation never dropped.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnnpy_core::fused::dropout::{step_seed, DropoutRows};
use rnnpy_core::nn::model::Batch;
use rnnpy_core::nn::{Model, ModelConfig};
use rnnpy_core::train::Trainer;

fn config(layers: usize, fast: bool, rwkv: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 13,
        embed_size: 8,
        hidden_size: 12,
        num_layers: layers,
        fast_mode: fast,
        use_rwkv: rwkv,
        num_experts: 3,
        top_k: 1,
        num_heads: 4,
    }
}

fn data(seed: u64, b: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || (0..b * t).map(|_| rng.gen_range(0..13u32)).collect::<Vec<_>>();
    (draw(), draw())
}

fn dropout(rate: f32) -> Option<DropoutRows> {
    Some(DropoutRows { rate, seed: step_seed(3, 17), first_seq: 0 })
}

/// The loss under `d` and the flat gradient.
fn loss_grad(m: &Model, x: &[u32], y: &[u32], b: usize, t: usize, d: Option<DropoutRows>) -> (f32, Vec<f32>) {
    let (loss, grads) = m.loss_and_grad_dropped(Batch { tokens: x, b, t }, y, d).unwrap();
    (loss, grads.iter().flat_map(|g| g.data.iter().copied()).collect())
}

/// For each parameter tensor, the derivative along a random direction
/// inside it (central differences, in f64 from the f32 losses) against the
/// analytic gradient's projection on that direction.
#[test]
fn the_gradient_with_dropout_matches_finite_differences_for_every_tensor() {
    for (layers, fast, rwkv) in [(2, false, true), (3, true, false), (1, false, true)] {
        let (b, t) = (3, 5);
        let m = Model::new(config(layers, fast, rwkv), 5).unwrap();
        let (x, y) = data(7, b, t);
        let d = dropout(0.3);
        let (_, g) = loss_grad(&m, &x, &y, b, t, d);
        assert_ne!(loss_grad(&m, &x, &y, b, t, d).0, loss_grad(&m, &x, &y, b, t, None).0, "dropout changes the loss");
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut offset = 0;
        for (pi, p) in m.params().iter().enumerate() {
            let n = p.data.len();
            let dir: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let analytic: f64 = dir.iter().zip(&g[offset..offset + n]).map(|(&a, &b)| a as f64 * b as f64).sum();
            let eps = 1e-3f32;
            let at = |sign: f32| {
                let mut q = m.clone();
                q.params_mut()[pi].data.iter_mut().zip(&dir).for_each(|(v, &u)| *v += sign * eps * u);
                loss_grad(&q, &x, &y, b, t, d).0 as f64
            };
            let numeric = (at(1.0) - at(-1.0)) / (2.0 * eps as f64);
            let tol = 2e-2 * analytic.abs().max(numeric.abs()) + 2e-3;
            assert!(
                (analytic - numeric).abs() <= tol,
                "L{layers} fast {fast} rwkv {rwkv} parameter {pi}: analytic {analytic}, numeric {numeric}"
            );
            offset += n;
        }
    }
}

#[test]
fn rate_zero_is_no_dropout_and_evaluation_never_drops() {
    let m = Model::new(config(2, false, true), 1).unwrap();
    let (b, t) = (4, 6);
    let (x, y) = data(2, b, t);
    let (l0, g0) = loss_grad(&m, &x, &y, b, t, None);
    let (lz, gz) = loss_grad(&m, &x, &y, b, t, dropout(0.0));
    assert_eq!(
        (l0.to_bits(), g0.iter().map(|v| v.to_bits()).collect::<Vec<_>>()),
        (lz.to_bits(), gz.iter().map(|v| v.to_bits()).collect())
    );
    // A trainer with dropout leaves the model's own loss (evaluation) alone.
    let (eval, _) = m.loss_and_grad(Batch { tokens: &x, b, t }, &y, false).unwrap();
    assert_eq!(eval.to_bits(), l0.to_bits());
}

/// Steps of a trainer with dropout: the same bits in a pool of 1 and of 3
/// threads, and masks that change from step to step (the optimizer's count).
#[test]
fn dropout_steps_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut m = Model::new(config(2, false, true), 9).unwrap();
            let mut tr = Trainer::new(&m, 1e-2, 0.01, 1.0);
            (tr.dropout, tr.dropout_seed) = (0.25, 4);
            let (b, t) = (40, 7); // several data-parallel chunks
            let (x, y) = data(3, b, t);
            let losses: Vec<u32> =
                (0..3).map(|_| tr.step(&mut m, Batch { tokens: &x, b, t }, &y).unwrap().loss.to_bits()).collect();
            (losses, m.params().iter().flat_map(|p| p.data.iter().map(|v| v.to_bits())).collect::<Vec<_>>())
        })
    };
    let (one, three) = (run(1), run(3));
    assert_eq!(one, three);
    assert_ne!(one.0[0], one.0[1], "each step draws new masks");
}

/// A data-parallel rank's share (its rows, `first_seq`, its scale) drops
/// what the whole batch drops there: the shards' gradients add up to it.
#[test]
fn shards_with_dropout_add_up_to_the_whole_batch() {
    let m = Model::new(config(2, false, true), 4).unwrap();
    let mut tr = Trainer::new(&m, 1e-2, 0.01, 1.0);
    (tr.dropout, tr.dropout_seed) = (0.4, 8);
    let (b, t) = (6, 5);
    let (x, y) = data(5, b, t);
    let mut whole = vec![0.0; m.num_params()];
    let lw = tr.gradient(&m, Batch { tokens: &x, b, t }, &y, 1.0, None, 0, &mut whole).unwrap();
    let (mut sum, mut part, mut lsum) = (vec![0.0f32; m.num_params()], vec![0.0; m.num_params()], 0.0);
    for rows in [0..2, 2..6] {
        let r = rows.start * t..rows.end * t;
        let share = rows.len() as f32 / b as f32;
        let batch = Batch { tokens: &x[r.clone()], b: rows.len(), t };
        lsum += tr.gradient(&m, batch, &y[r], share, None, rows.start, &mut part).unwrap();
        sum.iter_mut().zip(&part).for_each(|(a, p)| *a += p);
    }
    let scale = whole.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let diff = sum.iter().zip(&whole).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!((lsum - lw).abs() < 1e-5, "{lsum} vs {lw}");
    assert!(diff <= 1e-5 * scale, "shards differ by {diff}");
    // Without first_seq the second shard would draw the first rows' masks.
    let r = 2 * t..6 * t;
    let wrong =
        tr.gradient(&m, Batch { tokens: &x[r.clone()], b: 4, t }, &y[r], 4.0 / 6.0, None, 0, &mut part).unwrap();
    let right = lsum
        - tr.gradient(&m, Batch { tokens: &x[..2 * t], b: 2, t }, &y[..2 * t], 2.0 / 6.0, None, 0, &mut part).unwrap();
    assert_ne!(wrong.to_bits(), right.to_bits());
}
