"""Training API: AdamW state plus one step (or many) per call into Rust."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnpy import _core
from rnnpy._arrays import token_array
from rnnpy.model import Model


class StepResult(NamedTuple):
    loss: float
    grad_norm: float  # global L2 norm before clipping


class Trainer:
    """Owns AdamW's moments and step count for one model.

    Each `step` is forward + backward + global-norm clip + AdamW, in one call
    with the GIL released.
    """

    def __init__(
        self, model: Model, learning_rate: float = 1e-3, weight_decay: float = 0.01, grad_clip: float = 1.0
    ) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
        if grad_clip < 0:
            raise ValueError(f"grad_clip must be non-negative (0 disables clipping), got {grad_clip}")
        self.model = model
        self._core = _core.Trainer(model._core, learning_rate, weight_decay, grad_clip)

    @property
    def optimizer_step(self) -> int:
        return self._core.optimizer_step

    @property
    def learning_rate(self) -> float:
        return self._core.learning_rate

    @learning_rate.setter
    def learning_rate(self, lr: float) -> None:
        self._core.learning_rate = lr

    def _pair(self, inputs: object, targets: object, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        v = self.model.config.vocab_size
        i, t = token_array(inputs, "inputs", v, ndim), token_array(targets, "targets", v, ndim)
        if i.shape != t.shape:
            raise ValueError(f"targets have shape {list(t.shape)}, inputs {list(i.shape)}")
        return i, t

    def step(self, inputs: object, targets: object) -> StepResult:
        """One update on a batch `[B, T]`."""
        loss, norm = self._core.step(self.model._core, *self._pair(inputs, targets, 2))
        return StepResult(float(loss), float(norm))

    def steps(self, inputs: object, targets: object) -> tuple[np.ndarray, np.ndarray]:
        """`N` updates on batches `[N, B, T]` in one call: per-step losses and norms."""
        return self._core.steps(self.model._core, *self._pair(inputs, targets, 3))

    def state(self) -> tuple[int, np.ndarray, np.ndarray]:
        """`(step, m, v)`: AdamW's step count and flat moments (checkpoint order)."""
        return self._core.state()

    def set_state(self, step: int, m: np.ndarray, v: np.ndarray) -> None:
        self._core.set_state(step, np.ascontiguousarray(m, np.float32), np.ascontiguousarray(v, np.float32))
