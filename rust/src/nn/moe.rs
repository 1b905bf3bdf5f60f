//! The mixture-of-experts block of one step: expert 0 on every row, plus the
//! top-k routed experts, each run once over exactly the rows routed to it.

use super::config::ModelConfig;
use super::params::{ExpertIndex, MoeIndex};
use crate::engine::ops::moe::{top_k, ExpertPart};
use crate::engine::{Tape, Var};

/// SwiGLU expert: `(silu(n @ w_gate) ⊙ (n @ w_up)) @ w_down`, `n [R, H] -> [R, H]`.
fn expert(tape: &mut Tape, e: &ExpertIndex, n: Var) -> Var {
    let (wg, wu, wd) = (tape.param(e.w_gate), tape.param(e.w_up), tape.param(e.w_down));
    let gate = tape.matmul(n, wg);
    let up = tape.matmul(n, wu);
    let a = tape.swiglu(gate, up);
    tape.matmul(a, wd)
}

/// `moe(out)` for `out [B, H]` (MODEL.md, "Mixture of experts").
pub fn moe_block(tape: &mut Tape, cfg: &ModelConfig, p: &MoeIndex, out: Var) -> Var {
    let n = {
        let g = tape.param(p.norm);
        tape.rmsnorm(out, g)
    };
    let y0 = expert(tape, &p.experts[0], n);
    let k = cfg.effective_top_k();
    let Some(router) = p.router.filter(|_| k > 0) else {
        return y0;
    };
    let w = tape.param(router);
    let logits = tape.matmul(n, w);
    let probs = tape.router_softmax(logits);
    let pv = tape.value(probs);
    let selected: Vec<Vec<usize>> = (0..pv.rows).map(|b| top_k(pv.row(b), k)).collect();
    let b = pv.rows;
    let coef = tape.moe_gates(probs, selected.clone());

    let mut parts = vec![ExpertPart { y: y0, col: 0, rows: (0..b).collect() }];
    for j in 0..p.experts.len() - 1 {
        let rows: Vec<usize> = (0..b).filter(|&r| selected[r].contains(&j)).collect();
        if rows.is_empty() {
            continue;
        }
        let routed = if rows.len() == b { n } else { tape.gather_rows(n, rows.clone()) };
        let y = expert(tape, &p.experts[j + 1], routed);
        parts.push(ExpertPart { y, col: j + 1, rows });
    }
    tape.moe_combine(coef, parts)
}
