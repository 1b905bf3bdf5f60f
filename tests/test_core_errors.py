"""Typed exceptions from the core's one error map (rust/src/python/errors.rs),
each check made once; and RL through the typed Model / Trainer API."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy


def small(**kw: object) -> rnnpy.Model:
    cfg = rnnpy.ModelConfig(vocab_size=12, embed_size=8, hidden_size=8, num_heads=2, fast_mode=True, **kw)
    return rnnpy.Model(cfg, seed=0)


def test_core_errors_are_typed():
    with pytest.raises(rnnpy.ConfigError, match="hidden_size must be at least 1"):
        rnnpy.ModelConfig(vocab_size=5, hidden_size=0)
    model = small()
    with pytest.raises(rnnpy.InputError, match="inputs contains token id 12, outside the vocabulary of 12"):
        model.logits([[1, 12]])
    with pytest.raises(rnnpy.InputError, match=r"targets have shape \[1, 3\], inputs \[1, 2\]"):
        model.loss([[1, 2]], [[1, 2, 3]])
    with pytest.raises(rnnpy.InputError, match="tokens has 3 ids"):
        model.step(model.new_state(2), [1, 2, 3])
    with pytest.raises(rnnpy.InputError, match="temperature"):
        model.generate([1], 3, temperature=-1.0)
    with pytest.raises(rnnpy.InputError, match="learning_rate must be positive"):
        rnnpy.Trainer(model, learning_rate=0.0)
    with pytest.raises(rnnpy.InputError, match="targets have shape"):
        rnnpy.Trainer(model).steps(np.zeros((2, 1, 3), np.int64), np.zeros((2, 1, 4), np.int64))
    with pytest.raises(rnnpy.CheckpointError, match="nothere.bin"):
        rnnpy.load_checkpoint("nothere.bin")
    for cls in (rnnpy.ConfigError, rnnpy.InputError, rnnpy.CheckpointError):
        assert issubclass(cls, rnnpy.RnnpyError) and issubclass(cls, ValueError)


def test_set_parameters_checks_everything_before_changing_anything():
    model = small()
    before = model.parameters()
    with pytest.raises(rnnpy.InputError, match=r"parameter 'output_norm' must have shape \[8\], got \[7\]"):
        model.set_parameters({"embedding.weight": np.zeros((12, 8)), "output_norm": np.zeros(7)})
    after = model.parameters()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_copy_is_independent():
    model = small()
    twin = model.copy()
    twin.set_parameters({"output_norm": np.full(8, 3.0)})
    assert np.all(model.parameters()["output_norm"] == 1) and np.all(twin.parameters()["output_norm"] == 3)


def batch(model: rnnpy.Model):
    seqs = np.array([[1, 2, 3, 4, 5], [1, 2, 6, 7, 0]], dtype=np.uint32)
    mask = np.zeros(seqs.shape, np.float32)
    mask[:, 2:] = 1.0
    old = model.token_log_probs(seqs)
    return seqs, mask, old, np.array([1.0, -1.0], np.float32)


def test_grpo_step_is_the_trainers_own_adamw():
    """A GRPO update continues the trainer's AdamW (one step count, one set of
    moments, in Rust) and equals loss-and-gradient + clip + AdamW by hand."""
    a, b = small(), small()
    ta, tb = rnnpy.Trainer(a, 1e-2, 0.0, 1.0), rnnpy.Trainer(b, 1e-2, 0.0, 1.0)
    x = np.array([[1, 2, 3, 4]])
    ta.step(x, x)
    tb.step(x, x)
    seqs, mask, old, adv = batch(a)
    stats = ta.grpo_step(rnnpy.GRPOBatch(seqs, mask, old, adv), 0.2, 0.0)
    want, grads = b.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, adv), 0.2, 0.0)
    assert stats.loss == pytest.approx(want.loss) and stats.grad_norm == pytest.approx(want.grad_norm, rel=1e-5)
    assert stats.tokens == 6 and ta.optimizer_step == 2
    norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    assert want.grad_norm == pytest.approx(norm, rel=1e-5)
    assert not np.array_equal(a.parameters()["output_proj"], b.parameters()["output_proj"])


def test_using_sets_hyperparameters_for_a_block():
    t = rnnpy.Trainer(small(), learning_rate=1e-3, weight_decay=0.01, grad_clip=1.0)
    with t.using(2e-3, 0.001, 0.5):
        assert (t.learning_rate, t.weight_decay, t.grad_clip) == pytest.approx((2e-3, 0.001, 0.5))
    assert (t.learning_rate, t.weight_decay, t.grad_clip) == pytest.approx((1e-3, 0.01, 1.0))
    with pytest.raises(rnnpy.InputError, match="weight_decay"):
        t.weight_decay = -1.0


def test_sample_groups_is_typed_and_seeded():
    model = small()
    out = model.sample_groups([[1, 2], [3]], group_size=3, max_len=4, stop_ids=[0], temperature=1.0, seed=2)
    assert len(out) == 6 and all(isinstance(c, rnnpy.Completion) for c in out)
    assert out == model.sample_groups([[1, 2], [3]], 3, 4, [0], 1.0, 2)
    for c in out:
        assert 1 <= len(c.tokens) <= 4 and len(c.log_probs) == len(c.tokens) and all(lp <= 0 for lp in c.log_probs)
    with pytest.raises(rnnpy.InputError, match="prompt contains token id -1"):
        model.sample_groups([[-1]], 2, 2, [0])
