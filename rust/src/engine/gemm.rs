//! Matrix products through `matrixmultiply`, split over rayon threads when
//! large. Each output element is always computed by the same sequential loop
//! over the inner dimension, so the result does not depend on the thread count.

use rayon::prelude::*;

/// Below this many multiply-adds one thread is faster than splitting.
const PARALLEL_MIN_FLOPS: usize = 1 << 23;

/// A read-only matrix view with arbitrary strides (a transpose is a stride swap).
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major `[rows, cols]`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a row-major `[rows, cols]` matrix: `[cols, rows]`.
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows: cols, cols: rows, row_stride: 1, col_stride: cols }
    }

    fn sub_rows(&self, start: usize, len: usize) -> MatRef<'a> {
        let off = start * self.row_stride;
        MatRef { data: &self.data[off..], rows: len, ..*self }
    }

    fn sub_cols(&self, start: usize, len: usize) -> MatRef<'a> {
        let off = start * self.col_stride;
        MatRef { data: &self.data[off..], cols: len, ..*self }
    }
}

/// `c = beta * c + a @ b` with `c` row-major `[a.rows, b.cols]` (beta is 0 or 1).
pub fn gemm(a: MatRef, b: MatRef, c: &mut [f32], beta: f32) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm: inner dimensions {k} and {} differ", b.rows);
    assert_eq!(c.len(), m * n, "gemm: output has {} values, needs {}", c.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        }
        return;
    }
    if m == 1 && b.col_stride == 1 {
        gemv_row(a, b, c, beta);
        return;
    }
    let threads = rayon::current_num_threads();
    if threads <= 1 || m * k * n < PARALLEL_MIN_FLOPS {
        gemm_serial(a, b, c, n, beta);
    } else if m >= 2 * threads * 4 {
        // Split rows of the output: contiguous chunks of c.
        let chunk = m.div_ceil(threads * 2);
        c.par_chunks_mut(chunk * n).enumerate().for_each(|(i, c_part)| {
            let rows = c_part.len() / n;
            gemm_serial(a.sub_rows(i * chunk, rows), b, c_part, n, beta);
        });
    } else {
        // Few rows (a recurrent step): split columns; each part writes a strided block.
        let parts = threads.min(n.div_ceil(16)).max(1);
        let chunk = n.div_ceil(parts);
        let c_ptr = SendPtr(c.as_mut_ptr());
        (0..parts).into_par_iter().for_each(|p| {
            let start = p * chunk;
            if start >= n {
                return;
            }
            let len = chunk.min(n - start);
            let bp = b.sub_cols(start, len);
            // SAFETY: parts write disjoint column ranges of c.
            unsafe {
                raw_gemm(a, bp, c_ptr.get().add(start), n, beta);
            }
        });
    }
}

/// One row times a row-major matrix (a single sequence's step, as in
/// generation): `c = beta·c + Σ_k a[k]·b[k, :]`, streaming each row of `b`
/// once. matrixmultiply would pack all of `b` for one row of output.
fn gemv_row(a: MatRef, b: MatRef, c: &mut [f32], beta: f32) {
    if beta == 0.0 {
        c.fill(0.0);
    }
    let n = b.cols;
    for p in 0..a.cols {
        let av = a.data[p * a.col_stride];
        let row = &b.data[p * b.row_stride..p * b.row_stride + n];
        for (ci, &bv) in c.iter_mut().zip(row) {
            *ci += av * bv;
        }
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn gemm_serial(a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, beta: f32) {
    assert!(c.len() >= a.rows * ldc);
    // SAFETY: c holds a.rows rows of ldc values.
    unsafe { raw_gemm(a, b, c.as_mut_ptr(), ldc, beta) }
}

/// # Safety
/// `c` must be valid for `a.rows` rows of stride `ldc` and `b.cols` columns,
/// and `a`, `b` must be in bounds for their strides (checked by the views).
unsafe fn raw_gemm(a: MatRef, b: MatRef, c: *mut f32, ldc: usize, beta: f32) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    debug_assert!(m == 0 || k == 0 || (m - 1) * a.row_stride + (k - 1) * a.col_stride < a.data.len());
    debug_assert!(k == 0 || n == 0 || (k - 1) * b.row_stride + (n - 1) * b.col_stride < b.data.len());
    matrixmultiply::sgemm(
        m,
        k,
        n,
        1.0,
        a.data.as_ptr(),
        a.row_stride as isize,
        a.col_stride as isize,
        b.data.as_ptr(),
        b.row_stride as isize,
        b.col_stride as isize,
        beta,
        c,
        ldc as isize,
        1,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matches_naive_and_is_thread_count_independent() {
        for &(m, k, n) in &[(3, 5, 7), (200, 64, 96), (8, 256, 512), (1, 1, 1)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 11 % 13) as f32 - 6.0) * 0.1).collect();
            let mut c = vec![0.0; m * n];
            gemm(MatRef::new(&a, m, k), MatRef::new(&b, k, n), &mut c, 0.0);
            let want = naive(&a, &b, m, k, n);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-3, "{x} vs {y}");
            }
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let mut c1 = vec![0.0; m * n];
            one.install(|| gemm(MatRef::new(&a, m, k), MatRef::new(&b, k, n), &mut c1, 0.0));
            let two = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
            let mut c3 = vec![0.0; m * n];
            two.install(|| gemm(MatRef::new(&a, m, k), MatRef::new(&b, k, n), &mut c3, 0.0));
            assert_eq!(c1, c3, "results depend on the thread count for {m}x{k}x{n}");
            assert_eq!(c, c1);
        }
    }

    #[test]
    fn single_rows_take_the_gemv_path_and_agree() {
        let (k, n) = (37, 53);
        let a: Vec<f32> = (0..k).map(|i| (i as f32 * 0.3).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.7).cos()).collect();
        let mut c = vec![1.0; n];
        gemm(MatRef::new(&a, 1, k), MatRef::new(&b, k, n), &mut c, 1.0);
        let want = naive(&a, &b, 1, k, n);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 1.0 - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    #[test]
    fn transposed_views() {
        // a^T @ b where a is [k, m] row-major.
        let (m, k, n) = (4, 3, 2);
        let a_km: Vec<f32> = (0..k * m).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32) * 0.5).collect();
        let mut a_mk = vec![0.0; m * k];
        for i in 0..k {
            for j in 0..m {
                a_mk[j * k + i] = a_km[i * m + j];
            }
        }
        let mut c = vec![0.0; m * n];
        gemm(MatRef::transposed(&a_km, k, m), MatRef::new(&b, k, n), &mut c, 0.0);
        assert_eq!(c, naive(&a_mk, &b, m, k, n));
    }
}
