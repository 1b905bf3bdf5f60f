//! The fused path: the model of `spec/MODEL.md` forward and backward with one
//! fused kernel per layer per time step instead of a tape node per op.
//!
//! The tape in `engine/` + `nn/` is the reference: every op there has its
//! finite-difference check, and this path is checked against it (logits,
//! loss and every gradient, over many configurations), against finite
//! differences directly, and for the same bits on every instruction set.
//! See docs/engine.md, "The fused path".

pub mod acts;
pub mod backward;
pub mod batch;
pub mod forward;
pub mod kernels;
pub mod model;
pub mod weights;
