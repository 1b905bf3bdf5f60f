//! Primitive elementwise ops, broadcasts and reductions. The fused kernels in
//! `fused.rs` are tested against compositions of these.

use super::par::for_each_chunk;
use crate::engine::tape::{Grads, Op, Tape, Var};
use crate::engine::tensor::Tensor;

#[derive(Debug)]
pub enum ElementwiseOp {
    Add(Var, Var),
    Sub(Var, Var),
    Mul(Var, Var),
    Div(Var, Var),
    /// `a [M, N] + r [1, N]`
    AddRow(Var, Var),
    /// `a [M, N] ⊙ r [1, N]`
    MulRow(Var, Var),
    /// `a [M, N] ⊙ c [M, 1]`
    MulCol(Var, Var),
    Scale(Var, f32),
    AddConst(Var, f32),
    Sigmoid(Var),
    Tanh(Var),
    Exp(Var),
    Log(Var),
    Sqrt(Var),
    Recip(Var),
    /// Clamp to `[lo, hi]`; the gradient passes where `lo <= x <= hi`.
    Clamp(Var, f32, f32),
    /// `[M, N] -> [M, 1]`
    SumCols(Var),
    /// `[M, N] -> [1, 1]`
    MeanAll(Var),
    /// `x [M, N] -> [M, 1]`, `out[m] = x[m, idx[m]]`
    PickCols(Var, Vec<usize>),
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn map(x: &Tensor, f: impl Fn(f32) -> f32 + Sync + Send) -> Tensor {
    let mut out = Tensor::zeros(x.rows, x.cols);
    for_each_chunk(&mut out.data, |start, o| {
        for (i, v) in o.iter_mut().enumerate() {
            *v = f(x.data[start + i]);
        }
    });
    out
}

fn zip(a: &Tensor, b: &Tensor, name: &str, f: impl Fn(f32, f32) -> f32 + Sync + Send) -> Tensor {
    assert!(a.same_shape(b), "{name}: [{}, {}] vs [{}, {}]", a.rows, a.cols, b.rows, b.cols);
    let mut out = Tensor::zeros(a.rows, a.cols);
    for_each_chunk(&mut out.data, |start, o| {
        for (i, v) in o.iter_mut().enumerate() {
            *v = f(a.data[start + i], b.data[start + i]);
        }
    });
    out
}

/// Column `j` of an `[M, N]` buffer broadcast from a `[1, N]` row.
fn zip_row(a: &Tensor, r: &Tensor, name: &str, f: impl Fn(f32, f32) -> f32) -> Tensor {
    assert!(r.rows == 1 && r.cols == a.cols, "{name}: [{}, {}] with row [{}, {}]", a.rows, a.cols, r.rows, r.cols);
    let mut out = a.clone();
    for row in out.data.chunks_mut(a.cols.max(1)) {
        for (v, &rv) in row.iter_mut().zip(&r.data) {
            *v = f(*v, rv);
        }
    }
    out
}

impl Tape<'_> {
    fn unary(&mut self, x: Var, op: ElementwiseOp, f: impl Fn(f32) -> f32 + Sync + Send) -> Var {
        let out = map(self.value(x), f);
        let ng = self.needs_grad(x);
        self.push(Op::Elementwise(op), out, ng)
    }

    fn binary(&mut self, a: Var, b: Var, op: ElementwiseOp, out: Tensor) -> Var {
        let ng = self.needs_grad(a) || self.needs_grad(b);
        self.push(Op::Elementwise(op), out, ng)
    }

