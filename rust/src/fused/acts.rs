//! Buffers of the fused path, allocated once and reused every step (they
//! only grow): what the forward pass keeps for the backward pass, per layer,
//! and the per-step scratch. All activations are time-major `[T·B, width]`:
//! step `t` is the contiguous block of rows `t·B .. (t+1)·B`.

use crate::nn::config::ModelConfig;

/// Sets `v` to `n` values without shrinking its allocation. The contents are
/// stale: every user either overwrites all of it or zeroes it first.
pub fn size(v: &mut Vec<f32>, n: usize) {
    if v.len() != n {
        v.resize(n, 0.0);
    }
}

/// Sizes of one layer over one chunk.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// Sequences in the chunk.
    pub b: usize,
    /// Time steps.
    pub t: usize,
    /// Input width: E for layer 0, H after.
    pub i: usize,
    pub h: usize,
    pub rwkv: bool,
    pub moe: bool,
    /// Routed experts besides expert 0 (NE − 1 when routing is on, else 0).
    pub routed: usize,
    /// Experts routed per row: `min(topK, NE − 1)`, 0 without routing.
    pub k: usize,
    /// `out += 0.5·x` (layers after the first when L > 1).
    pub half: bool,
    /// `x @ proj_in` residual (I ≠ H) instead of `x`.
    pub proj: bool,
}

impl Dims {
    pub fn new(cfg: &ModelConfig, layer: usize, b: usize, t: usize) -> Self {
        let k = if cfg.fast_mode { 0 } else { cfg.effective_top_k() };
        let routed = if k > 0 { cfg.num_experts - 1 } else { 0 };
        let i = cfg.layer_input(layer);
        Dims {
            b,
            t,
            i,
            h: cfg.hidden_size,
            rwkv: cfg.use_rwkv,
            moe: !cfg.fast_mode,
            routed,
            k,
            half: layer > 0 && cfg.num_layers > 1,
            proj: i != cfg.hidden_size,
        }
    }

    pub fn rows(&self) -> usize {
        self.b * self.t
    }

    /// Width of expert 0's fused product: gate, up and (when routing) the router logits.
    pub fn first_width(&self) -> usize {
        4 * self.h + self.routed
    }
}

/// The RWKV values of one layer. `num`/`den` hold `T + 1` blocks: the state
/// entering each step, then the final one.
#[derive(Default, Debug)]
pub struct RwkvActs {
    /// The token-shift state entering step 0 `[B, H]`; later steps use the previous `c`.
    pub xp0: Vec<f32>,
    pub num: Vec<f32>,
    pub den: Vec<f32>,
    /// Inputs of `wk`, `wv` (the shifted candidates) `[T·B, H]`.
    pub sk: Vec<f32>,
    pub sv: Vec<f32>,
    /// `sk @ wk` before the clamp.
    pub kraw: Vec<f32>,
    pub v: Vec<f32>,
    /// `tanh(c @ time_decay_proj) | tanh(c @ time_first_proj)` `[T·B, 2H]`
    pub tdu: Vec<f32>,
    pub wkv: Vec<f32>,
    /// `σ(sr)`
    pub g: Vec<f32>,
    /// `σ(sr) ⊙ wkv`, the input of `wo`.
    pub gated: Vec<f32>,
}

/// One routed expert's rows, appended step by step.
#[derive(Default, Debug)]
pub struct RoutedActs {
    /// Chunk row (`t·B + b`) of each routed row, in order.
    pub rows: Vec<u32>,
    /// `starts[t]..starts[t + 1]` are step t's rows.
    pub starts: Vec<usize>,
    /// The normalised inputs of those rows `[R, H]`.
    pub n: Vec<f32>,
    /// `n @ [w_gate | w_up]` `[R, 4H]`
    pub gu: Vec<f32>,
    /// `silu(gate) ⊙ up` `[R, 2H]`
    pub a: Vec<f32>,
    /// The expert's output `[R, H]`
    pub y: Vec<f32>,
}

impl RoutedActs {
    /// Empties the lists and reserves room for `rows` rows (every row routed
    /// here), so that nothing inside the recurrence allocates. The products'
    /// outputs (`gu`, `a`, `y`) keep their length: every row is written
    /// before it is read, and zero-filling them again each pass (each token,
    /// in generation) cost more than the elementwise work on them.
    pub fn clear(&mut self, rows: usize, h: usize) {
        self.rows.clear();
        self.rows.reserve(rows);
        self.starts.clear();
        self.starts.push(0);
        self.n.clear();
        self.n.reserve(rows * h);
        for (v, width) in [(&mut self.gu, 4 * h), (&mut self.a, 2 * h), (&mut self.y, h)] {
            v.reserve((rows * width).saturating_sub(v.len()));
        }
    }

    /// Makes room for rows `..end` of the products' outputs (see `clear`).
    pub fn grow_outputs(&mut self, end: usize, h: usize) {
        for (v, width) in [(&mut self.gu, 4 * h), (&mut self.a, 2 * h), (&mut self.y, h)] {
            if v.len() < end * width {
                v.resize(end * width, 0.0);
            }
        }
    }
}

