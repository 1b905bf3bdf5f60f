//! Matrix products on the micro-kernels, for the fused path.
//!
//! Weights are packed once per training step (or once per model for
//! generation) into [`Packed`] panels of 16 columns, `K × 16` floats each, so
//! that every per-step product of a recurrence streams them contiguously
//! instead of repacking them for 16 rows at a time. The other operand is read
//! in place through its strides. Nothing here splits work across threads:
//! callers run independent chunks in parallel, so each product is one thread
//! and the result never depends on the thread count.

use super::isa;
use super::microkernel::{self, Tile, NR};
use crate::engine::gemm::MatRef;

/// A `[k, n]` matrix as `ceil(n / 16)` panels of `k × 16` (zero-padded).
#[derive(Clone, Debug, Default)]
pub struct Packed {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Packed {
    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Packs the column-wise concatenation `[p_0 | p_1 | …]` of `[k, n_i]`
    /// views (any strides: a transposed view packs `Wᵀ`), reusing the buffer.
    pub fn pack(&mut self, parts: &[MatRef]) {
        let k = parts[0].rows;
        assert!(parts.iter().all(|p| p.rows == k), "Packed::pack: parts differ in rows");
        self.reset(k, parts.iter().map(|p| p.cols).sum());
        let mut col = 0;
        for part in parts {
            self.copy_in(part, 0, col);
            col += part.cols;
        }
    }

    /// Packs the row-wise concatenation of `[k_i, n]` views, top to bottom:
    /// the transpose of `[A | B]` is `Aᵀ` stacked over `Bᵀ`.
    pub fn pack_stacked(&mut self, parts: &[MatRef]) {
        let n = parts[0].cols;
        assert!(parts.iter().all(|p| p.cols == n), "Packed::pack_stacked: parts differ in columns");
        self.reset(parts.iter().map(|p| p.rows).sum(), n);
        let mut row = 0;
        for part in parts {
            self.copy_in(part, row, 0);
            row += part.rows;
        }
    }

    fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(n.div_ceil(NR) * k * NR, 0.0);
    }

    /// Copies `v` to rows `row0..`, columns `col0..` of the packed matrix,
    /// walking the source along its contiguous dimension.
    fn copy_in(&mut self, v: &MatRef, row0: usize, col0: usize) {
        let k = self.k;
        if v.col_stride == 1 {
            // Each row in runs of at most 16 columns, one contiguous copy per panel.
            for p in 0..v.rows {
                let src = &v.data[p * v.row_stride..p * v.row_stride + v.cols];
                let mut j = 0;
                while j < v.cols {
                    let (col, lane) = (col0 + j, (col0 + j) % NR);
                    let take = (NR - lane).min(v.cols - j);
                    let at = (col / NR) * k * NR + (row0 + p) * NR + lane;
                    self.data[at..at + take].copy_from_slice(&src[j..j + take]);
                    j += take;
                }
            }
        } else {
            // A transposed view: column j of `v` is contiguous in memory.
            for j in 0..v.cols {
                let col = col0 + j;
                let base = (col / NR) * k * NR + row0 * NR + col % NR;
                for p in 0..v.rows {
                    self.data[base + p * NR] = v.data[p * v.row_stride + j * v.col_stride];
                }
            }
        }
    }

    pub fn from_parts(parts: &[MatRef]) -> Self {
        let mut p = Packed::default();
        p.pack(parts);
        p
    }

    fn panel(&self, i: usize) -> &[f32] {
        &self.data[i * self.k * NR..(i + 1) * self.k * NR]
    }

    /// The block a sweep of `matmul_packed` reads after rows `k0..k0 + KC`
    /// of panel `p`: the same rows of the next panel, else the next rows of
    /// the first (null after the last). Blocks of one panel are contiguous,
    /// but consecutive blocks of a sweep are a panel apart, which the
    /// hardware prefetcher does not follow.
    fn next_block(&self, k0: usize, p: usize) -> *const f32 {
        let (k1, p1) = if p + 1 < self.n.div_ceil(NR) { (k0, p + 1) } else { (k0 + KC, 0) };
        if k1 >= self.k {
            return std::ptr::null();
        }
        self.data[p1 * self.k * NR + k1 * NR..].as_ptr()
    }
}

