"""Exact gradients: `Model.loss_and_grad` against central finite differences of
`Model.loss`, for every shape variant of the model.

The loss is computed in float32, so each evaluation carries ~1e-6 of rounding;
with a step h = 1e-2 along a unit direction that is ~1e-4 in the difference
quotient, and the truncation error h²/6·f''' is of the same order. So we
compare directional derivatives along directions where the derivative is large
(the gradient direction itself, and that mixed with a random direction) and
accept |numeric − analytic| ≤ 3e-2·|analytic| + 5e-4. A wrong backward rule (a
missing term, a wrong sign, a factor) moves the analytic value far outside
that band; `test_checker_rejects_a_wrong_gradient` proves the band is tight
enough. Routing (top-k) and the clamp make the loss piecewise smooth: when the
estimates at h and h/2 disagree the direction straddles a switch, and another
random direction is drawn.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy

VARIANTS = [
    # (layers, E, H, experts, top_k, fast, rwkv)
    dict(num_layers=1, embed_size=6, hidden_size=8, num_experts=4, top_k=1, fast_mode=False, use_rwkv=True),
    dict(num_layers=1, embed_size=8, hidden_size=8, num_experts=3, top_k=2, fast_mode=False, use_rwkv=True),
    dict(num_layers=2, embed_size=6, hidden_size=8, num_experts=3, top_k=2, fast_mode=False, use_rwkv=True),
    dict(num_layers=3, embed_size=8, hidden_size=8, num_experts=2, top_k=1, fast_mode=False, use_rwkv=False),
    dict(num_layers=1, embed_size=6, hidden_size=8, num_experts=1, top_k=1, fast_mode=False, use_rwkv=True),
    dict(num_layers=1, embed_size=6, hidden_size=8, num_experts=4, top_k=0, fast_mode=False, use_rwkv=True),
    dict(num_layers=1, embed_size=6, hidden_size=8, num_experts=4, top_k=3, fast_mode=False, use_rwkv=True),
    dict(num_layers=2, embed_size=6, hidden_size=8, num_experts=4, top_k=1, fast_mode=True, use_rwkv=True),
    dict(num_layers=1, embed_size=8, hidden_size=8, num_experts=4, top_k=1, fast_mode=True, use_rwkv=False),
    dict(num_layers=2, embed_size=4, hidden_size=8, num_experts=2, top_k=5, fast_mode=False, use_rwkv=False),
]

REL, ABS = 3e-2, 5e-4


def _batch(v: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, v, size=(2, 7))
    y = rng.integers(0, v, size=(2, 7))
    return x, y


def _directional(model, name, base, d, x, y, h):
    model.set_parameters({name: base + h * d})
    lp = model.loss(x, y)
    model.set_parameters({name: base - h * d})
    lm = model.loss(x, y)
    model.set_parameters({name: base})
    return (lp - lm) / (2 * h)


def check_model_gradients(model, x, y, rng, scale=1.0):
    """Returns the list of (name, numeric, analytic) mismatches."""
    _, grads = model.loss_and_grad(x, y)
    params = model.parameters()
    bad = []
    for name, base in params.items():
        g = grads[name].astype(np.float64) * scale
        gn = np.linalg.norm(g)
        if gn < 1e-6:
            continue
        ghat = g / gn
        for kind in ("grad", "mix+", "mix-"):
            for _attempt in range(4):
                r = rng.standard_normal(base.shape)
                r /= np.linalg.norm(r)
                d = ghat if kind == "grad" else ghat + (r if kind == "mix+" else -r)
                d = (d / np.linalg.norm(d)).astype(np.float32)
                ana = float(np.sum(g * d))
                num1 = _directional(model, name, base, d, x, y, 1e-2)
                num2 = _directional(model, name, base, d, x, y, 5e-3)
                if abs(num1 - num2) <= REL * abs(num1) + ABS:
                    break  # smooth along d
            if abs(num1 - ana) > REL * abs(ana) + ABS:
                bad.append((name, kind, num1, ana))
    return bad


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k[:4]}{int(x)}" for k, x in v.items()))
def test_gradients_match_finite_differences(variant):
    rng = np.random.default_rng(1)
    v = 11
    cfg = rnnpy.ModelConfig(vocab_size=v, num_heads=2, **variant)
    model = rnnpy.Model(cfg, seed=3)
    # Larger output weights make every gradient sizeable.
    p = model.parameters()
    model.set_parameters({"output_proj": p["output_proj"] * 4})
    x, y = _batch(v, rng)
    bad = check_model_gradients(model, x, y, rng)
    assert not bad, f"gradient mismatches (name, direction, numeric, analytic): {bad[:6]}"


def test_checker_rejects_a_wrong_gradient():
    rng = np.random.default_rng(2)
    cfg = rnnpy.ModelConfig(vocab_size=11, embed_size=6, hidden_size=8, num_heads=2)
    model = rnnpy.Model(cfg, seed=3)
    x, y = _batch(11, rng)
    assert check_model_gradients(model, x, y, rng, scale=1.0) == []
    # A gradient off by 10% everywhere must be caught for (nearly) every tensor.
    bad = check_model_gradients(model, x, y, rng, scale=1.1)
    assert len({b[0] for b in bad}) >= len(model.parameters()) // 2
