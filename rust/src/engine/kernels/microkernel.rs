//! The GEMM micro-kernels: `C[mr, nc] (+)= A[mr, k] @ B[k, nc]` for one tile of
//! at most [`NR`] = 16 columns. `A` is read in place through its strides
//! (row-major activations, or a transposed view for weight gradients); `B`
//! rows are 16 consecutive floats `ldb` apart (a packed panel, or a
//! row-major matrix). Each output element is `Σ_k` of fused multiply-adds in
//! k order from zero, then added to C (or stored): the same sequence of
//! roundings on every path, so all paths give the same bits.
//!
//! The only `unsafe` memory access of the GEMM lives here; callers pass
//! pointers with the extents documented on [`Tile`].

/// Columns per tile (one AVX-512 register, two AVX2 registers).
pub const NR: usize = 16;

/// One micro-tile. Valid reads: `a + i·rsa + p·csa` for `i < mr`, `p < k`;
/// `b + p·ldb + j` for `p < k`, `j < nc`; valid writes `c + i·ldc + j`, `j < nc`.
/// `prefetch` (null for none) is a block of `k` lines of 16 floats that the
/// caller reads next: one line is prefetched into L1 per k, so the next
/// tile's weights arrive while this one computes (a hint: never
/// dereferenced, may point anywhere).
#[derive(Clone, Copy)]
pub struct Tile {
    pub k: usize,
    pub a: *const f32,
    pub rsa: usize,
    pub csa: usize,
    pub b: *const f32,
    pub ldb: usize,
    pub c: *mut f32,
    pub ldc: usize,
    pub mr: usize,
    pub nc: usize,
    pub accumulate: bool,
    pub prefetch: *const f32,
}

use super::isa::Isa;

/// The most rows one tile of `isa` computes.
pub fn max_rows(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 => 6,
        Isa::Generic => 4,
    }
}

/// Runs one tile.
///
/// # Safety
/// The pointers must be valid for the extents documented on [`Tile`], and
/// `isa` must be supported by the CPU; `t.mr <= max_rows(isa)`, `t.nc <= NR`.
pub unsafe fn run(isa: Isa, t: &Tile) {
    debug_assert!(t.mr >= 1 && t.mr <= max_rows(isa) && t.nc >= 1 && t.nc <= NR);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::avx512(t),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::avx2(t),
        _ => generic(t),
    }
}

/// One row times `group` (1 to 4) consecutive packed panels of `k × 16`:
/// `out[g][j] = Σ_p a[p]·panel_g[p, j]`, the same sums as [`run`] computes
/// for a one-row tile. Four panels at once keep four independent
/// accumulators in flight while the weights stream from cache.
///
/// # Safety
/// `a` holds `k` values; `panels` holds `group · k · 16`; `isa` is supported.
pub unsafe fn gemv(isa: Isa, k: usize, a: *const f32, panels: *const f32, group: usize, out: &mut [[f32; NR]; 4]) {
    debug_assert!((1..=4).contains(&group));
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::gemv_avx512(k, a, panels, group, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::gemv_avx2(k, a, panels, group, out),
        _ => gemv_generic(k, a, panels, group, out),
    }
}

unsafe fn gemv_generic(k: usize, a: *const f32, panels: *const f32, group: usize, out: &mut [[f32; NR]; 4]) {
    for (g, o) in out.iter_mut().enumerate().take(group) {
        *o = [0.0; NR];
        let panel = panels.add(g * k * NR);
        for p in 0..k {
            let av = *a.add(p);
            for (j, c) in o.iter_mut().enumerate() {
                *c = av.mul_add(*panel.add(p * NR + j), *c);
            }
        }
    }
}

