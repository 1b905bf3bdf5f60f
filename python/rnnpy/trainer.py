"""Training API: AdamW state plus one step (or many) per call into Rust —
supervised steps and GRPO updates alike, so the optimizer state never
leaves the core."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rnnpy import _core
from rnnpy._arrays import token_array
from rnnpy.model import GRPOBatch, GRPOStats, Model


class StepResult(NamedTuple):
    loss: float
    grad_norm: float  # global L2 norm before clipping


class Trainer:
    """Owns AdamW's moments and step count for one model.

    Each `step` is forward + backward + global-norm clip + AdamW, in one call
    with the GIL released. Bad hyperparameters raise rnnpy.InputError.
    """

    def __init__(
        self, model: Model, learning_rate: float = 1e-3, weight_decay: float = 0.01, grad_clip: float = 1.0
    ) -> None:
        self.model = model
        self._core = _core.Trainer(model.core, learning_rate, weight_decay, grad_clip)

    @property
    def optimizer_step(self) -> int:
        return self._core.optimizer_step

    @property
    def learning_rate(self) -> float:
        return self._core.learning_rate

    @learning_rate.setter
    def learning_rate(self, lr: float) -> None:
        self._core.learning_rate = lr

    @property
    def weight_decay(self) -> float:
        return self._core.weight_decay

    @weight_decay.setter
    def weight_decay(self, wd: float) -> None:
        self._core.weight_decay = wd

    @property
    def grad_clip(self) -> float:
        return self._core.grad_clip

    @grad_clip.setter
    def grad_clip(self, clip: float) -> None:
        self._core.grad_clip = clip

    @contextmanager
    def using(self, learning_rate: float, weight_decay: float, grad_clip: float) -> Iterator[Trainer]:
        """These hyperparameters inside the block, the trainer's own after it
        (the moments and step count carry on): RL continues a supervised
        trainer at its own rate."""
        saved = self.learning_rate, self.weight_decay, self.grad_clip
        self.learning_rate, self.weight_decay, self.grad_clip = learning_rate, weight_decay, grad_clip
        try:
            yield self
        finally:
            self.learning_rate, self.weight_decay, self.grad_clip = saved

    def step(self, inputs: object, targets: object) -> StepResult:
        """One update on a batch `[B, T]`."""
        loss, norm = self._core.step(self.model.core, token_array(inputs, "inputs"), token_array(targets, "targets"))
        return StepResult(float(loss), float(norm))

    def steps(self, inputs: object, targets: object) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """`N` updates on batches `[N, B, T]` in one call: per-step losses and norms."""
        return self._core.steps(self.model.core, token_array(inputs, "inputs", 3), token_array(targets, "targets", 3))

    def grpo_step(self, batch: GRPOBatch, clip: float = 0.2, kl_beta: float = 0.0) -> GRPOStats:
        """One GRPO update of the model: the clipped objective over `batch`'s
        completion tokens (ε = `clip`) plus, with `kl_beta` > 0, β·KL to its
        reference log-probs; then global-norm clip and AdamW. Returns the
        statistics before the update and the pre-clip gradient norm."""
        return self._core.grpo_step(self.model.core, batch.core, clip, kl_beta)

    def state(self) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """`(step, m, v)`: AdamW's step count and flat moments (checkpoint order)."""
        return self._core.state()

    def set_state(self, step: int, m: npt.ArrayLike, v: npt.ArrayLike) -> None:
        self._core.set_state(step, np.ascontiguousarray(m, np.float32), np.ascontiguousarray(v, np.float32))
