"""The supervised training loop, reusable by the CLI, the Python API and RL's
supervised warm-up.

``train`` runs batches from a source (``rnnpy.batching``) under a plan: a
budget (epochs, steps, seconds), a learning-rate schedule, held-out
evaluations and early stopping (``rnnpy.schedule``, ``rnnpy.evaluation``).
Where the run is — epoch, batch within it, training seconds, the best
validation loss, the carried stream state — is a ``Position`` that a
checkpoint stores, so a run stopped anywhere resumes exactly.

It never prints: results go to callbacks. Work is handed to Rust in bounded
chunks (``Trainer.steps``, GIL released); a Ctrl-C (``rnnpy.interrupt``)
stops the core within a time step, the interrupted epoch is rolled back, and
the result is the state after the last completed epoch. A budget, by
contrast, stops the run after the step where it ran out, and the final
evaluation still happens. A step whose loss or gradient norm is not finite
is never applied: it stops training with DivergenceError, or with
``skip_non_finite`` is skipped and counted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnpy.batching import BatchSource, ShuffledWindows, make_windows
from rnnpy.data_parallel import DataParallel
from rnnpy.errors import TextTooShortError
from rnnpy.evaluation import Score
from rnnpy.interrupt import StopFlag, catch_sigint
from rnnpy.loop import CHUNK_TOKENS, Loop
from rnnpy.model import Model
from rnnpy.progress import (
    EpochResult,
    EvalResult,
    FitResult,
    Position,
    Tick,
    state_from_values,
    state_values,
)
from rnnpy.schedule import Budget, EvalEvery, Plan
from rnnpy.trainer import Trainer

__all__ = [
    "CHUNK_TOKENS",
    "EpochResult",
    "EvalEvery",
    "EvalResult",
    "FitResult",
    "Plan",
    "Position",
    "StopFlag",
    "TextTooShortError",
    "Tick",
    "catch_sigint",
    "fit",
    "make_windows",
    "state_from_values",
    "state_values",
    "train",
]


def fit(
    trainer: Trainer,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    batch_size: int,
    epochs: int,
    start_epoch: int = 0,
    rng: np.random.Generator,
    on_epoch: Callable[[EpochResult], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    stop: StopFlag | None = None,
    skip_non_finite: bool = False,
) -> FitResult:
    """The old program's training: epochs ``start_epoch+1 .. epochs`` of the
    windows ``inputs``/``targets`` ``[W, T]``, shuffled with ``rng``, one AdamW
    step per batch at the trainer's rate. ``on_progress(done_tokens,
    epoch_tokens)`` is called after every chunk; ``stop`` is checked after
    every chunk (and by the core within steps). Non-finite steps: see ``train``."""

    def tick(t: Tick) -> None:
        if on_progress is not None:
            on_progress(t.epoch_tokens_done, t.epoch_tokens)

    source = ShuffledWindows(inputs, targets, batch_size)
    plan = Plan(Budget(epochs))
    return train(
        trainer,
        source,
        plan,
        rng=rng,
        at=Position(epoch=start_epoch),
        on_epoch=on_epoch,
        on_tick=tick,
        stop=stop,
        skip_non_finite=skip_non_finite,
    )


def train(
    trainer: Trainer,
    source: BatchSource,
    plan: Plan,
    *,
    rng: np.random.Generator,
    evaluate: Callable[[Model], Score] | None = None,
    at: Position | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
    on_eval: Callable[[EvalResult], None] | None = None,
    on_tick: Callable[[Tick], None] | None = None,
    stop: StopFlag | None = None,
    parallel: DataParallel | None = None,
    skip_non_finite: bool = False,
) -> FitResult:
    """Trains from position ``at`` (default: the start) until the plan's
    budget is used, patience runs out or ``stop`` is set. ``rng`` must be at
    the current epoch's start (``at.rng_state``); ``evaluate`` scores the
    held-out text (``rnnpy.evaluation.score``) at the plan's evaluations and
    at the end. ``at`` is advanced in place. With ``parallel``, this process
    is one rank of a data-parallel run (``rnnpy.data_parallel``): every rank
    calls ``train`` alike and takes its share of each batch.

    A non-finite loss or gradient norm raises DivergenceError (the model is
    left at the last applied step: nothing non-finite is ever applied)
    unless ``skip_non_finite``, which skips such steps and counts them
    (``EpochResult.skipped``) — until a whole epoch is skipped or the weights
    themselves are not finite, which is divergence too."""
    pos = at or Position()
    loop = Loop(trainer, source, plan, rng, evaluate, pos, on_epoch, on_eval, on_tick, stop, parallel, skip_non_finite)
    return loop.run()
