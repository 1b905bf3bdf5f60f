"""The supervised training loop of spec/MODEL.md ("Training semantics"),
reusable by the CLI and by RL's supervised warm-up.

It never prints: progress and epoch results go to callbacks. Work is handed
to Rust in bounded chunks of batches (``Trainer.steps``, GIL released); a
Ctrl-C (``rnnpy.interrupt``) stops the core within a time step, the
interrupted epoch is rolled back, and the result is always the state after
the last completed epoch. A step whose loss or gradient norm is not finite
is never applied: it stops training with DivergenceError, or with
``skip_non_finite`` is skipped and counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rnnpy.errors import DivergenceError, TextTooShortError
from rnnpy.interrupt import StopFlag, catch_sigint
from rnnpy.trainer import Trainer

__all__ = ["EpochResult", "FitResult", "StopFlag", "catch_sigint", "fit", "make_windows"]

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
    skipped: int = 0  # steps not applied: their loss or gradient norm was not finite (skip_non_finite)


@dataclass
class FitResult:
    epoch: int  # last completed epoch
    best_loss: float | None  # None when no epoch ran
    last_loss: float | None
    interrupted: bool
    elapsed: float


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
    skip_non_finite: bool = False,
) -> FitResult:
    """Train epochs ``start_epoch+1 .. epochs`` on windows ``inputs``/``targets``
    ``[W, T]``: each epoch shuffles the windows with ``rng`` and takes one
    AdamW step per batch. ``on_progress(done_tokens, epoch_tokens)`` is called
    after every chunk; ``stop`` is checked after every chunk (and by the core
    within steps). A non-finite loss or gradient norm raises DivergenceError
    (the model is left at the last applied step: nothing non-finite is ever
    applied) unless ``skip_non_finite``, which skips such steps and counts
    them — until a whole epoch is skipped or the weights themselves are not
    finite, which is divergence too."""
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
        snapshot = _snapshot(trainer)  # Ctrl-C can stop the core inside any chunk
        losses: list[float] = []
        norms: list[float] = []
        skipped = steps = tokens = 0
        for group in groups:
            idx = np.stack(group)  # [N, B]
            ls, ns = trainer.steps(inputs[idx], targets[idx], skip_non_finite=skip_non_finite)  # [<= N] each
            for loss, norm in zip(np.asarray(ls, np.float64).tolist(), np.asarray(ns, np.float64).tolist()):
                steps += 1
                if math.isfinite(loss) and math.isfinite(norm):
                    losses.append(loss)
                    norms.append(norm)
                elif not skip_non_finite or not trainer.model.is_finite():
                    raise _diverged(epoch + 1, steps, len(batches), loss, norm, last)
                else:
                    skipped += 1
            if len(ls) < len(group):  # only Ctrl-C ends a call early here
                _restore(trainer, snapshot)
                rng.bit_generator.state = rng_state
                return FitResult(done_epoch, best, last, True, time.perf_counter() - t0)
            tokens += idx.size * t
            if on_progress is not None:
                on_progress(tokens, w * t)
            if stop.is_set and tokens < w * t:
                _restore(trainer, snapshot)
                rng.bit_generator.state = rng_state
                return FitResult(done_epoch, best, last, True, time.perf_counter() - t0)
        if not losses:
            raise _diverged(epoch + 1, steps, len(batches), float("nan"), float("nan"), last, whole_epoch=True)
        loss = float(np.mean(losses))
        last = loss
        best = loss if best is None else min(best, loss)
        done_epoch = epoch + 1
        now = time.perf_counter()
        if on_epoch is not None:
            on_epoch(EpochResult(done_epoch, loss, float(np.mean(norms)), tokens, now - e0, now - t0, skipped))
        if stop.is_set:
            return FitResult(done_epoch, best, last, True, now - t0)
    return FitResult(done_epoch, best, last, False, time.perf_counter() - t0)


def _diverged(
    epoch: int, step: int, steps: int, loss: float, norm: float, last: float | None, whole_epoch: bool = False
) -> DivergenceError:
    where = f"in epoch {epoch}, every one of its {steps} steps" if whole_epoch else f"at epoch {epoch}, step {step}"
    before = f"the last finite epoch loss was {last:.6f}" if last is not None else "no epoch of this run had finished"
    return DivergenceError(f"training diverged {where} (loss {loss}, gradient norm {norm}); {before}")


Snapshot = tuple[dict[str, npt.NDArray[np.float32]], tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]]


def _snapshot(trainer: Trainer) -> Snapshot:
    return trainer.model.parameters(), trainer.state()


def _restore(trainer: Trainer, snapshot: Snapshot | None) -> None:
    if snapshot is not None:
        params, (step, m, v) = snapshot
        trainer.model.set_parameters(params)
        trainer.set_state(step, m, v)
