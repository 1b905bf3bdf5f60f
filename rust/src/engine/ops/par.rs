//! Elementwise loops split over rayon threads when long enough. Each element is
//! computed by the same expression whatever the split, so results never depend
//! on the thread count.

use rayon::prelude::*;

/// Below this many elements a loop stays on one thread.
pub const PARALLEL_MIN_LEN: usize = 1 << 15;
const CHUNK: usize = 1 << 13;

/// `out[i] = f(i, &mut out[i])` over fixed-size chunks (chunk start index given).
pub fn for_each_chunk(out: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.len() < PARALLEL_MIN_LEN {
        f(0, out);
    } else {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, c)| f(i * CHUNK, c));
    }
}

/// Rows of a `[rows, cols]` buffer, in parallel when the buffer is large.
pub fn for_each_row(out: &mut [f32], cols: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if cols == 0 {
        return;
    }
    if out.len() < PARALLEL_MIN_LEN {
        out.chunks_mut(cols).enumerate().for_each(|(r, row)| f(r, row));
    } else {
        out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| f(r, row));
    }
}