/// Portable tile: the same fused multiply-adds in the same order.
unsafe fn generic(t: &Tile) {
    let mut acc = [[0.0f32; NR]; 4];
    for p in 0..t.k {
        let b = t.b.add(p * t.ldb);
        for (i, row) in acc.iter_mut().enumerate().take(t.mr) {
            let a = *t.a.add(i * t.rsa + p * t.csa);
            for (j, c) in row.iter_mut().enumerate().take(t.nc) {
                *c = a.mul_add(*b.add(j), *c);
            }
        }
    }
    for (i, row) in acc.iter().enumerate().take(t.mr) {
        let c = t.c.add(i * t.ldc);
        for (j, &v) in row.iter().enumerate().take(t.nc) {
            *c.add(j) = if t.accumulate { *c.add(j) + v } else { v };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Tile;
    use std::arch::x86_64::*;

    /// Where the loop's one prefetch per k starts and how far it steps: the
    /// caller's next block, a line per k; without one, the row of `b` about
    /// to be loaded (an L1 no-op, so the loop has one shape).
    fn prefetch_walk(t: &Tile) -> (*const f32, usize) {
        if t.prefetch.is_null() {
            (t.b, t.ldb)
        } else {
            (t.prefetch, super::NR)
        }
    }

    /// Dispatches on the row count so the accumulators stay in registers.
    pub unsafe fn avx512(t: &Tile) {
        match t.mr {
            16 => avx512_rows::<16>(t),
            15 => avx512_rows::<15>(t),
            14 => avx512_rows::<14>(t),
            13 => avx512_rows::<13>(t),
            12 => avx512_rows::<12>(t),
            11 => avx512_rows::<11>(t),
            10 => avx512_rows::<10>(t),
            9 => avx512_rows::<9>(t),
            8 => avx512_rows::<8>(t),
            7 => avx512_rows::<7>(t),
            6 => avx512_rows::<6>(t),
            5 => avx512_rows::<5>(t),
            4 => avx512_rows::<4>(t),
            3 => avx512_rows::<3>(t),
            2 => avx512_rows::<2>(t),
            _ => avx512_rows::<1>(t),
        }
    }

    /// `MR` rows × 16 columns, one zmm accumulator per row.
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_rows<const MR: usize>(t: &Tile) {
        let mask: __mmask16 = if t.nc >= 16 { 0xffff } else { ((1u32 << t.nc) - 1) as u16 };
        let mut acc = [_mm512_setzero_ps(); MR];
        let (mut a, mut b) = (t.a, t.b);
        let (mut pf, pf_step) = prefetch_walk(t);
        if t.nc == 16 {
            for _ in 0..t.k {
                _mm_prefetch::<_MM_HINT_T0>(pf as *const i8);
                pf = pf.wrapping_add(pf_step);
                let bv = _mm512_loadu_ps(b);
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(i * t.rsa)), bv, *acc);
                }
                a = a.add(t.csa);
                b = b.add(t.ldb);
            }
        } else {
            for _ in 0..t.k {
                _mm_prefetch::<_MM_HINT_T0>(pf as *const i8);
                pf = pf.wrapping_add(pf_step);
                let bv = _mm512_maskz_loadu_ps(mask, b);
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(i * t.rsa)), bv, *acc);
                }
                a = a.add(t.csa);
                b = b.add(t.ldb);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let c = t.c.add(i * t.ldc);
            let v = if t.accumulate { _mm512_add_ps(_mm512_maskz_loadu_ps(mask, c), *acc) } else { *acc };
            _mm512_mask_storeu_ps(c, mask, v);
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn gemv_avx512(k: usize, a: *const f32, panels: *const f32, group: usize, out: &mut [[f32; 16]; 4]) {
        if group == 4 {
            let stride = k * 16;
            let mut acc = [_mm512_setzero_ps(); 4];
            for p in 0..k {
                let av = _mm512_set1_ps(*a.add(p));
                let base = panels.add(p * 16);
                for (g, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(av, _mm512_loadu_ps(base.add(g * stride)), *acc);
                }
            }
            for (o, acc) in out.iter_mut().zip(acc) {
                _mm512_storeu_ps(o.as_mut_ptr(), acc);
            }
        } else {
            for (g, o) in out.iter_mut().enumerate().take(group) {
                let panel = panels.add(g * k * 16);
                let mut acc = _mm512_setzero_ps();
                for p in 0..k {
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(p)), _mm512_loadu_ps(panel.add(p * 16)), acc);
                }
                _mm512_storeu_ps(o.as_mut_ptr(), acc);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemv_avx2(k: usize, a: *const f32, panels: *const f32, group: usize, out: &mut [[f32; 16]; 4]) {
        for (g, o) in out.iter_mut().enumerate().take(group) {
            let panel = panels.add(g * k * 16);
            let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for p in 0..k {
                let av = _mm256_set1_ps(*a.add(p));
                lo = _mm256_fmadd_ps(av, _mm256_loadu_ps(panel.add(p * 16)), lo);
                hi = _mm256_fmadd_ps(av, _mm256_loadu_ps(panel.add(p * 16 + 8)), hi);
            }
            _mm256_storeu_ps(o.as_mut_ptr(), lo);
            _mm256_storeu_ps(o.as_mut_ptr().add(8), hi);
        }
    }

    pub unsafe fn avx2(t: &Tile) {
        match t.mr {
            6 => avx2_rows::<6>(t),
            5 => avx2_rows::<5>(t),
            4 => avx2_rows::<4>(t),
            3 => avx2_rows::<3>(t),
            2 => avx2_rows::<2>(t),
            _ => avx2_rows::<1>(t),
        }
    }

    /// Lane masks for `_mm256_maskload_ps`: the first `n` of 8 lanes.
    #[target_feature(enable = "avx2")]
    unsafe fn lanes(n: usize) -> __m256i {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }

    /// `MR` rows × 16 columns, two ymm accumulators per row.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_rows<const MR: usize>(t: &Tile) {
        let (m0, m1) = (lanes(t.nc.min(8)), lanes(t.nc.saturating_sub(8)));
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (t.a, t.b);
        let full = t.nc == 16;
        let (mut pf, pf_step) = prefetch_walk(t);
        for _ in 0..t.k {
            _mm_prefetch::<_MM_HINT_T0>(pf as *const i8);
            pf = pf.wrapping_add(pf_step);
            let (b0, b1) = if full {
                (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8)))
            } else {
                (_mm256_maskload_ps(b, m0), _mm256_maskload_ps(b.wrapping_add(8), m1))
            };
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*a.add(i * t.rsa));
                acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
            }
            a = a.add(t.csa);
            b = b.add(t.ldb);
        }
        for (i, acc) in acc.iter().enumerate() {
            let c = t.c.add(i * t.ldc);
            let (mut v0, mut v1) = (acc[0], acc[1]);
            if t.accumulate {
                v0 = _mm256_add_ps(_mm256_maskload_ps(c, m0), v0);
                v1 = _mm256_add_ps(_mm256_maskload_ps(c.wrapping_add(8), m1), v1);
            }
            _mm256_maskstore_ps(c, m0, v0);
            _mm256_maskstore_ps(c.wrapping_add(8), m1, v1);
        }
    }
}
