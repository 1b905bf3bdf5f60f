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
from rnnpy.model import GRPOBatch, GRPOStats, Model, RecurrentState


class StepResult(NamedTuple):
    loss: float
    grad_norm: float  # global L2 norm before clipping


class Trainer:
    """Owns AdamW's moments and step count for one model.

    Each `step` is forward + backward + global-norm clip + AdamW, in one call
    with the GIL released. A step whose loss or gradient norm is not finite
    is not applied (the weights and moments stay as they were): check
    `math.isfinite` on what it returns. Threads may share a trainer and its
    model: their calls take turns. Bad hyperparameters raise rnnpy.InputError.
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

    def step(self, inputs: object, targets: object, state: RecurrentState | None = None) -> StepResult:
        """One update on a batch `[B, T]`. With `state` (from
        `model.new_state(B)`), sequence b continues row b of it and the state
        advances to the batch's end, without gradient into it: truncated BPTT
        over long streams."""
        x, y = token_array(inputs, "inputs"), token_array(targets, "targets")
        loss, norm = self._core.step(self.model.core, x, y, state)
        return StepResult(float(loss), float(norm))

    def gradient(
        self,
        inputs: object,
        targets: object,
        out: npt.NDArray[np.float32] | None = None,
        scale: float = 1.0,
        state: RecurrentState | None = None,
    ) -> tuple[float, npt.NDArray[np.float32]]:
        """The gradient of `scale ×` the batch's mean loss, flat (one float32
        per parameter, checkpoint order), written into `out` when given, with
        no update; returns `(scale × loss, gradient)`. A data-parallel rank
        passes its share of the global batch's rows as `scale`: the ranks'
        gradients then sum to the global one (apply it with
        `apply_gradient`)."""
        if out is None:
            out = np.zeros(self.model.config.num_parameters(), dtype=np.float32)
        x, y = token_array(inputs, "inputs"), token_array(targets, "targets")
        loss = self._core.gradient(self.model.core, x, y, out, scale, state)
        return float(loss), out

    def apply_gradient(self, grad: npt.ArrayLike) -> float:
        """Global-norm clip and one AdamW update from a flat gradient; returns
        the norm before clipping (the update is not applied when it is not
        finite). `gradient` then this is one `step`. A contiguous, writable
        float32 array is used as it is (no copy) and is left clipped; anything
        else is copied first."""
        g = np.require(grad, np.float32, ["C", "W"])
        return float(self._core.apply_gradient(self.model.core, g))

    def steps(
        self, inputs: object, targets: object, skip_non_finite: bool = False
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Up to `N` updates on batches `[N, B, T]` in one call: per-step losses
        and norms. It ends early after a step whose loss or norm is not finite
        (returned last, not applied) unless `skip_non_finite`, and when Ctrl-C
        stops the core inside `rnnpy.interrupt.catch_sigint`."""
        x, y = token_array(inputs, "inputs", 3), token_array(targets, "targets", 3)
        return self._core.steps(self.model.core, x, y, skip_non_finite)

    def grpo_step(
        self, batch: GRPOBatch, clip: float = 0.2, kl_beta: float = 0.0, temperature: float = 1.0
    ) -> GRPOStats:
        """One GRPO update of the model: the clipped objective over `batch`'s
        completion tokens (ε = `clip`) plus, with `kl_beta` > 0, β·KL to its
        reference log-probs; then global-norm clip and AdamW. Log-probs are
        taken at `temperature`, the one the completions were sampled at (their
        old and reference log-probs must be too), so the ratio is the
        importance ratio. Returns the statistics before the update and the
        pre-clip gradient norm."""
        return self._core.grpo_step(self.model.core, batch.core, clip, kl_beta, temperature)

    def state(self) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """`(step, m, v)`: AdamW's step count and flat moments (checkpoint order)."""
        return self._core.state()

    def set_state(self, step: int, m: npt.ArrayLike, v: npt.ArrayLike) -> None:
        self._core.set_state(step, np.ascontiguousarray(m, np.float32), np.ascontiguousarray(v, np.float32))
