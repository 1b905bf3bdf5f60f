//! Reinforcement learning with verifiable rewards: the numerical half of
//! GRPO. Python draws prompts and scores completions; this module samples
//! groups of completions (`sample`) and computes per-token log-probs and the
//! clipped GRPO loss with its exact gradient (`grpo`).

pub mod grpo;
pub mod sample;

pub use grpo::{
    grpo_gradient, grpo_loss_and_grad, reference_grpo_loss_and_grad, reference_token_log_probs, token_log_probs,
    GrpoBatch, GrpoConfig, GrpoStats,
};
pub use sample::{sample_groups, Completion, SampleConfig};
