//! Where each parameter sits in the flat list, resolved once by name so the
//! forward pass indexes by number.

use std::collections::HashMap;

use super::config::{ModelConfig, ParamSpec};

/// Indices (into the flat parameter list) of one layer's tensors.
#[derive(Clone, Debug)]
pub struct LayerIndex {
    pub wz: usize,
    pub uz: usize,
    pub bz: usize,
    pub wr: usize,
    pub ur: usize,
    pub br: usize,
    pub wh: usize,
    pub uh: usize,
    pub bh: usize,
    pub input_norm: usize,
    pub hidden_norm: usize,
    pub rwkv: Option<RwkvIndex>,
    pub moe: Option<MoeIndex>,
    pub proj_in: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct RwkvIndex {
    pub wk: usize,
    pub wv: usize,
    pub wo: usize,
    pub time_decay_proj: usize,
    pub time_first_proj: usize,
    pub time_decay: usize,
    pub time_first: usize,
    pub mix_k: usize,
    pub mix_v: usize,
    pub mix_r: usize,
}

#[derive(Clone, Debug)]
pub struct ExpertIndex {
    pub w_gate: usize,
    pub w_up: usize,
    pub w_down: usize,
}

#[derive(Clone, Debug)]
pub struct MoeIndex {
    pub norm: usize,
    pub experts: Vec<ExpertIndex>,
    pub router: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct ParamIndex {
    pub embedding: usize,
    pub layers: Vec<LayerIndex>,
    pub output_norm: usize,
    pub output_proj: usize,
}

impl ParamIndex {
    pub fn new(config: &ModelConfig, specs: &[ParamSpec]) -> Self {
        // One map, so resolving every name is linear in the parameter count
        // (a search per name was quadratic: 8,000 layers took 17 s to load).
        let position: HashMap<&str, usize> = specs.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let find = |name: String| {
            *position.get(name.as_str()).unwrap_or_else(|| panic!("parameter {name} missing from the layout"))
        };
        let layers = (0..config.num_layers)
            .map(|l| {
                let c = |n: &str| find(format!("layers.{l}.cell.{n}"));
                let rwkv = config.use_rwkv.then(|| RwkvIndex {
                    wk: c("wk"),
                    wv: c("wv"),
                    wo: c("wo"),
                    time_decay_proj: c("time_decay_proj"),
                    time_first_proj: c("time_first_proj"),
                    time_decay: c("time_decay"),
                    time_first: c("time_first"),
                    mix_k: c("mix_k"),
                    mix_v: c("mix_v"),
                    mix_r: c("mix_r"),
                });
                let moe = (!config.fast_mode).then(|| MoeIndex {
                    norm: find(format!("layers.{l}.moe.norm")),
                    experts: (0..config.num_experts)
                        .map(|e| {
                            let m = |n: &str| find(format!("layers.{l}.moe.experts.{e}.{n}"));
                            ExpertIndex { w_gate: m("w_gate"), w_up: m("w_up"), w_down: m("w_down") }
                        })
                        .collect(),
                    router: (config.num_experts > 1).then(|| find(format!("layers.{l}.moe.router"))),
                });
                LayerIndex {
                    wz: c("wz"),
                    uz: c("uz"),
                    bz: c("bz"),
                    wr: c("wr"),
                    ur: c("ur"),
                    br: c("br"),
                    wh: c("wh"),
                    uh: c("uh"),
                    bh: c("bh"),
                    input_norm: c("input_norm"),
                    hidden_norm: c("hidden_norm"),
                    rwkv,
                    moe,
                    proj_in: (config.layer_input(l) != config.hidden_size).then(|| find(format!("layers.{l}.proj_in"))),
                }
            })
            .collect();
        ParamIndex {
            embedding: find("embedding.weight".into()),
            layers,
            output_norm: find("output_norm".into()),
            output_proj: find("output_proj".into()),
        }
    }
}