    pub fn add(&mut self, a: Var, b: Var) -> Var {
        let out = zip(self.value(a), self.value(b), "add", |x, y| x + y);
        self.binary(a, b, ElementwiseOp::Add(a, b), out)
    }
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        let out = zip(self.value(a), self.value(b), "sub", |x, y| x - y);
        self.binary(a, b, ElementwiseOp::Sub(a, b), out)
    }
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        let out = zip(self.value(a), self.value(b), "mul", |x, y| x * y);
        self.binary(a, b, ElementwiseOp::Mul(a, b), out)
    }
    pub fn div(&mut self, a: Var, b: Var) -> Var {
        let out = zip(self.value(a), self.value(b), "div", |x, y| x / y);
        self.binary(a, b, ElementwiseOp::Div(a, b), out)
    }
    pub fn add_row(&mut self, a: Var, r: Var) -> Var {
        let out = zip_row(self.value(a), self.value(r), "add_row", |x, y| x + y);
        self.binary(a, r, ElementwiseOp::AddRow(a, r), out)
    }
    pub fn mul_row(&mut self, a: Var, r: Var) -> Var {
        let out = zip_row(self.value(a), self.value(r), "mul_row", |x, y| x * y);
        self.binary(a, r, ElementwiseOp::MulRow(a, r), out)
    }
    pub fn mul_col(&mut self, a: Var, c: Var) -> Var {
        let (av, cv) = (self.value(a), self.value(c));
        assert!(
            cv.cols == 1 && cv.rows == av.rows,
            "mul_col: [{}, {}] with column [{}, {}]",
            av.rows,
            av.cols,
            cv.rows,
            cv.cols
        );
        let mut out = av.clone();
        for (r, row) in out.data.chunks_mut(av.cols.max(1)).enumerate() {
            row.iter_mut().for_each(|v| *v *= cv.data[r]);
        }
        self.binary(a, c, ElementwiseOp::MulCol(a, c), out)
    }
    pub fn scale(&mut self, x: Var, alpha: f32) -> Var {
        self.unary(x, ElementwiseOp::Scale(x, alpha), move |v| alpha * v)
    }
    pub fn add_const(&mut self, x: Var, c: f32) -> Var {
        self.unary(x, ElementwiseOp::AddConst(x, c), move |v| v + c)
    }
    pub fn sigmoid(&mut self, x: Var) -> Var {
        self.unary(x, ElementwiseOp::Sigmoid(x), sigmoid)
    }
    pub fn tanh(&mut self, x: Var) -> Var {
        self.unary(x, ElementwiseOp::Tanh(x), f32::tanh)
    }
    pub fn exp(&mut self, x: Var) -> Var {
        self.unary(x, ElementwiseOp::Exp(x), f32::exp)
    }
    pub fn log(&mut self, x: Var) -> Var {
        self.unary(x, ElementwiseOp::Log(x), f32::ln)
    }
    pub fn sqrt(&mut self, x: Var) -> Var {
        self.unary(x, ElementwiseOp::Sqrt(x), f32::sqrt)
    }
    pub fn recip(&mut self, x: Var) -> Var {
        self.unary(x, ElementwiseOp::Recip(x), |v| 1.0 / v)
    }
    pub fn clamp(&mut self, x: Var, lo: f32, hi: f32) -> Var {
        self.unary(x, ElementwiseOp::Clamp(x, lo, hi), move |v| v.clamp(lo, hi))
    }
    pub fn sum_cols(&mut self, x: Var) -> Var {
        let xv = self.value(x);
        let data = xv.data.chunks(xv.cols.max(1)).map(|r| r.iter().sum()).collect();
        let out = Tensor::from_vec(xv.rows, 1, data);
        let ng = self.needs_grad(x);
        self.push(Op::Elementwise(ElementwiseOp::SumCols(x)), out, ng)
    }
    pub fn mean_all(&mut self, x: Var) -> Var {
        let xv = self.value(x);
        let s: f32 = xv.data.iter().sum::<f32>() / xv.len() as f32;
        let ng = self.needs_grad(x);
        self.push(Op::Elementwise(ElementwiseOp::MeanAll(x)), Tensor::from_vec(1, 1, vec![s]), ng)
    }
    pub fn pick_cols(&mut self, x: Var, idx: Vec<usize>) -> Var {
        let xv = self.value(x);
        assert_eq!(idx.len(), xv.rows, "pick_cols: one index per row");
        let data = idx.iter().enumerate().map(|(r, &c)| xv.data[r * xv.cols + c]).collect();
        let out = Tensor::from_vec(xv.rows, 1, data);
        let ng = self.needs_grad(x);
        self.push(Op::Elementwise(ElementwiseOp::PickCols(x, idx)), out, ng)
    }
}

