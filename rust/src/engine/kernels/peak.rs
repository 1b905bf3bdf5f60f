//! The GEMM kernel's own rate on a square product, for the benchmarks'
//! "fraction of peak" (against the best of this, numpy's BLAS and torch).

use std::time::Instant;

use super::gemm::{matmul_packed, Packed};
use crate::engine::gemm::MatRef;
use rayon::prelude::*;

/// Inner-dimension block: a 16-row tile of `a` and a panel of `b` (16 KB
/// each) stay in L1, one block of `b` (256 × n) in L2.
const KC: usize = 256;

/// GFLOP/s of `[n, n] @ [n, n]`, best of `repeats`: `b` packed beforehand
/// (as the fused path's weights are) in blocks of `KC` rows, the product
/// accumulated block by block; row blocks split over the rayon threads.
pub fn sgemm_gflops(n: usize, repeats: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.01).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i * 11 % 13) as f32 - 6.0) * 0.01).collect();
    let blocks: Vec<Packed> =
        (0..n).step_by(KC).map(|k0| Packed::from_parts(&[MatRef::new(&b[k0 * n..], KC.min(n - k0), n)])).collect();
    let mut c = vec![0.0f32; n * n];
    let rows = n.div_ceil(rayon::current_num_threads()).div_ceil(16) * 16;
    let mut run = || {
        c.par_chunks_mut(rows * n).enumerate().for_each(|(i, part)| {
            let m = part.len() / n;
            for (j, block) in blocks.iter().enumerate() {
                let a = MatRef {
                    data: &a[i * rows * n + j * KC..],
                    rows: m,
                    cols: block.k(),
                    row_stride: n,
                    col_stride: 1,
                };
                matmul_packed(a, block, part, n, j > 0);
            }
        })
    };
    run();
    let mut best = f64::MAX;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        run();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}
