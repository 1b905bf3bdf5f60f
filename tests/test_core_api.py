"""The Python API of the core: names, shapes, validation messages, training."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy

SPEC_ORDER_DEFAULT = [
    "embedding.weight",
    "layers.0.cell.wz", "layers.0.cell.uz", "layers.0.cell.bz",
    "layers.0.cell.wr", "layers.0.cell.ur", "layers.0.cell.br",
    "layers.0.cell.wh", "layers.0.cell.uh", "layers.0.cell.bh",
    "layers.0.cell.input_norm", "layers.0.cell.hidden_norm",
    "layers.0.cell.wk", "layers.0.cell.wv", "layers.0.cell.wo",
    "layers.0.cell.time_decay_proj", "layers.0.cell.time_first_proj",
    "layers.0.cell.time_decay", "layers.0.cell.time_first",
    "layers.0.cell.mix_k", "layers.0.cell.mix_v", "layers.0.cell.mix_r",
    "layers.0.moe.norm",
    *[f"layers.0.moe.experts.{e}.{w}" for e in range(4) for w in ("w_gate", "w_up", "w_down")],
    "layers.0.moe.router",
    "layers.0.proj_in",
    "output_norm", "output_proj",
]  # fmt: skip


def small(**kw) -> rnnpy.ModelConfig:
    base = dict(vocab_size=20, embed_size=16, hidden_size=32, num_layers=1, num_heads=4, num_experts=4, top_k=1)
    base.update(kw)
    return rnnpy.ModelConfig(**base)


def test_parameter_names_order_and_shapes():
    model = rnnpy.Model(small(), seed=0)
    params = model.parameters()
    assert list(params) == SPEC_ORDER_DEFAULT
    assert sum(p.size for p in params.values()) == 36_240  # MODEL.md
    assert params["layers.0.moe.router"].shape == (32, 3)
    assert params["layers.0.cell.bz"].shape == (32,)
    assert all(p.dtype == np.float32 for p in params.values())


def test_initialisation_follows_the_table():
    cfg = small(vocab_size=65, embed_size=64, hidden_size=128)
    p = rnnpy.Model(cfg, seed=0).parameters()
    h, e, v = 128, 64, 65
    assert np.std(p["embedding.weight"]) == pytest.approx((1 / e) ** 0.5, rel=0.05)
    assert np.std(p["layers.0.cell.wz"]) == pytest.approx((2 / (e + h)) ** 0.5, rel=0.05)
    assert np.std(p["layers.0.cell.uz"]) == pytest.approx((1 / h) ** 0.5, rel=0.05)
    assert np.std(p["layers.0.cell.time_decay_proj"]) == pytest.approx(0.1 * (1 / h) ** 0.5, rel=0.05)
    assert np.std(p["layers.0.moe.experts.2.w_down"]) == pytest.approx((2 / (3 * h)) ** 0.5, rel=0.05)
    assert np.std(p["output_proj"]) == pytest.approx((2 / (h + v)) ** 0.5, rel=0.05)
    assert np.all(p["layers.0.cell.bz"] == 0) and np.all(p["output_norm"] == 1)
    td = p["layers.0.cell.time_decay"]
    head = np.arange(h) // (h // 4)
    assert np.all(td <= -0.3 - 0.1 * head + 1e-6) and np.all(td >= -0.7 - 0.1 * head - 1e-6)
    assert np.all((p["layers.0.cell.time_first"] >= 0.3) & (p["layers.0.cell.time_first"] <= 0.5))
    assert np.all(np.abs(p["layers.0.cell.mix_k"] - 0.5) <= 0.05 + 1e-6)


def test_seed_fixes_the_model():
    a = rnnpy.Model(small(), seed=5).parameters()
    b = rnnpy.Model(small(), seed=5).parameters()
    c = rnnpy.Model(small(), seed=6).parameters()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["output_proj"], c["output_proj"])


def test_parameters_are_copies_and_set_parameters_replaces():
    model = rnnpy.Model(small(), seed=0)
    p = model.parameters()
    p["output_norm"][:] = 7
    assert np.all(model.parameters()["output_norm"] == 1)
    model.set_parameters({"output_norm": np.full(32, 2.0)})
    assert np.all(model.parameters()["output_norm"] == 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(hidden_size=30, num_heads=4), "divisible"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(num_layers=0), "num_layers"),
        (dict(num_experts=0), "num_experts"),
    ],
)
def test_invalid_configs_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small(**kwargs)


def test_bad_arrays_are_value_errors():
    model = rnnpy.Model(small(), seed=0)
    with pytest.raises(ValueError, match="integer"):
        model.logits(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        model.logits(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="token id 20"):
        model.logits(np.array([[1, 20]]))
    with pytest.raises(ValueError, match="token id -1"):
        model.loss(np.array([[1, 2]]), np.array([[1, -1]]))
    with pytest.raises(ValueError, match="shape"):
        model.loss(np.array([[1, 2]]), np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="empty"):
        model.logits(np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        model.set_parameters({"nope": np.zeros(3)})
    with pytest.raises(ValueError, match="output_norm"):
        model.set_parameters({"output_norm": np.zeros(31)})


def test_batch_rows_are_independent_sequences():
    model = rnnpy.Model(small(num_experts=3, top_k=2), seed=1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=(3, 9))
    batched = model.logits(x)
    for b in range(3):
        np.testing.assert_allclose(batched[b], model.logits(x[b : b + 1])[0], atol=1e-5)


def test_step_by_step_state_matches_the_sequence_forward():
    model = rnnpy.Model(small(num_layers=2), seed=2)
    x = np.array([[3, 1, 4, 1, 5, 9, 2, 6]])
    full = model.logits(x)[0]
    state = model.new_state(1)
    for t, tok in enumerate(x[0]):
        np.testing.assert_allclose(model.step(state, [tok])[0], full[t], atol=2e-5)


def test_step_on_a_batch_of_several_chunks_matches_the_sequence_forward():
    # 40 sequences run as parallel chunks (chunk_rows) inside `step`.
    model = rnnpy.Model(small(num_layers=2, num_experts=3, top_k=2), seed=1)
    x = np.random.default_rng(0).integers(0, 20, (40, 6))
    full = model.logits(x)
    state = model.new_state(40)
    for t in range(6):
        np.testing.assert_allclose(model.step(state, x[:, t]), full[:, t], atol=2e-5)


def test_greedy_generation_follows_argmax():
    model = rnnpy.Model(small(), seed=4)
    out = model.generate([1, 2, 3], 12, temperature=0.0)
    seq = [1, 2, 3]
    for tok in out:
        logits = model.logits(np.array([seq]))[0, -1]
        assert tok == int(np.argmax(logits))
        seq.append(tok)
    assert model.generate([1, 2, 3], 12, temperature=0.9, seed=7) == model.generate(
        [1, 2, 3], 12, temperature=0.9, seed=7
    )


def test_loss_is_mean_cross_entropy_of_logits():
    model = rnnpy.Model(small(), seed=0)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 20, (2, 5)), rng.integers(0, 20, (2, 5))
    z = model.logits(x).astype(np.float64)
    lse = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    want = np.mean(lse - np.take_along_axis(z, y[..., None], -1)[..., 0])
    assert model.loss(x, y) == pytest.approx(want, abs=1e-5)


def test_tiny_model_overfits_a_short_text():
    text = "the cat sat on the mat. the dog sat on the log. "
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    cfg = rnnpy.ModelConfig(vocab_size=len(vocab), embed_size=16, hidden_size=32)
    model = rnnpy.Model(cfg, seed=0)
    trainer = rnnpy.Trainer(model, learning_rate=1e-2, weight_decay=0.0)
    x, y = ids[None, :-1], ids[None, 1:]
    first = trainer.step(x, y).loss
    for _ in range(300):
        last = trainer.step(x, y).loss
    assert first > 2.0
    assert model.loss(x, y) < 0.05, f"loss only fell to {last}"
    assert trainer.optimizer_step == 301


def test_trainer_steps_equals_repeated_step():
    cfg = small(num_experts=2)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, (3, 2, 6)), rng.integers(0, 20, (3, 2, 6))
    a, b = rnnpy.Model(cfg, seed=9), rnnpy.Model(cfg, seed=9)
    ta, tb = rnnpy.Trainer(a), rnnpy.Trainer(b)
    losses, norms = ta.steps(x, y)
    singles = [tb.step(x[i], y[i]) for i in range(3)]
    np.testing.assert_array_equal(losses, [s.loss for s in singles])
    np.testing.assert_array_equal(norms, [s.grad_norm for s in singles])
    assert all(np.array_equal(a.parameters()[k], b.parameters()[k]) for k in a.parameters())


def test_gradient_clipping_reports_the_pre_clip_norm():
    cfg = small()
    model = rnnpy.Model(cfg, seed=0)
    model.set_parameters({"output_proj": model.parameters()["output_proj"] * 50})
    x = np.array([[1, 2, 3, 4]])
    _, grads = model.loss_and_grad(x, x)
    norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    before = model.parameters()
    trainer = rnnpy.Trainer(model, learning_rate=1e-3, weight_decay=0.0, grad_clip=1.0)
    result = trainer.step(x, x)
    assert result.grad_norm == pytest.approx(norm, rel=1e-4)
    assert norm > 1.0  # so clipping was active; AdamW's first step is ±lr anyway
    step = model.parameters()["output_norm"] - before["output_norm"]
    assert np.max(np.abs(step)) <= 1e-3 * (1 + 1e-4)


def test_config_fields_are_model_configs_parameters():
    import inspect

    from rnnpy.model import CONFIG_FIELDS

    assert tuple(inspect.signature(rnnpy.ModelConfig).parameters) == CONFIG_FIELDS