/// `grad[i] += f(i)` into the gradient of `v`, if wanted.
fn acc(grads: &mut Grads, v: Var, f: impl Fn(usize) -> f32 + Sync + Send) {
    if let Some(d) = grads.get(v) {
        for_each_chunk(&mut d.data, |start, o| {
            for (i, x) in o.iter_mut().enumerate() {
                *x += f(start + i);
            }
        });
    }
}

/// Column sums of `f(i)` over rows, into a `[1, N]` gradient.
fn acc_row(grads: &mut Grads, r: Var, rows: usize, cols: usize, f: impl Fn(usize) -> f32) {
    if let Some(d) = grads.get(r) {
        for m in 0..rows {
            for (n, x) in d.data.iter_mut().enumerate() {
                *x += f(m * cols + n);
            }
        }
    }
}

pub(crate) fn backward(op: &ElementwiseOp, tape: &Tape, out: Var, g: &Tensor, grads: &mut Grads) {
    use ElementwiseOp::*;
    let y = &tape.value(out).data;
    let g = &g.data;
    match op {
        Add(a, b) => {
            acc(grads, *a, |i| g[i]);
            acc(grads, *b, |i| g[i]);
        }
        Sub(a, b) => {
            acc(grads, *a, |i| g[i]);
            acc(grads, *b, |i| -g[i]);
        }
        Mul(a, b) => {
            let (av, bv) = (&tape.value(*a).data, &tape.value(*b).data);
            acc(grads, *a, |i| g[i] * bv[i]);
            acc(grads, *b, |i| g[i] * av[i]);
        }
        Div(a, b) => {
            let bv = &tape.value(*b).data;
            acc(grads, *a, |i| g[i] / bv[i]);
            acc(grads, *b, |i| -g[i] * y[i] / bv[i]);
        }
        AddRow(a, r) => {
            let cols = tape.value(*r).cols;
            acc(grads, *a, |i| g[i]);
            acc_row(grads, *r, g.len() / cols.max(1), cols, |i| g[i]);
        }
        MulRow(a, r) => {
            let (av, rv) = (&tape.value(*a).data, &tape.value(*r).data);
            let cols = rv.len();
            acc(grads, *a, |i| g[i] * rv[i % cols]);
            acc_row(grads, *r, g.len() / cols.max(1), cols, |i| g[i] * av[i]);
        }
        MulCol(a, c) => {
            let (av, cv) = (tape.value(*a), &tape.value(*c).data);
            let cols = av.cols.max(1);
            acc(grads, *a, |i| g[i] * cv[i / cols]);
            if let Some(dc) = grads.get(*c) {
                for (m, d) in dc.data.iter_mut().enumerate() {
                    *d += (0..av.cols).map(|n| g[m * cols + n] * av.data[m * cols + n]).sum::<f32>();
                }
            }
        }
        Scale(x, alpha) => acc(grads, *x, |i| alpha * g[i]),
        AddConst(x, _) => acc(grads, *x, |i| g[i]),
        Sigmoid(x) => acc(grads, *x, |i| g[i] * y[i] * (1.0 - y[i])),
        Tanh(x) => acc(grads, *x, |i| g[i] * (1.0 - y[i] * y[i])),
        Exp(x) => acc(grads, *x, |i| g[i] * y[i]),
        Log(x) => {
            let xv = &tape.value(*x).data;
            acc(grads, *x, |i| g[i] / xv[i]);
        }
        Sqrt(x) => acc(grads, *x, |i| g[i] * 0.5 / y[i]),
        Recip(x) => acc(grads, *x, |i| -g[i] * y[i] * y[i]),
        Clamp(x, lo, hi) => {
            let xv = &tape.value(*x).data;
            acc(grads, *x, |i| if xv[i] >= *lo && xv[i] <= *hi { g[i] } else { 0.0 });
        }
        SumCols(x) => {
            let cols = tape.value(*x).cols.max(1);
            acc(grads, *x, |i| g[i / cols]);
        }
        MeanAll(x) => {
            let n = tape.value(*x).len() as f32;
            acc(grads, *x, |_| g[0] / n);
        }
        PickCols(x, idx) => {
            let cols = tape.value(*x).cols;
            if let Some(d) = grads.get(*x) {
                for (r, &c) in idx.iter().enumerate() {
                    d.data[r * cols + c] += g[r];
                }
            }
        }
    }
}