/// Checks that `c` holds `m` rows of stride `ldc` with `n` columns.
fn check_out(m: usize, n: usize, c: &[f32], ldc: usize) {
    assert!(ldc >= n, "matmul: output stride {ldc} below its {n} columns");
    assert!(m == 0 || n == 0 || (m - 1) * ldc + n <= c.len(), "matmul: output of {} values for [{m}, {n}]", c.len());
}

/// Checks that a strided view stays inside its slice.
fn check_view(v: &MatRef, what: &str) {
    if v.rows > 0 && v.cols > 0 {
        let last = (v.rows - 1) * v.row_stride + (v.cols - 1) * v.col_stride;
        assert!(last < v.data.len(), "matmul: {what} view reaches past its data");
    }
}

/// Handles products with no work: nothing to write, or (k = 0) zeros unless
/// accumulating. Returns whether the product is done.
fn empty_product(m: usize, k: usize, n: usize, c: &mut [f32], ldc: usize, accumulate: bool) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        if !accumulate {
            (0..m).for_each(|i| c[i * ldc..i * ldc + n].fill(0.0));
        }
        return true;
    }
    false
}

/// `c[m, n] (+)= a[m, k] @ b` with `b` packed; `c` rows are `ldc` apart.
pub fn matmul_packed(a: MatRef, b: &Packed, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.n);
    assert_eq!(k, b.k, "matmul_packed: inner dimensions {k} and {} differ", b.k);
    check_view(&a, "a");
    check_out(m, n, c, ldc);
    if empty_product(m, k, n, c, ldc, accumulate) {
        return;
    }
    let isa = isa::current();
    if m == 1 && a.col_stride == 1 {
        return gemv_packed(a.data, b, c, accumulate);
    }
    let mr = microkernel::max_rows(isa);
    // Rows a multiple of 2 KB apart fall into one or two L1 sets and evict
    // each other at every k: such rows are copied to a padded stride first.
    let restride = a.col_stride == 1 && a.row_stride.is_multiple_of(512) && m > 4;
    A_TILE.with_borrow_mut(|buf| {
        let copy = |buf: &mut Vec<f32>, i0: usize, rows: usize| -> (*const f32, usize) {
            let stride = k + NR;
            buf.resize(rows * stride, 0.0);
            for r in 0..rows {
                let src = &a.data[(i0 + r) * a.row_stride..(i0 + r) * a.row_stride + k];
                buf[r * stride..r * stride + k].copy_from_slice(src);
            }
            (buf.as_ptr(), stride)
        };
        if m <= FEW_ROWS {
            // A recurrent step's product: every row tile meets each block of a
            // panel while it is in L1, so the weights stream from cache once.
            let (ap, rsa) = if restride { copy(buf, 0, m) } else { (a.data.as_ptr(), a.row_stride) };
            for k0 in (0..k).step_by(KC) {
                for p in 0..n.div_ceil(NR) {
                    for i0 in (0..m).step_by(mr) {
                        let a_tile = ap.wrapping_add(i0 * rsa);
                        tile(
                            isa,
                            a_tile,
                            rsa,
                            a.col_stride,
                            k0,
                            KC.min(k - k0),
                            mr.min(m - i0),
                            b,
                            p,
                            &mut c[i0 * ldc..],
                            ldc,
                            accumulate,
                            // The first row tile fetches the block all tiles read next.
                            if i0 == 0 { b.next_block(k0, p) } else { std::ptr::null() },
                        );
                    }
                }
            }
        } else {
            // Many rows (T·B): each row tile's slice of A stays in L1 across the panels.
            for i0 in (0..m).step_by(mr) {
                let rows = mr.min(m - i0);
                let (ap, rsa) =
                    if restride { copy(buf, i0, rows) } else { (a.data[i0 * a.row_stride..].as_ptr(), a.row_stride) };
                for k0 in (0..k).step_by(KC) {
                    for p in 0..n.div_ceil(NR) {
                        tile(
                            isa,
                            ap,
                            rsa,
                            a.col_stride,
                            k0,
                            KC.min(k - k0),
                            rows,
                            b,
                            p,
                            &mut c[i0 * ldc..],
                            ldc,
                            accumulate,
                            std::ptr::null(),
                        );
                    }
                }
            }
        }
    });
}

/// Row counts up to which `matmul_packed` sweeps all row tiles per panel block.
const FEW_ROWS: usize = 64;

