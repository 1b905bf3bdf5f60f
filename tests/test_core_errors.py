"""Typed exceptions from the core's one error map (rust/src/python/errors.rs),
each check made once."""

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
