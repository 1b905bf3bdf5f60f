//! rnnpy core: a tape-based autodiff engine over dense f32 tensors, the
//! GRU + RWKV + MoE recurrent language model of `spec/MODEL.md`, AdamW, and the
//! bincode checkpoint format of `spec/CHECKPOINT.md`.
//!
//! The core never prints and never touches Python; `python/` (behind the
//! `python` feature, enabled only by maturin) is a thin binding layer.

pub mod checkpoint;
pub mod engine;
pub mod error;
pub mod fused;
pub mod generate;
pub mod interrupt;
pub mod memory;
pub mod nn;
pub mod optim;
pub mod rl;
pub mod train;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
