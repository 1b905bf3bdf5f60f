"""The supervised training loop, reusable by the CLI, the Python API and RL's
supervised warm-up.

``train`` runs batches from a source (``rnnpy.batching``) under a plan: a
budget (epochs, steps, seconds), a learning-rate schedule, held-out
evaluations and early stopping (``rnnpy.schedule``, ``rnnpy.evaluation``).
Where the run is — epoch, batch within it, training seconds, the best
validation loss, the carried stream state — is a ``Position`` that a
checkpoint stores, so a run stopped anywhere resumes exactly.

It never prints: results go to callbacks. Work is handed to Rust in bounded
chunks (``Trainer.steps``, GIL released), so an interrupt is seen between
chunks; an interrupted epoch is rolled back, and the result is the state
after the last completed epoch. A budget, by contrast, stops the run after
the step where it ran out, and the final evaluation still happens.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from rnnpy.batching import BatchSource, ShuffledWindows, make_windows
from rnnpy.data_parallel import DataParallel
from rnnpy.errors import TextTooShortError
from rnnpy.evaluation import Score
from rnnpy.loop import CHUNK_TOKENS, Loop, StopFlag
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


@contextmanager
def catch_sigint(flag: StopFlag) -> Iterator[StopFlag]:
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        if flag.is_set:
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


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
) -> FitResult:
    """The old program's training: epochs ``start_epoch+1 .. epochs`` of the
    windows ``inputs``/``targets`` ``[W, T]``, shuffled with ``rng``, one AdamW
    step per batch at the trainer's rate. ``on_progress(done_tokens,
    epoch_tokens)`` is called after every chunk; ``stop`` is checked after every chunk."""

    def tick(t: Tick) -> None:
        if on_progress is not None:
            on_progress(t.epoch_tokens_done, t.epoch_tokens)

    source = ShuffledWindows(inputs, targets, batch_size)
    plan = Plan(Budget(epochs))
    return train(
        trainer, source, plan, rng=rng, at=Position(epoch=start_epoch), on_epoch=on_epoch, on_tick=tick, stop=stop
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
) -> FitResult:
    """Trains from position ``at`` (default: the start) until the plan's
    budget is used, patience runs out or ``stop`` is set. ``rng`` must be at
    the current epoch's start (``at.rng_state``); ``evaluate`` scores the
    held-out text (``rnnpy.evaluation.score``) at the plan's evaluations and
    at the end. ``at`` is advanced in place. With ``parallel``, this process
    is one rank of a data-parallel run (``rnnpy.data_parallel``): every rank
    calls ``train`` alike and takes its share of each batch."""
    loop = Loop(trainer, source, plan, rng, evaluate, at or Position(), on_epoch, on_eval, on_tick, stop, parallel)
    return loop.run()
