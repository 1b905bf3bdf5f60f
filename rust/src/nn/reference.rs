//! The tape-based forward and loss: the reference the fused path is tested
//! against (each op here has its finite-difference check), and the graph RL
//! records its loss on.

use super::model::{chunk_rows, Batch, Model};
use crate::engine::{Tape, Tensor};
use crate::error::Result;
use rayon::prelude::*;

impl Model {
    /// Targets of a `[B, T]` batch in the time-major row order of the logits.
    fn time_major(targets: &[u32], b: usize, t: usize) -> Vec<usize> {
        (0..t).flat_map(|ti| (0..b).map(move |bi| targets[bi * t + ti] as usize)).collect()
    }

    /// Logits `[B·T, V]` in batch-major order (row `b·T + t`), zero initial state.
    pub fn reference_logits(&self, batch: Batch) -> Result<Tensor> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        let mut tape = Tape::new(self.params());
        let (logits, _) = self.forward(&mut tape, batch, None);
        let lv = tape.value(logits);
        let (b, t, v) = (batch.b, batch.t, lv.cols);
        let mut out = Tensor::zeros(b * t, v);
        for ti in 0..t {
            for bi in 0..b {
                out.row_mut(bi * t + ti).copy_from_slice(lv.row(ti * b + bi));
            }
        }
        Ok(out)
    }

    /// Mean cross-entropy over all positions, and (optionally) its gradient per parameter.
    ///
    /// The batch is cut into chunks of `chunk_rows(B)` sequences that run on
    /// separate tapes in parallel (data parallelism: no synchronisation inside
    /// a step); each chunk's loss and gradient are weighted by its share of
    /// the rows and summed in chunk order. The chunks depend only on B, so
    /// the result is the same for any number of threads.
    pub fn reference_loss_and_grad(
        &self,
        batch: Batch,
        targets: &[u32],
        want_grad: bool,
    ) -> Result<(f32, Option<Vec<Tensor>>)> {
        self.check_tokens(batch.tokens, batch.b, batch.t, "inputs")?;
        self.check_tokens(targets, batch.b, batch.t, "targets")?;
        let (b, t) = (batch.b, batch.t);
        let rows = chunk_rows(b);
        let chunks: Vec<(usize, usize)> = (0..b).step_by(rows).map(|s| (s, (s + rows).min(b))).collect();
        let parts: Vec<(f64, Option<Vec<Tensor>>)> = chunks
            .par_iter()
            .map(|&(start, end)| {
                let rows = end - start;
                let weight = rows as f32 / b as f32;
                let sub = Batch { tokens: &batch.tokens[start * t..end * t], b: rows, t };
                let mut tape = Tape::new(self.params());
                let (logits, _) = self.forward(&mut tape, sub, None);
                let loss = tape.cross_entropy(logits, Self::time_major(&targets[start * t..end * t], rows, t));
                let value = tape.value(loss).data[0] as f64 * weight as f64;
                let grads =
                    want_grad.then(|| self.param_grads(tape.backward_with(loss, Tensor::from_vec(1, 1, vec![weight]))));
                (value, grads)
            })
            .collect();
        let loss = parts.iter().map(|p| p.0).sum::<f64>() as f32;
        let mut grads = None::<Vec<Tensor>>;
        for (_, g) in parts {
            match (&mut grads, g) {
                (None, g) => grads = g,
                (Some(acc), Some(g)) => acc.iter_mut().zip(&g).for_each(|(a, g)| a.add_assign(g)),
                (Some(_), None) => {}
            }
        }
        Ok((loss, grads))
    }
}
