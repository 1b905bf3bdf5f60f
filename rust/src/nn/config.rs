//! The model configuration (the checkpoint's `config` record, field for field)
//! and the parameter list it implies: names, shapes and the flat order.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most layers, experts, vocabulary and parameters a configuration may have.
pub const MAX_LAYERS: usize = 1024;
pub const MAX_EXPERTS: usize = 1024;
pub const MAX_VOCAB: usize = u32::MAX as usize;
pub const MAX_PARAMS: usize = 1 << 34;

/// Field order is the checkpoint's byte order (bincode 1.x, 58 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub embed_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub fast_mode: bool,
    pub use_rwkv: bool,
    pub num_experts: usize,
    /// The raw option; the model uses `min(top_k, num_experts − 1)`.
    pub top_k: usize,
    pub num_heads: usize,
}

/// One parameter tensor: its name (MODEL.md) and shape (`[n]` or `[rows, cols]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl ParamSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The shape as a matrix: vectors are `[1, n]`.
    pub fn matrix(&self) -> (usize, usize) {
        match self.shape[..] {
            [n] => (1, n),
            [r, c] => (r, c),
            _ => unreachable!("parameters are vectors or matrices"),
        }
    }
}

impl ModelConfig {
    /// Rejects configurations that cannot describe a model, with the reason.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("embed_size", self.embed_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("num_experts", self.num_experts),
            ("num_heads", self.num_heads),
        ];
        for (name, v) in sizes {
            if v == 0 {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(Error::Config(format!(
                "hidden_size {} is not divisible by num_heads {}",
                self.hidden_size, self.num_heads
            )));
        }
        // Bounds far beyond any model this core can train, so that a crafted
        // checkpoint cannot make the loader build millions of parameter names.
        for (name, v, max) in
            [("num_layers", self.num_layers, MAX_LAYERS), ("num_experts", self.num_experts, MAX_EXPERTS)]
        {
            if v > max {
                return Err(Error::Config(format!("{name} {v} is more than rnnpy supports (at most {max})")));
            }
        }
        if self.vocab_size > MAX_VOCAB {
            return Err(Error::Config(format!(
                "vocab_size {} does not fit 32-bit token ids (at most {MAX_VOCAB})",
                self.vocab_size
            )));
        }
        // Guard against sizes that would overflow or exhaust memory.
        let too_many =
            || Error::Config(format!("a model with {} would have more than {MAX_PARAMS} parameters", self.describe()));
        let n = self.try_num_params().ok_or_else(too_many)?;
        if n > MAX_PARAMS {
            return Err(too_many());
        }
        Ok(())
    }

    /// "vocab 65, embed 16, hidden 32, 1 layer(s), 4 expert(s)": the sizes, for messages.
    pub fn describe(&self) -> String {
        format!(
            "vocab {}, embed {}, hidden {}, {} layer(s), {} expert(s)",
            self.vocab_size, self.embed_size, self.hidden_size, self.num_layers, self.num_experts
        )
    }

    /// "a model of 36,240 parameters (vocab 20, ...)": a valid model, for messages.
    pub fn describe_model(&self) -> String {
        format!("a model of {} parameters ({})", crate::memory::grouped(self.num_params() as u128), self.describe())
    }

    /// Bytes a model takes to be used: its parameters and the packed copy
    /// generation and `logits` run on.
    pub fn model_bytes(&self) -> u128 {
        2 * 4 * self.num_params() as u128
    }

    /// Bytes training takes with batches of `b` sequences of `t` tokens: the
    /// parameters, AdamW's two moments, the summed gradient, the packed
    /// weights and their transposes, one gradient per data-parallel chunk,
    /// the epoch snapshot the training loop keeps (weights and moments), and
    /// the activations of `B·T` rows (`fused/acts.rs`, both passes).
    pub fn training_bytes(&self, b: usize, t: usize) -> u128 {
        let n = self.num_params() as u128;
        let chunks = b.div_ceil(crate::nn::model::chunk_rows(b)) as u128;
        let floats = (9 + chunks) * n + (b as u128) * (t as u128) * self.floats_per_row();
        4 * floats
    }

    /// Activation floats one position keeps across the forward and backward
    /// passes (an upper bound of `LayerActs`, `LayerGrads` and the head's buffers).
    fn floats_per_row(&self) -> u128 {
        let (e, h, v) = (self.embed_size as u128, self.hidden_size as u128, self.vocab_size as u128);
        let routed = self.num_experts.saturating_sub(1) as u128;
        let k = self.effective_top_k() as u128;
        let mut per_row = e + 2 * h + 2 * v; // x0, the head's norm and logits (and their gradient)
        for l in 0..self.num_layers {
            let i = self.layer_input(l) as u128;
            per_row += 2 * i + 13 * h; // input side, GRU gates and outputs, and their gradients
            if self.use_rwkv {
                per_row += 15 * h;
            }
            if !self.fast_mode {
                // expert 0, the router, and the rows every routed expert reserves
                per_row += 16 * h + 4 * routed + routed * 8 * h + k * 5 * h;
            }
        }
        per_row + 20 * h // the backward buffers shared by the layers
    }

    /// `Err(Error::Memory)` when the model itself does not fit.
    pub fn check_model_memory(&self) -> Result<()> {
        crate::memory::ensure(self.model_bytes(), || self.describe_model())
    }

    /// `Err(Error::Memory)` when one pass over `b × t` positions (logits, a
    /// loss, a gradient) needs more memory than is available.
    pub fn check_pass_memory(&self, doing: &str, b: usize, t: usize) -> Result<()> {
        let bytes = 4 * (b as u128) * (t as u128) * self.floats_per_row() + 4 * self.num_params() as u128;
        crate::memory::ensure(bytes, || format!("{doing} {b} x {t} tokens with {}", self.describe_model()))
    }

    /// `Err(Error::Memory)` when training with batches of `b × t` needs more
    /// memory than the machine has: a model a user typed is refused up front.
    pub fn check_training_memory(&self, b: usize, t: usize) -> Result<()> {
        let what = || format!("training {} on batches of {b} x {t} tokens", self.describe_model());
        crate::memory::ensure(self.training_bytes(b, t), what)
    }

    /// `min(top_k, num_experts − 1)`: how many routed experts join expert 0.
    pub fn effective_top_k(&self) -> usize {
        self.top_k.min(self.num_experts.saturating_sub(1))
    }

    /// Input width of layer `l`: E for layer 0, H after.
    pub fn layer_input(&self, l: usize) -> usize {
        if l == 0 {
            self.embed_size
        } else {
            self.hidden_size
        }
    }

    /// Every parameter in the checkpoint's flat order.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let (v, e, h) = (self.vocab_size, self.embed_size, self.hidden_size);
        let mut out = Vec::new();
        let mut add = |name: String, shape: &[usize]| out.push(ParamSpec { name, shape: shape.to_vec() });
        add("embedding.weight".into(), &[v, e]);
        for l in 0..self.num_layers {
            let i = self.layer_input(l);
            let c = |n: &str| format!("layers.{l}.cell.{n}");
            for gate in ["z", "r", "h"] {
                add(c(&format!("w{gate}")), &[i, h]);
                add(c(&format!("u{gate}")), &[h, h]);
                add(c(&format!("b{gate}")), &[h]);
            }
            add(c("input_norm"), &[i]);
            add(c("hidden_norm"), &[h]);
            if self.use_rwkv {
                for n in ["wk", "wv", "wo", "time_decay_proj", "time_first_proj"] {
                    add(c(n), &[h, h]);
                }
                for n in ["time_decay", "time_first", "mix_k", "mix_v", "mix_r"] {
                    add(c(n), &[h]);
                }
            }
            if !self.fast_mode {
                add(format!("layers.{l}.moe.norm"), &[h]);
                for x in 0..self.num_experts {
                    let m = |n: &str| format!("layers.{l}.moe.experts.{x}.{n}");
                    add(m("w_gate"), &[h, 2 * h]);
                    add(m("w_up"), &[h, 2 * h]);
                    add(m("w_down"), &[2 * h, h]);
                }
                if self.num_experts > 1 {
                    add(format!("layers.{l}.moe.router"), &[h, self.num_experts - 1]);
                }
            }
            if i != h {
                add(format!("layers.{l}.proj_in"), &[i, h]);
            }
        }
        add("output_norm".into(), &[h]);
        add("output_proj".into(), &[h, v]);
        out
    }

    /// The parameter holding value `i` of the flat order, as `name[offset]`.
    pub fn param_name(&self, i: usize) -> String {
        let mut start = 0;
        for spec in self.param_specs() {
            if i < start + spec.numel() {
                return format!("{}[{}]", spec.name, i - start);
            }
            start += spec.numel();
        }
        format!("value {i}")
    }

    fn try_num_params(&self) -> Option<usize> {
        let (v, e, h, ne) = (self.vocab_size, self.embed_size, self.hidden_size, self.num_experts);
        let hh = h.checked_mul(h)?;
        let mut n = v.checked_mul(e)?;
        if self.num_layers > MAX_LAYERS {
            return None;
        }
        for l in 0..self.num_layers {
            let i = self.layer_input(l);
            n = n.checked_add(i.checked_mul(h)?.checked_mul(3)?)?;
            n = n.checked_add(hh.checked_mul(3)?)?.checked_add(3 * h + i + h)?;
            if self.use_rwkv {
                n = n.checked_add(hh.checked_mul(5)?)?.checked_add(5 * h)?;
            }
            if !self.fast_mode {
                n = n.checked_add(h)?.checked_add(hh.checked_mul(6)?.checked_mul(ne)?)?;
                if ne > 1 {
                    n = n.checked_add(h.checked_mul(ne - 1)?)?;
                }
            }
            if i != h {
                n = n.checked_add(i.checked_mul(h)?)?;
            }
        }
        n.checked_add(h)?.checked_add(h.checked_mul(v)?)
    }

    /// Total number of parameters (the checkpoint's N).
    pub fn num_params(&self) -> usize {
        self.try_num_params().expect("validated configuration")
    }

    /// Parameters used per token: all but the routed experts that are not selected.
    pub fn active_params(&self) -> usize {
        if self.fast_mode {
            return self.num_params();
        }
        let h = self.hidden_size;
        let idle = self.num_experts - 1 - self.effective_top_k();
        self.num_params() - self.num_layers * idle * 6 * h * h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn defaults(v: usize) -> ModelConfig {
        ModelConfig {
            vocab_size: v,
            embed_size: 16,
            hidden_size: 32,
            num_layers: 1,
            fast_mode: false,
            use_rwkv: true,
            num_experts: 4,
            top_k: 1,
            num_heads: 4,
        }
    }

    #[test]
    fn default_count_matches_the_spec() {
        // MODEL.md: "With the defaults and V = 20 that is 36,240 numbers."
        let c = defaults(20);
        assert_eq!(c.num_params(), 36_240);
        assert_eq!(c.param_specs().iter().map(ParamSpec::numel).sum::<usize>(), 36_240);
    }

    #[test]
    fn counts_agree_with_specs_across_variants() {
        for (layers, e, ne, fast, rwkv) in [(2, 24, 3, false, true), (3, 32, 1, true, false), (2, 8, 2, false, false)] {
            let c = ModelConfig {
                num_layers: layers,
                embed_size: e,
                num_experts: ne,
                fast_mode: fast,
                use_rwkv: rwkv,
                ..defaults(11)
            };
            assert_eq!(c.num_params(), c.param_specs().iter().map(ParamSpec::numel).sum::<usize>());
        }
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(
            matches!(ModelConfig { num_heads: 5, ..defaults(20) }.validate(), Err(Error::Config(m)) if m.contains("divisible"))
        );
        assert!(ModelConfig { hidden_size: 0, ..defaults(20) }.validate().is_err());
        assert!(ModelConfig { vocab_size: 0, ..defaults(20) }.validate().is_err());
        assert!(ModelConfig { hidden_size: usize::MAX / 2, num_heads: 1, ..defaults(20) }.validate().is_err());
        assert!(defaults(20).validate().is_ok());
    }
}
