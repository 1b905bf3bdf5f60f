"""How a token sequence becomes training batches: three ways of cutting
inputs ``t[:-1]`` and targets ``t[1:]`` into ``[B, T]`` batches.

- ``shuffled`` (the old program's, spec/MODEL.md): non-overlapping windows,
  shuffled every epoch, the last partial batch kept; each window starts
  from zero state.
- ``random`` (nanoGPT's): every row a window at a uniformly random offset;
  an epoch is as many batches as ``shuffled`` has, so ``--epochs`` means
  about as many tokens.
- ``stateful`` (char-rnn's truncated BPTT): the text is cut into B
  contiguous streams; row b of batch k is window k of stream b, and the
  recurrent state is carried from one batch to the next (detached), so the
  model sees context far beyond T at no extra cost. An epoch is one pass
  over the streams, starting from zero state.

Every source is deterministic given the RNG state at the start of an epoch,
so a run stopped in mid-epoch resumes exactly: the epoch is regenerated from
that state and its first batches skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rnnpy.errors import TextTooShortError

BATCHINGS = ("shuffled", "random", "stateful")


@dataclass(frozen=True)
class Batch:
    inputs: np.ndarray  # [B, T] token ids
    targets: np.ndarray  # [B, T]


class BatchSource(Protocol):
    kind: str
    carries_state: bool  # stateful: the loop keeps a RecurrentState of batch_size rows
    batch_size: int
    seq_length: int

    @property
    def steps_per_epoch(self) -> int: ...

    @property
    def tokens_per_epoch(self) -> int:
        """Target positions one epoch trains on."""
        ...

    def describe(self) -> str:
        """One line for the run's header."""
        ...

    def epoch(self, rng: np.random.Generator, start: int = 0) -> Iterator[Batch]:
        """The batches of one epoch from batch ``start`` on; ``rng`` is at the epoch's start."""
        ...


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


class ShuffledWindows:
    """The old program's epochs: windows ``[W, T]`` shuffled, in batches of B."""

    kind = "shuffled"
    carries_state = False

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, batch_size: int) -> None:
        self.inputs, self.targets = inputs, targets
        self.batch_size = batch_size
        self.seq_length = inputs.shape[1]

    @classmethod
    def of(cls, ids: np.ndarray, seq_length: int, batch_size: int) -> ShuffledWindows:
        return cls(*make_windows(ids, seq_length), batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.inputs) // self.batch_size)

    @property
    def tokens_per_epoch(self) -> int:
        return int(self.inputs.size)  # the last, partial batch included

    def describe(self) -> str:
        return f"{len(self.inputs)} windows of {self.seq_length}"

    def epoch(self, rng: np.random.Generator, start: int = 0) -> Iterator[Batch]:
        order = rng.permutation(len(self.inputs))
        for i in range(start * self.batch_size, len(order), self.batch_size):
            rows = order[i : i + self.batch_size]
            yield Batch(self.inputs[rows], self.targets[rows])


class RandomWindows:
    """Rows at uniformly random offsets ``0 .. P − T`` of the P positions."""

    kind = "random"
    carries_state = False

    def __init__(self, ids: np.ndarray, seq_length: int, batch_size: int) -> None:
        make_windows(ids, seq_length)  # at least one window, or the same error as the others
        self.ids = np.asarray(ids, dtype=np.int64)
        self.batch_size, self.seq_length = batch_size, seq_length
        self._span = np.arange(seq_length)

    @property
    def steps_per_epoch(self) -> int:
        windows = (len(self.ids) - 1) // self.seq_length
        return -(-windows // self.batch_size)

    @property
    def tokens_per_epoch(self) -> int:
        return self.steps_per_epoch * self.batch_size * self.seq_length

    def describe(self) -> str:
        return f"random windows of {self.seq_length}, {self.steps_per_epoch} batches an epoch"

    def epoch(self, rng: np.random.Generator, start: int = 0) -> Iterator[Batch]:
        last_offset = len(self.ids) - 1 - self.seq_length
        for k in range(self.steps_per_epoch):
            offsets = rng.integers(0, last_offset + 1, size=self.batch_size)
            if k >= start:  # earlier batches are drawn only to advance rng exactly as the first run did
                at = offsets[:, None] + self._span
                yield Batch(self.ids[at], self.ids[at + 1])


class Streams:
    """B contiguous streams of ``P // B`` positions; batch k is window k of each."""

    kind = "stateful"
    carries_state = True

    def __init__(self, ids: np.ndarray, seq_length: int, batch_size: int) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        positions = len(ids) - 1
        self.stream_length = positions // batch_size if positions > 0 else 0
        if self.stream_length < seq_length:
            raise TextTooShortError(
                f"the text gives {max(positions, 0)} training positions, fewer than {batch_size} streams "
                f"(batchSize) of one window of seqLength={seq_length}: use a longer text or a smaller "
                "--batchSize or --seqLength"
            )
        self.ids = ids
        self.batch_size, self.seq_length = batch_size, seq_length

    @property
    def steps_per_epoch(self) -> int:
        return self.stream_length // self.seq_length

    @property
    def tokens_per_epoch(self) -> int:
        return self.steps_per_epoch * self.batch_size * self.seq_length

    def describe(self) -> str:
        return f"{self.batch_size} streams of {self.stream_length:,}, windows of {self.seq_length}, state carried"

    def epoch(self, rng: np.random.Generator, start: int = 0) -> Iterator[Batch]:
        starts = np.arange(self.batch_size)[:, None] * self.stream_length + np.arange(self.seq_length)
        for k in range(start, self.steps_per_epoch):
            at = starts + k * self.seq_length
            yield Batch(self.ids[at], self.ids[at + 1])


def batch_source(kind: str, ids: np.ndarray, seq_length: int, batch_size: int) -> BatchSource:
    """The source named ``kind`` (one of ``BATCHINGS``) over token ids."""
    if kind == "shuffled":
        return ShuffledWindows.of(ids, seq_length, batch_size)
    if kind == "random":
        return RandomWindows(ids, seq_length, batch_size)
    if kind == "stateful":
        return Streams(ids, seq_length, batch_size)
    raise ValueError(f"unknown batching {kind!r} (expected {', '.join(BATCHINGS)})")
