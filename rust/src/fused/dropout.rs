//! Dropout, for training only: the model function (MODEL.md) and every
//! checkpoint are unchanged, evaluation and generation never drop.
//!
//! What is dropped: the non-recurrent connections — each layer's input (the
//! embedding rows for layer 0, the layer below's output otherwise) and the
//! head's input — never the recurrent state a layer carries to its next
//! step (Zaremba et al., 2014: dropping the state would erase memory). So
//! layer l's output stays as computed, the state it passes on; the layer
//! above reads `out ⊙ mask`.
//!
//! A kept value is scaled by 1 / (1 − rate) (inverted dropout), so the
//! expected input is the undropped one. The mask of each value is a hash of
//! (step seed, which tensor, the sequence's index in the whole batch,
//! position, channel): the same for any chunking of the batch, any thread
//! count and any split across data-parallel ranks, and again after a resume
//! (the step seed comes from the optimizer's step count).

/// Dropout for one chunk of a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutRows {
    /// Probability of dropping a value, in [0, 1).
    pub rate: f32,
    /// This step's seed (see [`step_seed`]).
    pub seed: u64,
    /// The batch index of the chunk's first sequence.
    pub first_seq: usize,
}

impl DropoutRows {
    /// The same dropout for a chunk starting `rows` sequences later.
    pub fn offset(self, rows: usize) -> Self {
        DropoutRows { first_seq: self.first_seq + rows, ..self }
    }
}

/// The seed of optimizer step `step` of a run seeded `seed`.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    mix(seed ^ mix(step.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// SplitMix64's finaliser: a bijection of u64 whose output bits all depend
/// on every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The mask of `tensor` (0..L: layer inputs, L: the head's input) for a
/// chunk of `b` sequences × `t` steps, `[T·B, width]` time-major (row
/// `t·B + b`): 0 where dropped, 1 / (1 − rate) where kept.
pub fn fill_mask(d: DropoutRows, tensor: usize, b: usize, t: usize, width: usize, mask: &mut Vec<f32>) {
    assert!((0.0..1.0).contains(&d.rate), "dropout rate {} outside [0, 1)", d.rate);
    mask.clear();
    mask.reserve(b * t * width);
    let keep = 1.0 / (1.0 - d.rate);
    // A value is dropped when its 24-bit uniform is below rate · 2²⁴.
    let threshold = (d.rate as f64 * (1u64 << 24) as f64).round() as u64;
    let tensor_key = mix(d.seed ^ ((tensor as u64) << 56));
    for ti in 0..t {
        for bi in 0..b {
            let seq = (d.first_seq + bi) as u64;
            let row_key = mix(tensor_key ^ mix((seq << 32) ^ ti as u64));
            mask.extend((0..width as u64).map(|j| {
                let u = mix(row_key.wrapping_add(j)) >> 40;
                if u < threshold {
                    0.0
                } else {
                    keep
                }
            }));
        }
    }
}

/// `x ⊙= mask` (a forward input, or a gradient on the way back).
pub fn apply(x: &mut [f32], mask: &[f32]) {
    assert_eq!(x.len(), mask.len(), "dropout: {} values, mask of {}", x.len(), mask.len());
    x.iter_mut().zip(mask).for_each(|(v, &m)| *v *= m);
}

/// `dst = x ⊙ mask`, reusing `dst`.
pub fn apply_into(x: &[f32], mask: &[f32], dst: &mut Vec<f32>) {
    assert_eq!(x.len(), mask.len(), "dropout: {} values, mask of {}", x.len(), mask.len());
    dst.clear();
    dst.extend(x.iter().zip(mask).map(|(&v, &m)| v * m));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_rate_and_scales_the_rest() {
        let d = DropoutRows { rate: 0.25, seed: step_seed(7, 3), first_seq: 0 };
        let mut m = Vec::new();
        fill_mask(d, 1, 16, 32, 128, &mut m);
        let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        assert!((dropped - 0.25).abs() < 0.01, "dropped {dropped}");
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
    }

    #[test]
    fn a_chunk_sees_the_rows_of_the_whole_batch() {
        let d = DropoutRows { rate: 0.5, seed: 11, first_seq: 0 };
        let (mut all, mut part) = (Vec::new(), Vec::new());
        fill_mask(d, 0, 8, 3, 4, &mut all);
        fill_mask(d.offset(5), 0, 3, 3, 4, &mut part);
        for ti in 0..3 {
            for bi in 0..3 {
                let whole = &all[(ti * 8 + 5 + bi) * 4..][..4];
                assert_eq!(&part[(ti * 3 + bi) * 4..][..4], whole);
            }
        }
    }

    #[test]
    fn tensors_steps_and_seeds_get_different_masks() {
        let base = DropoutRows { rate: 0.5, seed: step_seed(1, 1), first_seq: 0 };
        let mask = |d: DropoutRows, tensor: usize| {
            let mut m = Vec::new();
            fill_mask(d, tensor, 4, 4, 64, &mut m);
            m
        };
        let m0 = mask(base, 0);
        assert_ne!(m0, mask(base, 1));
        assert_ne!(m0, mask(DropoutRows { seed: step_seed(1, 2), ..base }, 0));
        assert_ne!(m0, mask(DropoutRows { seed: step_seed(2, 1), ..base }, 0));
        assert_eq!(m0, mask(base, 0));
    }

    #[test]
    fn rate_zero_keeps_everything() {
        let mut m = Vec::new();
        fill_mask(DropoutRows { rate: 0.0, seed: 5, first_seq: 2 }, 0, 3, 3, 9, &mut m);
        assert!(m.iter().all(|&v| v == 1.0));
    }
}
