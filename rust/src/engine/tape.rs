//! The tape: a flat list of nodes in execution order. Each node keeps its
//! forward value and an [`Op`] naming its inputs plus whatever its backward
//! needs. `backward` walks the list once, in reverse, and accumulates
//! gradients into each input. Parameters are leaves whose values live in the
//! model (borrowed, never copied); their gradients are returned by index.
//!
//! Forward constructors and backward rules live side by side in `ops/`,
//! one file per family; `backward_node` below is the single dispatch.

use super::gemm::{gemm, MatRef};
use super::ops::{elementwise, fused, linalg, moe, rl, shape};
use super::tensor::Tensor;

/// A handle to a node of the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var(pub(crate) usize);

/// What produced a node. Inputs are `Var`s of earlier nodes.
#[derive(Debug)]
pub enum Op {
    /// A value without gradient (token-derived constants, zero states).
    Constant,
    /// A value whose gradient is wanted (tests, externally supplied states).
    Input,
    /// Parameter `i` of the borrowed parameter list.
    Param(usize),
    Linalg(linalg::LinalgOp),
    Elementwise(elementwise::ElementwiseOp),
    Fused(fused::FusedOp),
    Moe(moe::MoeOp),
    Rl(rl::RlOp),
    Shape(shape::ShapeOp),
}

pub(crate) struct Node {
    pub op: Op,
    /// Forward value; empty for parameters (see `Tape::value`).
    pub value: Tensor,
    /// Whether any gradient can reach a parameter or input through this node.
    pub needs_grad: bool,
}

pub struct Tape<'p> {
    params: &'p [Tensor],
    param_vars: Vec<Option<Var>>,
    pub(crate) nodes: Vec<Node>,
}

/// Gradients of one backward pass.
pub struct Gradients {
    /// Per parameter index; `None` when the parameter was not used.
    pub params: Vec<Option<Tensor>>,
    /// Per node; only `Input` nodes are kept.
    inputs: Vec<Option<Tensor>>,
}

impl Gradients {
    pub fn input(&self, v: Var) -> Option<&Tensor> {
        self.inputs.get(v.0).and_then(|g| g.as_ref())
    }
}

