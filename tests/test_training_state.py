"""Training and scoring that carry the recurrent state across windows
(truncated BPTT, exact validation over a long text), and the flat-gradient
pair `gradient` / `apply_gradient` that data-parallel training builds on."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy

CFG = rnnpy.ModelConfig(vocab_size=17, embed_size=12, hidden_size=20, num_layers=2, num_experts=3, top_k=2)


def data(b: int, t: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 17, size=(b, t + 1))
    return ids[:, :-1], ids[:, 1:]


def test_a_text_scored_in_windows_with_the_state_carried_has_the_whole_texts_loss() -> None:
    model = rnnpy.Model(CFG, seed=1)
    x, y = data(3, 12)
    whole = model.loss(x, y)
    state = model.new_state(3)
    parts = [model.loss(x[:, a:b], y[:, a:b], state=state) * (b - a) for a, b in [(0, 5), (5, 12)]]
    assert sum(parts) / 12 == pytest.approx(whole, rel=1e-5)
    # Without the state, the second window starts from zeros and scores differently.
    assert model.loss(x[:, 5:], y[:, 5:]) != pytest.approx(parts[1] / 7, rel=1e-4)


def test_a_step_from_a_state_advances_it_to_the_end_of_the_batch() -> None:
    model = rnnpy.Model(CFG, seed=2)
    trainer = rnnpy.Trainer(model, learning_rate=1e-3)
    x, y = data(4, 10)
    state = model.new_state(4)
    reference = model.new_state(4)
    model.loss(x, y, state=reference)  # the same parameters the step's forward pass used
    trainer.step(x, y, state=state)
    for got, want in zip(state.tensors(), reference.tensors()):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert any(np.abs(t).max() > 0 for layer in state.tensors() for t in layer)
    with pytest.raises(rnnpy.InputError, match="sequences"):
        trainer.step(x, y, state=model.new_state(3))


def test_gradient_then_apply_gradient_is_one_step() -> None:
    a, b = rnnpy.Model(CFG, seed=3), rnnpy.Model(CFG, seed=3)
    ta, tb = rnnpy.Trainer(a, learning_rate=1e-2), rnnpy.Trainer(b, learning_rate=1e-2)
    x, y = data(6, 8)
    loss, norm = ta.step(x, y)
    buf = np.zeros(CFG.num_parameters(), dtype=np.float32)
    gloss, grad = tb.gradient(x, y, out=buf)
    assert grad is buf and np.abs(buf).max() > 0  # written in place, no copy handed back
    assert tb.apply_gradient(grad) == norm and gloss == loss
    for name, p in a.parameters().items():
        np.testing.assert_array_equal(p, b.parameters()[name], err_msg=name)
    assert ta.optimizer_step == tb.optimizer_step == 1


def test_shard_gradients_scaled_by_their_share_sum_to_the_batch_gradient() -> None:
    model = rnnpy.Model(CFG, seed=4)
    trainer = rnnpy.Trainer(model)
    x, y = data(8, 6)
    loss, whole = trainer.gradient(x, y)
    parts = [trainer.gradient(x[r], y[r], scale=0.5) for r in (slice(0, 4), slice(4, 8))]
    assert sum(p[0] for p in parts) == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(parts[0][1] + parts[1][1], whole, atol=1e-5 * np.abs(whole).max())


def test_a_gradient_buffer_of_the_wrong_size_is_a_clear_error() -> None:
    model = rnnpy.Model(CFG, seed=5)
    trainer = rnnpy.Trainer(model)
    x, y = data(2, 4)
    with pytest.raises(rnnpy.InputError, match="gradient buffer holds 3 values"):
        trainer.gradient(x, y, out=np.zeros(3, dtype=np.float32))
    with pytest.raises(rnnpy.InputError, match="parameters"):
        trainer.apply_gradient(np.zeros(5, dtype=np.float32))
