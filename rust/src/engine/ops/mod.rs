//! Ops, one file per family. Each file holds the forward constructors (as
//! `impl Tape` methods) and, next to them, the backward rules.

pub mod elementwise;
pub mod fused;
pub mod linalg;
pub mod moe;
pub mod par;
pub mod rl;
pub mod shape;
