//! Row gathers, slices and concatenation: how time steps, embeddings and
//! expert routing move rows between matrices.

use crate::engine::tape::{Grads, Op, Tape, Var};
use crate::engine::tensor::Tensor;

#[derive(Debug)]
pub enum ShapeOp {
    /// `table [R, C] -> [idx.len(), C]`, `out[i] = table[idx[i]]` (embeddings, expert routing)
    GatherRows(Var, Vec<usize>),
    /// `x [R, C] -> [len, C]`, rows `start..start + len` (one time step of a time-major batch)
    SliceRows(Var, usize),
    /// `[R_i, C]... -> [Σ R_i, C]`
    ConcatRows(Vec<Var>),
}

impl Tape<'_> {
    pub fn gather_rows(&mut self, table: Var, idx: Vec<usize>) -> Var {
        let t = self.value(table);
        let mut out = Tensor::zeros(idx.len(), t.cols);
        for (i, &r) in idx.iter().enumerate() {
            assert!(r < t.rows, "gather_rows: row {r} of {}", t.rows);
            out.row_mut(i).copy_from_slice(t.row(r));
        }
        let ng = self.needs_grad(table);
        self.push(Op::Shape(ShapeOp::GatherRows(table, idx)), out, ng)
    }

    pub fn slice_rows(&mut self, x: Var, start: usize, len: usize) -> Var {
        let xv = self.value(x);
        assert!(start + len <= xv.rows, "slice_rows: {start}+{len} of {}", xv.rows);
        let out = Tensor::from_vec(len, xv.cols, xv.data[start * xv.cols..(start + len) * xv.cols].to_vec());
        let ng = self.needs_grad(x);
        self.push(Op::Shape(ShapeOp::SliceRows(x, start)), out, ng)
    }

    pub fn concat_rows(&mut self, parts: Vec<Var>) -> Var {
        let cols = self.value(parts[0]).cols;
        let rows: usize = parts.iter().map(|&p| self.value(p).rows).sum();
        let mut data = Vec::with_capacity(rows * cols);
        for &p in &parts {
            let v = self.value(p);
            assert_eq!(v.cols, cols, "concat_rows: column counts differ");
            data.extend_from_slice(&v.data);
        }
        let ng = parts.iter().any(|&p| self.needs_grad(p));
        self.push(Op::Shape(ShapeOp::ConcatRows(parts)), Tensor::from_vec(rows, cols, data), ng)
    }
}

pub(crate) fn backward(op: &ShapeOp, tape: &Tape, _out: Var, g: &Tensor, grads: &mut Grads) {
    match op {
        ShapeOp::GatherRows(table, idx) => {
            if let Some(d) = grads.get(*table) {
                for (i, &r) in idx.iter().enumerate() {
                    for (x, &gv) in d.row_mut(r).iter_mut().zip(g.row(i)) {
                        *x += gv;
                    }
                }
            }
        }
        ShapeOp::SliceRows(x, start) => {
            if let Some(d) = grads.get(*x) {
                let off = start * g.cols;
                for (x, &gv) in d.data[off..off + g.len()].iter_mut().zip(&g.data) {
                    *x += gv;
                }
            }
        }
        ShapeOp::ConcatRows(parts) => {
            let mut off = 0;
            for &p in parts {
                let n = tape.value(p).len();
                if tape.needs_grad(p) {
                    let v = tape.value(p);
                    grads.add(p, Tensor::from_vec(v.rows, v.cols, g.data[off..off + n].to_vec()));
                }
                off += n;
            }
        }
    }
}
