//! The model configuration (the checkpoint's `config` record, field for field)
//! and the parameter list it implies: names, shapes and the flat order.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
        // Guard against sizes that would overflow or exhaust memory.
        let n = self.try_num_params().ok_or_else(|| Error::Config("the model is too large".into()))?;
        if n > (1usize << 34) {
            return Err(Error::Config(format!("the model would have {n} parameters, too many")));
        }
        Ok(())
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

    fn try_num_params(&self) -> Option<usize> {
        let (v, e, h, ne) = (self.vocab_size, self.embed_size, self.hidden_size, self.num_experts);
        let hh = h.checked_mul(h)?;
        let mut n = v.checked_mul(e)?;
        for l in 0..self.num_layers.min(1 << 16) {
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
        if self.num_layers > 1 << 16 {
            return None;
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
