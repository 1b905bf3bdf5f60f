//! The autodiff engine: dense row-major f32 matrices, a tape that records
//! every op with what its backward needs, and the kernels behind the ops.
//!
//! Everything is a matrix `[rows, cols]`; a vector of width N is `[1, N]`.
//! Batched activations are time-major: row `t * B + b` is sequence `b` at
//! time `t`, so one time step is a contiguous block of `B` rows.

pub mod gemm;
pub mod kernels;
pub mod ops;
pub mod tape;
pub mod tensor;

pub use tape::{Tape, Var};
pub use tensor::Tensor;
