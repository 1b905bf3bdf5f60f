"""Where a training run is and what it reports (``rnnpy.training``).

``Position`` is everything beyond the weights and AdamW's state that a
resumed run needs to continue exactly; a checkpoint stores it
(``rnnpy.metadata``). The results are what the loop hands its callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rnnpy.errors import InputError
from rnnpy.evaluation import Score
from rnnpy.model import Model, RecurrentState


@dataclass
class Position:
    """Where a run is, beyond the weights and AdamW's state: what a checkpoint
    must hold for a resumed run to continue exactly (``rnnpy.metadata``)."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current epoch
    seconds: float = 0.0  # training time so far, over every session
    rng_state: Mapping[str, Any] | None = None  # the batch RNG at the current epoch's start
    stream: RecurrentState | None = None  # stateful batching, mid-epoch: the carried state
    best_val: float | None = None  # the lowest validation loss so far
    best_step: int | None = None  # ... and the optimizer step it was measured at
    stale: int = 0  # evaluations since the best
    last_eval_step: int | None = None

    def epochs_done(self, steps_per_epoch: int) -> float:
        return self.epoch + self.batch / max(steps_per_epoch, 1)


@dataclass
class EpochResult:
    epoch: int  # 1-based: the number of completed epochs
    loss: float  # mean batch loss
    grad_norm: float  # mean pre-clip gradient norm
    tokens: int  # target positions trained on this epoch (in this session)
    seconds: float  # this epoch's wall time
    elapsed: float  # since the start of train()
    skipped: int = 0  # steps not applied: their loss or gradient norm was not finite (skip_non_finite)


@dataclass
class EvalResult:
    step: int  # optimizer steps done
    epoch: float  # epochs done, fractional
    score: Score
    improved: bool  # a new best validation loss
    train_loss: float | None  # mean training loss since the previous evaluation
    elapsed: float  # since the start of train()
    final: bool  # the evaluation at the end of training
    position: Position  # the run's position right after this evaluation


@dataclass
class Tick:
    """Progress after each call into Rust, for progress bars."""

    progress: float  # share of the budget used, 0..1
    epoch: float  # epochs done, fractional
    step: int
    loss: float  # the last step's loss
    tokens: int  # trained on since the start of train()
    elapsed: float
    epoch_tokens_done: int
    epoch_tokens: int


@dataclass
class FitResult:
    epoch: int  # last completed epoch
    best_loss: float | None  # lowest epoch-mean training loss; None when no epoch completed
    last_loss: float | None  # the last completed epoch's
    interrupted: bool
    elapsed: float
    stopped: str = "epochs"  # epochs | max_steps | max_time | patience | interrupted
    position: Position = field(default_factory=Position)
    last_eval: EvalResult | None = None


def state_values(state: RecurrentState) -> npt.NDArray[np.float32]:
    """A recurrent state as one flat float32 array (layer by layer, as ``tensors()``)."""
    return np.concatenate([t.ravel() for layer in state.tensors() for t in layer]).astype(np.float32)


def state_from_values(model: Model, values: npt.ArrayLike) -> RecurrentState:
    """The state ``state_values`` flattened, for ``model``; InputError when it does not fit."""
    flat = np.asarray(values, dtype=np.float32)
    cfg = model.config
    per_row = cfg.num_layers * (4 if cfg.use_rwkv else 1) * cfg.hidden_size
    if flat.size == 0 or flat.size % per_row:
        raise InputError(f"a saved recurrent state of {flat.size} values does not fit this model")
    state = model.new_state(flat.size // per_row)
    shapes = [[t.shape for t in layer] for layer in state.tensors()]
    out, at = [], 0
    for layer in shapes:
        row = []
        for shape in layer:
            n = int(np.prod(shape))
            row.append(flat[at : at + n].reshape(shape))
            at += n
        out.append(row)
    state.set_tensors(out)
    return state