thread_local! {
    /// A row tile of `a` copied to a padded stride (see `matmul_packed`).
    static A_TILE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One micro-tile of `matmul_packed`: rows at `ap` (strides `rsa`, `csa`;
/// columns `k0..k0 + kc` used) times rows `k0..k0 + kc` of panel `p`, into
/// the panel's columns of `c` (accumulating after the first block).
#[allow(clippy::too_many_arguments)]
fn tile(
    isa: super::isa::Isa,
    ap: *const f32,
    rsa: usize,
    csa: usize,
    k0: usize,
    kc: usize,
    rows: usize,
    b: &Packed,
    p: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    prefetch: *const f32,
) {
    let nc = NR.min(b.n - p * NR);
    assert!(c.len() >= (rows - 1) * ldc + p * NR + nc);
    let panel = b.panel(p);
    let t = Tile {
        k: kc,
        // In bounds: the caller checked `a` for k columns (or copied it) and k0 < k.
        a: ap.wrapping_add(k0 * csa),
        rsa,
        csa,
        b: panel[k0 * NR..].as_ptr(),
        ldb: NR,
        c: c[p * NR..].as_mut_ptr(),
        ldc,
        mr: rows,
        nc,
        accumulate: accumulate || k0 > 0,
        prefetch,
    };
    // SAFETY: `a` holds these rows and columns (checked by `matmul_packed`,
    // or copied to the tile buffer), the panel holds k × 16 values from row
    // k0 on, and c holds the tile's rows (asserted above).
    unsafe { microkernel::run(isa, &t) }
}

/// `c[m, n] (+)= a[m, k] @ b[k, n]` with `b` read in place (unit column
/// stride): the weight gradients `xᵀ @ dy` over all T·B rows, where `b` is
/// used once and packing would not pay.
pub fn matmul(a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "matmul: inner dimensions {k} and {} differ", b.rows);
    assert_eq!(b.col_stride, 1, "matmul: b needs unit column stride");
    check_view(&a, "a");
    check_view(&b, "b");
    check_out(m, n, c, ldc);
    if empty_product(m, k, n, c, ldc, accumulate) {
        return;
    }
    let isa = isa::current();
    let mr = microkernel::max_rows(isa);
    // Blocks of KC inner rows: the block's slice of every row tile of `a` and
    // of `b` stays in L2 while all tiles use it (K is T·B here, thousands).
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        for p in 0..n.div_ceil(NR) {
            for i0 in (0..m).step_by(mr) {
                let tile = Tile {
                    k: kc,
                    a: a.data[i0 * a.row_stride + k0 * a.col_stride..].as_ptr(),
                    rsa: a.row_stride,
                    csa: a.col_stride,
                    b: b.data[k0 * b.row_stride + p * NR..].as_ptr(),
                    ldb: b.row_stride,
                    c: c[i0 * ldc + p * NR..].as_mut_ptr(),
                    ldc,
                    mr: mr.min(m - i0),
                    nc: NR.min(n - p * NR),
                    accumulate: accumulate || k0 > 0,
                    prefetch: std::ptr::null(),
                };
                // SAFETY: bounds checked above; the kernel reads only the first
                // `nc` columns of each row of b (masked loads at the edge).
                unsafe { microkernel::run(isa, &tile) }
            }
        }
    }
}

/// Inner-dimension block of [`matmul`].
const KC: usize = 128;

/// One row times a packed matrix: generation at batch 1 streams every weight
/// once, four panels at a time.
fn gemv_packed(a: &[f32], b: &Packed, c: &mut [f32], accumulate: bool) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= k && b.data.len() >= n.div_ceil(NR) * k * NR);
    let isa = isa::current();
    let panels = n.div_ceil(NR);
    let mut out = [[0.0f32; NR]; 4];
    for p0 in (0..panels).step_by(4) {
        let group = 4.min(panels - p0);
        // SAFETY: a holds k values and the group's panels are inside b.data (checked above).
        unsafe { microkernel::gemv(isa, k, a.as_ptr(), b.data[p0 * k * NR..].as_ptr(), group, &mut out) };
        for (g, acc) in out.iter().enumerate().take(group) {
            let col = (p0 + g) * NR;
            let cols = NR.min(n - col);
            for (dst, &v) in c[col..col + cols].iter_mut().zip(acc) {
                *dst = if accumulate { *dst + v } else { v };
            }
        }
    }
}
