//! The fused path's GEMM kernels against a float64 reference, on every
//! instruction set the CPU has, and bit-for-bit across them. One test
//! function: the instruction set is a process-wide switch.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnnpy_core::engine::gemm::MatRef;
use rnnpy_core::engine::kernels::{isa, matmul, matmul_packed, Packed};

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `a @ b` in f64 for views with any strides.
fn reference(a: &MatRef, b: &MatRef) -> Vec<f64> {
    let mut c = vec![0.0; a.rows * b.cols];
    for i in 0..a.rows {
        for j in 0..b.cols {
            c[i * b.cols + j] = (0..a.cols)
                .map(|p| {
                    a.data[i * a.row_stride + p * a.col_stride] as f64
                        * b.data[p * b.row_stride + j * b.col_stride] as f64
                })
                .sum();
        }
    }
    c
}

/// Every product of one shape: packed (row-major and transposed a; b whole
/// and as two concatenated parts) and in place, stored and accumulated.
fn products(m: usize, k: usize, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (a_rm, a_t, b) = (random(&mut rng, m * k), random(&mut rng, k * m), random(&mut rng, k * n));
    let init = random(&mut rng, m * (n + 3));
    let views = [MatRef::new(&a_rm, m, k), MatRef::transposed(&a_t, k, m)];
    let bv = MatRef::new(&b, k, n);
    let split = n / 3;
    let left = MatRef { data: &b, rows: k, cols: split, row_stride: n, col_stride: 1 };
    let right = MatRef { data: &b[split.min(b.len())..], rows: k, cols: n - split, row_stride: n, col_stride: 1 };
    let packed = [Packed::from_parts(&[bv]), Packed::from_parts(&[left, right])];
    let mut outs = Vec::new();
    for a in &views {
        let want = reference(a, &bv);
        let tol = 1e-5 * (k as f64).sqrt().max(1.0);
        for accumulate in [false, true] {
            let ldc = n + 3; // the output is a column block of a wider matrix
            let mut results = Vec::new();
            for p in &packed {
                let mut c = init.clone();
                matmul_packed(*a, p, &mut c, ldc, accumulate);
                results.push(c);
            }
            let mut c = init.clone();
            matmul(*a, bv, &mut c, ldc, accumulate);
            results.push(c);
            for c in results {
                for i in 0..m {
                    for j in 0..ldc {
                        let got = c[i * ldc + j] as f64;
                        if j >= n {
                            assert_eq!(got, init[i * ldc + j] as f64, "column {j} past the output was written");
                            continue;
                        }
                        let base = if accumulate { init[i * ldc + j] as f64 } else { 0.0 };
                        let w = want[i * n + j] + base;
                        assert!((got - w).abs() <= tol, "[{m}x{k}x{n}] c[{i},{j}] = {got}, want {w}");
                    }
                }
                outs.push(c);
            }
        }
    }
    outs
}

#[test]
fn products_match_float64_on_every_instruction_set_and_agree_bitwise() {
    let shapes = [
        (1, 1, 1),
        (1, 37, 70),
        (1, 256, 1027),
        (3, 5, 7),
        (4, 32, 64),
        (6, 17, 16),
        (7, 33, 17),
        (16, 64, 48),
        (17, 31, 33),
        (33, 65, 50),
        (40, 3, 129),
        (20, 512, 40),
        (17, 1024, 20),
        (100, 40, 37),
        (70, 512, 20),
        (5, 0, 9),
    ];
    let mut by_isa = Vec::new();
    for chosen in isa::supported() {
        assert_eq!(isa::set(chosen), chosen);
        let all: Vec<_> = shapes.iter().enumerate().map(|(s, &(m, k, n))| products(m, k, n, s as u64)).collect();
        by_isa.push((chosen, all));
    }
    isa::set(isa::best());
    let (first, base) = &by_isa[0];
    for (other, results) in &by_isa[1..] {
        assert!(results == base, "{other:?} and {first:?} give different bits");
    }
}

#[test]
fn stacked_transposes_pack_the_transpose_of_a_concatenation() {
    // [A | B]ᵀ packed as Aᵀ over Bᵀ, against the explicit transpose.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (k, na, nb, m) = (21, 13, 22, 5);
    let (a, b) = (random(&mut rng, k * na), random(&mut rng, k * nb));
    let mut t = vec![0.0; (na + nb) * k]; // [na + nb, k]
    for p in 0..k {
        for j in 0..na {
            t[j * k + p] = a[p * na + j];
        }
        for j in 0..nb {
            t[(na + j) * k + p] = b[p * nb + j];
        }
    }
    let mut stacked = Packed::default();
    stacked.pack_stacked(&[MatRef::transposed(&a, k, na), MatRef::transposed(&b, k, nb)]);
    let explicit = Packed::from_parts(&[MatRef::new(&t, na + nb, k)]);
    let x = random(&mut rng, m * (na + nb));
    let (mut c1, mut c2) = (vec![0.0; m * k], vec![0.0; m * k]);
    matmul_packed(MatRef::new(&x, m, na + nb), &stacked, &mut c1, k, false);
    matmul_packed(MatRef::new(&x, m, na + nb), &explicit, &mut c2, k, false);
    assert_eq!(c1, c2);
    assert_eq!((stacked.k(), stacked.n()), (na + nb, k));
}
