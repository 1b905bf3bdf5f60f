"""rnnpy.training: windows, batches, epochs and interruption (in process)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy
import rnnpy.loop
from rnnpy.training import StopFlag, TextTooShortError, fit, make_windows


def test_windows_are_non_overlapping_and_drop_only_a_partial_last_one():
    ids = list(range(51))  # 50 positions
    x, y = make_windows(ids, 25)
    assert x.shape == y.shape == (2, 25)  # the old loop gave one window here; MODEL.md gives two
    assert x[1, 0] == 25 and y[1, -1] == 50
    x, _ = make_windows(list(range(60)), 25)  # 59 positions: 2 windows, 9 dropped
    assert x.shape == (2, 25)
    assert make_windows(list(range(26)), 25)[0].shape == (1, 25)
    with pytest.raises(TextTooShortError, match="seqLength=25"):
        make_windows(list(range(25)), 25)
    with pytest.raises(TextTooShortError):
        make_windows([], 5)


def _setup(windows: int = 7, t: int = 6):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 11, size=windows * t + 1)
    x, y = make_windows(data, t)
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=11, hidden_size=8, embed_size=8, num_heads=2), seed=0)
    return x, y, rnnpy.Trainer(model)


def test_epochs_batches_and_the_partial_batch():
    x, y, trainer = _setup()
    seen = []
    res = fit(trainer, x, y, batch_size=3, epochs=2, rng=np.random.default_rng(1), on_epoch=seen.append)
    assert trainer.optimizer_step == 2 * 3  # 7 windows -> batches of 3, 3, 1 (kept)
    assert [r.epoch for r in seen] == [1, 2] and all(r.tokens == 7 * 6 for r in seen)
    assert res.best_loss == min(r.loss for r in seen) and not res.interrupted


def test_interrupt_mid_epoch_rolls_back_to_the_last_completed_epoch(monkeypatch):
    monkeypatch.setattr(rnnpy.loop, "CHUNK_TOKENS", 1)  # one batch per call: interruptible mid-epoch
    x, y, trainer = _setup()
    rng = np.random.default_rng(1)
    stop = StopFlag()
    state = {}

    def on_epoch(r):
        state["params"] = trainer.model.parameters()
        state["rng"] = rng.bit_generator.state

    def on_progress(done, total):
        if "params" in state and done < total:
            stop.set()  # Ctrl-C during the second epoch

    res = fit(trainer, x, y, batch_size=2, epochs=5, rng=rng, on_epoch=on_epoch, on_progress=on_progress, stop=stop)
    assert res.interrupted and res.epoch == 1
    assert trainer.optimizer_step == 4  # epoch 1 only: batches 2, 2, 2, 1
    now = trainer.model.parameters()
    assert all(np.array_equal(now[k], state["params"][k]) for k in now)
    assert rng.bit_generator.state == state["rng"]
