//! The model of `spec/MODEL.md`: configuration and parameter layout, seeded
//! initialisation, and the batched forward pass recorded on a tape.

pub mod cell;
pub mod config;
pub mod init;
pub mod model;
pub mod moe;
pub mod params;
pub mod reference;

pub use config::ModelConfig;
pub use model::Model;
