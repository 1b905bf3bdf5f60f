"""How long a run trains and at which learning rate.

A ``Budget`` is every limit a run has — epochs, optimizer steps, seconds of
training — each a total over the run's life, so a resumed run stops where
the uninterrupted one would have. Its ``progress`` is the share of the
budget used, by whichever limit is nearest its end; the learning-rate
schedule decays over that progress. With ``--maxTime`` the schedule thus
follows the clock (a decay that ends when the time does); with epochs or
steps alone it is a function of the step and so exactly the same on resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class LRSchedule:
    """``lr = warm(step) · decay(progress)``: a linear warm-up over the first
    ``warmup_steps`` optimizer steps, then ``constant`` (``learning_rate``),
    ``cosine`` or ``linear`` decay from ``learning_rate`` to
    ``min_learning_rate`` as the budget's progress goes from 0 to 1."""

    learning_rate: float
    kind: str = "constant"
    min_learning_rate: float = 0.0
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown learning-rate schedule {self.kind!r} (expected {', '.join(SCHEDULES)})")

    @property
    def is_constant(self) -> bool:
        """Every step at ``learning_rate``: the old program's training."""
        return self.kind == "constant" and self.warmup_steps == 0

    def at(self, step: int, progress: float) -> float:
        """The rate of the update that follows ``step`` completed optimizer steps."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        p = min(max(progress, 0.0), 1.0)
        base, low = self.learning_rate, self.min_learning_rate
        # Written as the rate minus the decay so far: exactly `learning_rate` at the start.
        if self.kind == "cosine":
            rate = base - (base - low) * 0.5 * (1.0 - math.cos(math.pi * p))
        elif self.kind == "linear":
            rate = base - (base - low) * p
        else:
            rate = base
        return warm * rate


@dataclass(frozen=True)
class Budget:
    """Where a run stops: after ``epochs`` epochs, ``max_steps`` optimizer
    steps (0: no limit) or ``max_time`` seconds of training (0: no limit),
    whichever comes first."""

    epochs: int
    max_steps: int = 0
    max_time: float = 0.0

    def progress(self, epochs: float, steps: int, seconds: float) -> float:
        """The share used, in [0, 1], of the limit nearest its end."""
        shares = [epochs / self.epochs if self.epochs > 0 else 1.0]
        if self.max_steps > 0:
            shares.append(steps / self.max_steps)
        if self.max_time > 0:
            shares.append(seconds / self.max_time)
        return min(1.0, max(shares))

    def reached(self, steps: int, seconds: float) -> str | None:
        """``"max_steps"`` or ``"max_time"`` once that limit is reached, else None
        (epochs are counted by the loop itself)."""
        if self.max_steps > 0 and steps >= self.max_steps:
            return "max_steps"
        if self.max_time > 0 and seconds >= self.max_time:
            return "max_time"
        return None


@dataclass(frozen=True)
class EvalEvery:
    """Evaluate every ``steps`` optimizer steps and/or every ``epochs`` epochs
    (0: not by that count); always once more at the end of training."""

    steps: int = 0
    epochs: int = 0


@dataclass(frozen=True)
class Plan:
    """How a run trains: its budget, rate, evaluations and patience."""

    budget: Budget
    schedule: LRSchedule | None = None  # None: the trainer's learning rate throughout
    eval_every: EvalEvery = EvalEvery()
    patience: int = 0  # stop after this many evaluations without a new best (0: never)


def parse_duration(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h30m"``, ``"1.5h"`` or plain seconds -> seconds."""
    t = text.strip().lower()
    if not t:
        raise ValueError("expected a duration like 90s, 5m or 1h30m")
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    total, number = 0.0, ""
    for ch in t:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += _number(number) * units[ch]
            number = ""
        else:
            raise ValueError("expected a duration like 90s, 5m or 1h30m")
    if number:
        total += _number(number)
    return total


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a duration like 90s, 5m or 1h30m") from None


def format_duration(seconds: float) -> str:
    """Seconds as the shortest of ``90s``, ``5m``, ``1h30m``."""
    s = round(seconds, 3)
    if s >= 60 and s % 60 == 0:
        m = int(s // 60)
        return f"{m // 60}h{m % 60}m" if m >= 60 and m % 60 else (f"{m // 60}h" if m >= 60 else f"{m}m")
    return f"{s:g}s"
