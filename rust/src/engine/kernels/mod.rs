//! Hand-written kernels of the fused path: instruction-set detection, GEMM
//! micro-kernels over packed weight panels, and vectorisable math.

pub mod gemm;
pub mod isa;
mod microkernel;
pub mod peak;
pub mod vmath;

pub use gemm::{matmul, matmul_packed, Packed};
pub use isa::Isa;