#[derive(Default, Debug)]
pub struct MoeActs {
    /// `rmsnorm(o1; moe.norm)` and its per-row inverse rms.
    pub n: Vec<f32>,
    pub inv_n: Vec<f32>,
    /// `n @ [wg0 | wu0 | router]` `[T·B, 4H + NE − 1]`
    pub first: Vec<f32>,
    /// Expert 0's `silu(gate) ⊙ up` `[T·B, 2H]` and output `[T·B, H]`.
    pub a0: Vec<f32>,
    pub y0: Vec<f32>,
    /// Router probabilities `[T·B, NE − 1]`.
    pub p: Vec<f32>,
    /// Mixing coefficients `[T·B, NE]`: expert 0, then each routed expert (0 if not selected).
    pub coef: Vec<f32>,
    /// The selected routed experts of each row, `k` per row.
    pub sel: Vec<u32>,
    pub experts: Vec<RoutedActs>,
}

/// Everything one layer's forward pass keeps for its backward pass.
#[derive(Default, Debug)]
pub struct LayerActs {
    /// `rmsnorm(x; input_norm)` `[T·B, I]` and per-row inverse rms.
    pub xn: Vec<f32>,
    pub inv_x: Vec<f32>,
    /// Input side `xn @ [wz | wr | wh] + [bz | br | bh]` `[T·B, 3H]`.
    pub a: Vec<f32>,
    /// `x @ proj_in` `[T·B, H]` (only when I ≠ H).
    pub skip: Vec<f32>,
    /// The previous output entering step 0 `[B, H]`; later steps use `out`.
    pub s0: Vec<f32>,
    /// `rmsnorm(s; hidden_norm)` `[T·B, H]` and per-row inverse rms.
    pub hn: Vec<f32>,
    pub inv_s: Vec<f32>,
    /// The gates `z | r` `[T·B, 2H]`.
    pub zr: Vec<f32>,
    /// `r ⊙ hn`, the input of `uh`.
    pub rh: Vec<f32>,
    /// The GRU candidate (before RWKV; the next step's `xp`).
    pub c: Vec<f32>,
    /// The candidate after `+ attn` (equal to `c` without RWKV).
    pub c2: Vec<f32>,
    /// `h + residual`, the MoE input.
    pub o1: Vec<f32>,
    /// The layer's output (and the next step's `s`).
    pub out: Vec<f32>,
    pub rwkv: RwkvActs,
    pub moe: MoeActs,
}

impl LayerActs {
    /// Sizes every buffer for `d` (no allocation when it fits already).
    pub fn size_for(&mut self, d: &Dims) {
        let (rows, b, h) = (d.rows(), d.b, d.h);
        size(&mut self.xn, rows * d.i);
        size(&mut self.inv_x, rows);
        size(&mut self.a, rows * 3 * h);
        size(&mut self.skip, if d.proj { rows * h } else { 0 });
        size(&mut self.s0, b * h);
        for v in [&mut self.hn, &mut self.rh, &mut self.c, &mut self.c2, &mut self.o1, &mut self.out] {
            size(v, rows * h);
        }
        size(&mut self.inv_s, rows);
        size(&mut self.zr, rows * 2 * h);
        let r = &mut self.rwkv;
        let rw = if d.rwkv { 1 } else { 0 };
        size(&mut r.xp0, rw * b * h);
        size(&mut r.num, rw * (rows + b) * h);
        size(&mut r.den, rw * (rows + b) * h);
        for v in [&mut r.sk, &mut r.sv, &mut r.kraw, &mut r.v, &mut r.wkv, &mut r.g, &mut r.gated] {
            size(v, rw * rows * h);
        }
        size(&mut r.tdu, rw * rows * 2 * h);
        let m = &mut self.moe;
        let mo = if d.moe { 1 } else { 0 };
        size(&mut m.n, mo * rows * h);
        size(&mut m.inv_n, mo * rows);
        size(&mut m.first, mo * rows * d.first_width());
        size(&mut m.a0, mo * rows * 2 * h);
        size(&mut m.y0, mo * rows * h);
        size(&mut m.p, rows * d.routed);
        size(&mut m.coef, if d.routed > 0 { rows * (d.routed + 1) } else { 0 });
        m.sel.resize(rows * d.k, 0);
        m.experts.resize_with(d.routed, RoutedActs::default);
        for e in &mut m.experts {
            e.clear(rows, h);
        }
    }
}

/// Per-step scratch of the forward pass, each `[B, ·]`.
#[derive(Default, Debug)]
pub struct StepScratch {
    /// `hn @ [uz | ur]` `[B, 2H]`
    pub hzr: Vec<f32>,
    /// `(r ⊙ hn) @ uh` `[B, H]`
    pub hh: Vec<f32>,
    /// `c @ [time_decay_proj | time_first_proj]` `[B, 2H]`
    pub heads: Vec<f32>,
    /// `gated @ wo` `[B, H]`
    pub attn: Vec<f32>,
    /// The MoE output `[B, H]`
    pub moe: Vec<f32>,
}

impl StepScratch {
    pub fn size_for(&mut self, d: &Dims) {
        let (b, h) = (d.b, d.h);
        size(&mut self.hzr, b * 2 * h);
        size(&mut self.hh, b * h);
        size(&mut self.heads, b * 2 * h);
        size(&mut self.attn, b * h);
        size(&mut self.moe, b * h);
    }
}
