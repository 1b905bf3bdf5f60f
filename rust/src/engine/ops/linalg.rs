//! Matrix product.

use crate::engine::gemm::{gemm, MatRef};
use crate::engine::tape::{Grads, Op, Tape, Var};
use crate::engine::tensor::Tensor;

/// Products with at most this many rows (a recurrent step's batch) defer
/// their weight gradient; see `Grads::defer_weight_grad`.
const DEFER_MAX_ROWS: usize = 256;

#[derive(Debug)]
pub enum LinalgOp {
    /// `a [M, K] @ b [K, N] -> [M, N]`
    MatMul(Var, Var),
}

impl Tape<'_> {
    /// `a [M, K] @ b [K, N] -> [M, N]`
    pub fn matmul(&mut self, a: Var, b: Var) -> Var {
        let (av, bv) = (self.value(a), self.value(b));
        assert_eq!(av.cols, bv.rows, "matmul: [{}, {}] @ [{}, {}]", av.rows, av.cols, bv.rows, bv.cols);
        let mut out = Tensor::zeros(av.rows, bv.cols);
        gemm(MatRef::new(&av.data, av.rows, av.cols), MatRef::new(&bv.data, bv.rows, bv.cols), &mut out.data, 0.0);
        let ng = self.needs_grad(a) || self.needs_grad(b);
        self.push(Op::Linalg(LinalgOp::MatMul(a, b)), out, ng)
    }
}

pub(crate) fn backward(op: &LinalgOp, tape: &Tape, _out: Var, g: &Tensor, grads: &mut Grads) {
    match *op {
        LinalgOp::MatMul(a, b) => {
            let (av, bv) = (tape.value(a), tape.value(b));
            let (m, k, n) = (av.rows, av.cols, bv.cols);
            // da [M, K] += g [M, N] @ b^T [N, K]
            if let Some(da) = grads.get(a) {
                gemm(MatRef::new(&g.data, m, n), MatRef::transposed(&bv.data, k, n), &mut da.data, 1.0);
            }
            // db [K, N] += a^T [K, M] @ g [M, N]; a weight used by one
            // recurrent step (few rows) joins its other steps in one GEMM.
            if grads.is_param(b) && m <= DEFER_MAX_ROWS {
                grads.defer_weight_grad(b, a, g);
            } else if let Some(db) = grads.get(b) {
                gemm(MatRef::transposed(&av.data, m, k), MatRef::new(&g.data, m, n), &mut db.data, 1.0);
            }
        }
    }
}
