"""The supervised training loop of spec/MODEL.md ("Training semantics"),
reusable by the CLI and by RL's supervised warm-up.

It never prints: progress and epoch results go to callbacks. Work is handed
to Rust in bounded chunks of batches (``Trainer.steps``, GIL released), so an
interrupt is seen between chunks; an interrupted epoch is rolled back, and
the result is always the state after the last completed epoch.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rnnpy.errors import TextTooShortError
from rnnpy.trainer import Trainer

CHUNK_TOKENS = 32_768  # about this many tokens per call into Rust


def make_windows(ids: list[int] | np.ndarray, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``t[:-1]`` and targets ``t[1:]`` cut into non-overlapping windows
    of ``seq_length``; a partial last window is dropped. Returns ``[W, T]`` each."""
    t = np.asarray(ids, dtype=np.int64)
    n = (len(t) - 1) // seq_length if len(t) > 1 else 0
    if n == 0:
        raise TextTooShortError(
            f"the text gives {max(len(t) - 1, 0)} training positions, fewer than one window of "
            f"seqLength={seq_length}: use a longer text or a smaller --seqLength"
        )
    used = n * seq_length
    return t[:used].reshape(n, seq_length), t[1 : used + 1].reshape(n, seq_length)


@dataclass
class EpochResult:
    epoch: int  # 1-based: the number of completed epochs
    loss: float  # mean batch loss
    grad_norm: float  # mean pre-clip gradient norm
    tokens: int  # target positions trained on this epoch
    seconds: float  # this epoch's wall time
    elapsed: float  # since the start of fit()


@dataclass
class FitResult:
    epoch: int  # last completed epoch
    best_loss: float | None  # None when no epoch ran
    last_loss: float | None
    interrupted: bool
    elapsed: float


class StopFlag:
    """Set by SIGINT (first Ctrl-C) while ``catch_sigint`` is active; a second
    Ctrl-C raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.is_set = False

    def set(self) -> None:
        self.is_set = True


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


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Index arrays of the batches of one epoch; the last may be partial (kept,
    as the old program did)."""
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


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
    """Train epochs ``start_epoch+1 .. epochs`` on windows ``inputs``/``targets``
    ``[W, T]``: each epoch shuffles the windows with ``rng`` and takes one
    AdamW step per batch. ``on_progress(done_tokens, epoch_tokens)`` is called
    after every chunk; ``stop`` is checked after every chunk."""
    stop = stop or StopFlag()
    w, t = inputs.shape
    chunk = max(1, CHUNK_TOKENS // (batch_size * t))
    t0 = time.perf_counter()
    best: float | None = None
    last: float | None = None
    done_epoch = start_epoch
    for epoch in range(start_epoch, epochs):
        e0 = time.perf_counter()
        rng_state = rng.bit_generator.state  # an interrupted epoch is undone, its shuffle included
        batches = _batches(rng.permutation(w), batch_size)
        full = [b for b in batches if len(b) == batch_size]
        partial = [b for b in batches if len(b) != batch_size]
        groups = [full[i : i + chunk] for i in range(0, len(full), chunk)] + [[b] for b in partial]
        snapshot = _snapshot(trainer) if len(groups) > 1 else None
        losses: list[float] = []
        norms: list[float] = []
        tokens = 0
        for group in groups:
            idx = np.stack(group)  # [N, B]
            ls, ns = trainer.steps(inputs[idx], targets[idx])  # [N, B, T] each
            losses.extend(np.asarray(ls, dtype=np.float64).tolist())
            norms.extend(np.asarray(ns, dtype=np.float64).tolist())
            tokens += idx.size * t
            if on_progress is not None:
                on_progress(tokens, w * t)
            if stop.is_set and tokens < w * t:
                _restore(trainer, snapshot)
                rng.bit_generator.state = rng_state
                return FitResult(done_epoch, best, last, True, time.perf_counter() - t0)
        loss = float(np.mean(losses))
        last = loss
        best = loss if best is None else min(best, loss)
        done_epoch = epoch + 1
        now = time.perf_counter()
        if on_epoch is not None:
            on_epoch(EpochResult(done_epoch, loss, float(np.mean(norms)), tokens, now - e0, now - t0))
        if stop.is_set:
            return FitResult(done_epoch, best, last, True, now - t0)
    return FitResult(done_epoch, best, last, False, time.perf_counter() - t0)


Snapshot = tuple[dict[str, npt.NDArray[np.float32]], tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]]


def _snapshot(trainer: Trainer) -> Snapshot:
    return trainer.model.parameters(), trainer.state()


def _restore(trainer: Trainer, snapshot: Snapshot | None) -> None:
    if snapshot is not None:
        params, (step, m, v) = snapshot
        trainer.model.set_parameters(params)
        trainer.set_state(step, m, v)
