//! AdamW and global-norm gradient clipping, as the old program (MODEL.md,
//! "Training semantics").

pub mod adamw;
pub mod clip;

pub use adamw::AdamW;
pub use clip::{clip_flat, clip_global_norm};