impl<'p> Tape<'p> {
    pub fn new(params: &'p [Tensor]) -> Self {
        Tape { params, param_vars: vec![None; params.len()], nodes: Vec::with_capacity(1024) }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn value(&self, v: Var) -> &Tensor {
        match self.nodes[v.0].op {
            Op::Param(i) => &self.params[i],
            _ => &self.nodes[v.0].value,
        }
    }

    pub(crate) fn needs_grad(&self, v: Var) -> bool {
        self.nodes[v.0].needs_grad
    }

    pub(crate) fn push(&mut self, op: Op, value: Tensor, needs_grad: bool) -> Var {
        self.nodes.push(Node { op, value, needs_grad });
        Var(self.nodes.len() - 1)
    }

    pub fn constant(&mut self, t: Tensor) -> Var {
        self.push(Op::Constant, t, false)
    }

    pub fn input(&mut self, t: Tensor) -> Var {
        self.push(Op::Input, t, true)
    }

    /// The leaf of parameter `i` (one per tape, created on first use).
    pub fn param(&mut self, i: usize) -> Var {
        if let Some(v) = self.param_vars[i] {
            return v;
        }
        let v = self.push(Op::Param(i), Tensor::default(), true);
        self.param_vars[i] = Some(v);
        v
    }

    /// Reverse pass from `out` with upstream gradient `seed` (same shape as `out`).
    pub fn backward_with(&self, out: Var, seed: Tensor) -> Gradients {
        assert!(self.value(out).same_shape(&seed), "backward seed shape differs from the output");
        let mut grads: Vec<Option<Tensor>> = Vec::with_capacity(self.nodes.len());
        grads.resize_with(self.nodes.len(), || None);
        grads[out.0] = Some(seed);
        let mut deferred = Vec::new();
        for i in (0..=out.0).rev() {
            let Some(g) = grads[i].take() else { continue };
            if !self.nodes[i].needs_grad {
                continue;
            }
            match &self.nodes[i].op {
                Op::Constant => {}
                Op::Input | Op::Param(_) => grads[i] = Some(g),
                op => {
                    let mut acc = Grads { slots: &mut grads, tape: self, deferred: &mut deferred };
                    self.backward_node(op, Var(i), &g, &mut acc)
                }
            }
        }
        self.flush_weight_grads(deferred, &mut grads);
        let mut params = vec![None; self.params.len()];
        for (p, v) in self.param_vars.iter().enumerate() {
            if let Some(v) = v {
                params[p] = grads[v.0].take();
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !matches!(node.op, Op::Input) {
                grads[i] = None;
            }
        }
        Gradients { params, inputs: grads }
    }

    /// Reverse pass from a scalar `[1, 1]` output (a loss).
    pub fn backward(&self, loss: Var) -> Gradients {
        let v = self.value(loss);
        assert!(v.rows == 1 && v.cols == 1, "backward() needs a scalar; use backward_with");
        self.backward_with(loss, Tensor::from_vec(1, 1, vec![1.0]))
    }

    fn backward_node(&self, op: &Op, out: Var, g: &Tensor, grads: &mut Grads) {
        match op {
            Op::Linalg(op) => linalg::backward(op, self, out, g, grads),
            Op::Elementwise(op) => elementwise::backward(op, self, out, g, grads),
            Op::Fused(op) => fused::backward(op, self, out, g, grads),
            Op::Moe(op) => moe::backward(op, self, out, g, grads),
            Op::Rl(op) => rl::backward(op, self, out, g, grads),
            Op::Shape(op) => shape::backward(op, self, out, g, grads),
            Op::Constant | Op::Input | Op::Param(_) => unreachable!(),
        }
    }
}

/// Gradient accumulators handed to backward rules.
pub struct Grads<'a, 'p> {
    slots: &'a mut [Option<Tensor>],
    tape: &'a Tape<'p>,
    deferred: &'a mut Vec<DeferredWeightGrad>,
}

/// `dW += xᵀ @ dy` for a weight used by a recurrent step, postponed to the end
/// of the pass (see `Grads::defer_weight_grad`).
pub(crate) struct DeferredWeightGrad {
    weight: Var,
    x: Var,
    dy: Tensor,
}

impl Tape<'_> {
    /// Computes every postponed weight gradient as one GEMM per weight over
    /// the stacked rows of all its uses: `dW += [x_1; x_2; …]ᵀ @ [dy_1; dy_2; …]`.
    /// One product with K = T·B rows instead of T products with K = B keeps
    /// the `[I, H]` accumulator out of memory traffic at every step.
    fn flush_weight_grads(&self, deferred: Vec<DeferredWeightGrad>, grads: &mut [Option<Tensor>]) {
        let mut by_weight: Vec<(Var, Vec<DeferredWeightGrad>)> = Vec::new();
        for d in deferred {
            match by_weight.iter_mut().find(|(w, _)| *w == d.weight) {
                Some((_, list)) => list.push(d),
                None => by_weight.push((d.weight, vec![d])),
            }
        }
        for (w, uses) in by_weight {
            let (k, n) = (self.value(uses[0].x).cols, uses[0].dy.cols);
            let rows: usize = uses.iter().map(|u| u.dy.rows).sum();
            let mut xs = Vec::with_capacity(rows * k);
            let mut dys = Vec::with_capacity(rows * n);
            for u in &uses {
                xs.extend_from_slice(&self.value(u.x).data);
                dys.extend_from_slice(&u.dy.data);
            }
            let wv = self.value(w);
            let slot = grads[w.0].get_or_insert_with(|| Tensor::zeros(wv.rows, wv.cols));
            gemm(MatRef::transposed(&xs, rows, k), MatRef::new(&dys, rows, n), &mut slot.data, 1.0);
        }
    }
}

impl Grads<'_, '_> {
    /// Postpones `dW += xᵀ @ dy` for parameter `weight` to the end of the
    /// pass, where all uses of the weight are done as one GEMM.
    pub fn defer_weight_grad(&mut self, weight: Var, x: Var, dy: &Tensor) {
        if self.tape.needs_grad(weight) {
            self.deferred.push(DeferredWeightGrad { weight, x, dy: dy.clone() });
        }
    }

    /// Whether `v` is a parameter leaf.
    pub fn is_param(&self, v: Var) -> bool {
        matches!(self.tape.nodes[v.0].op, Op::Param(_))
    }

    /// The gradient buffer of `v` (zeros on first use), or `None` when no
    /// gradient is needed there — rules skip that work entirely.
    pub fn get(&mut self, v: Var) -> Option<&mut Tensor> {
        if !self.tape.needs_grad(v) {
            return None;
        }
        let value = self.tape.value(v);
        let (r, c) = (value.rows, value.cols);
        Some(self.slots[v.0].get_or_insert_with(|| Tensor::zeros(r, c)))
    }

    /// Adds `delta` (same shape as `v`) into the gradient of `v`; takes the
    /// buffer as is when it is the first contribution.
    pub fn add(&mut self, v: Var, delta: Tensor) {
        if !self.tape.needs_grad(v) {
            return;
        }
        match &mut self.slots[v.0] {
            Some(acc) => acc.add_assign(&delta),
            slot @ None => *slot = Some(delta),
        }
    }
}
