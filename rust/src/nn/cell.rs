//! One layer over a whole time-major batch: input-side projections as single
//! GEMMs over all T·B rows, then the recurrence step by step (GRU gates, RWKV
//! token shift and WKV state, the residual, the MoE block).

use super::config::ModelConfig;
use super::moe::moe_block;
use super::params::LayerIndex;
use crate::engine::{Tape, Tensor, Var};

/// A layer's recurrent state for B sequences: the previous output `s [B, H]`
/// and, with RWKV, `num`, `den`, `xp [B, H]`.
#[derive(Clone, Copy, Debug)]
pub struct LayerState {
    pub s: Var,
    pub rwkv: Option<(Var, Var, Var)>,
}

impl LayerState {
    pub fn zeros(tape: &mut Tape, cfg: &ModelConfig, b: usize) -> Self {
        let h = cfg.hidden_size;
        let mut z = || tape.constant(Tensor::zeros(b, h));
        let s = z();
        let rwkv = if cfg.use_rwkv { Some((z(), z(), z())) } else { None };
        LayerState { s, rwkv }
    }
}

/// Layer `l` over `x [T·B, I]` (time-major), from `state`. Returns the outputs
/// `[T·B, H]` and the state after the last step.
pub fn layer_forward(
    tape: &mut Tape,
    cfg: &ModelConfig,
    p: &LayerIndex,
    l: usize,
    x: Var,
    b: usize,
    mut state: LayerState,
) -> (Var, LayerState) {
    let t = tape.value(x).rows / b;
    // Input side, all positions at once: xn [T·B, I] -> a_z, a_r, a_h [T·B, H].
    let xn = {
        let g = tape.param(p.input_norm);
        tape.rmsnorm(x, g)
    };
    let mut project = |w: usize, bias: usize| {
        let (w, bias) = (tape.param(w), tape.param(bias));
        let y = tape.matmul(xn, w);
        tape.add_row(y, bias)
    };
    let (a_z, a_r, a_h) = (project(p.wz, p.bz), project(p.wr, p.br), project(p.wh, p.bh));
    let skip = match p.proj_in {
        Some(w) => {
            let w = tape.param(w);
            tape.matmul(x, w)
        }
        None => x,
    };
    let residual_half = l > 0 && cfg.num_layers > 1;

    let mut outs = Vec::with_capacity(t);
    for step in 0..t {
        let rows = |tape: &mut Tape, v: Var| tape.slice_rows(v, step * b, b);
        let inputs = StepInputs {
            a_z: rows(tape, a_z),
            a_r: rows(tape, a_r),
            a_h: rows(tape, a_h),
            skip: rows(tape, skip),
            x_half: if residual_half { Some(rows(tape, x)) } else { None },
        };
        let (out, next) = step_forward(tape, cfg, p, &inputs, state);
        outs.push(out);
        state = next;
    }
    let out = if outs.len() == 1 { outs[0] } else { tape.concat_rows(outs) };
    (out, state)
}

/// One time step's slices of the input-side projections, each `[B, H]`
/// (`x_half` is the raw layer input `[B, I]`, only for layers > 0).
struct StepInputs {
    a_z: Var,
    a_r: Var,
    a_h: Var,
    skip: Var,
    x_half: Option<Var>,
}

fn step_forward(
    tape: &mut Tape,
    cfg: &ModelConfig,
    p: &LayerIndex,
    x: &StepInputs,
    st: LayerState,
) -> (Var, LayerState) {
    let s = st.s;
    let hn = {
        let g = tape.param(p.hidden_norm);
        tape.rmsnorm(s, g)
    };
    let mm = |tape: &mut Tape, a: Var, w: usize| {
        let w = tape.param(w);
        tape.matmul(a, w)
    };
    // GRU gates: z, r = σ(a + hn @ u), c = tanh(a_h + (r ⊙ hn) @ uh).
    let hz = mm(tape, hn, p.uz);
    let z = tape.add_sigmoid(x.a_z, hz);
    let hr = mm(tape, hn, p.ur);
    let r = tape.add_sigmoid(x.a_r, hr);
    let rh = tape.mul(r, hn);
    let hh = mm(tape, rh, p.uh);
    let mut c = tape.add_tanh(x.a_h, hh);

    let mut rwkv_state = None;
    if let (Some(q), Some((num, den, xp))) = (&p.rwkv, st.rwkv) {
        let shift = |tape: &mut Tape, mix: usize| {
            let m = tape.param(mix);
            tape.lerp(xp, c, m)
        };
        let (sk, sv, sr) = (shift(tape, q.mix_k), shift(tape, q.mix_v), shift(tape, q.mix_r));
        let k_raw = mm(tape, sk, q.wk);
        let k = tape.clamp(k_raw, -10.0, 10.0);
        let v = mm(tape, sv, q.wv);
        let w_raw = mm(tape, c, q.time_decay_proj);
        let td = tape.param(q.time_decay);
        let w = tape.bias_tanh(w_raw, td, 0.5);
        let u_raw = mm(tape, c, q.time_first_proj);
        let tf = tape.param(q.time_first);
        let u = tape.bias_tanh(u_raw, tf, 0.3);
        let wkv = tape.wkv_out(k, v, u, num, den);
        let num2 = tape.wkv_num(w, k, v, num);
        let den2 = tape.wkv_den(w, k, den);
        rwkv_state = Some((num2, den2, c)); // xp' = the candidate before the update below
        let gate = tape.sigmoid(sr);
        let gated = tape.mul(gate, wkv);
        let attn = mm(tape, gated, q.wo);
        c = tape.add(c, attn);
    }

    // h = (1 − z) ⊙ s + z ⊙ c, then the residual from the layer input.
    let h = tape.lerp(s, c, z);
    let mut out = tape.add(h, x.skip);
    if let Some(moe) = &p.moe {
        let y = moe_block(tape, cfg, moe, out);
        out = tape.add(out, y);
    }
    if let Some(xh) = x.x_half {
        let half = tape.scale(xh, 0.5);
        out = tape.add(out, half);
    }
    (out, LayerState { s: out, rwkv: rwkv_state })
}
