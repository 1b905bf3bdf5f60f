"""The `--rl*` options: one table for `python -m rnnpy rl` and for `train --doRL=true`.

Each entry is `(old-style name, type, default, help, check)`; `check(value)`
returns an error message or None, so both parsers reject the same values
with the same words.
"""

from __future__ import annotations

from typing import Any, Callable

from rnnpy.rl.tasks import task_names

Check = Callable[[Any], "str | None"]


def _at_least(n: float) -> Check:
    return lambda v: None if v >= n else f"must be at least {n}"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be positive"


def _nonneg(v: float) -> str | None:
    return None if v >= 0 else "must not be negative"


def _open_unit(v: float) -> str | None:
    return None if 0 < v < 1 else "must be between 0 and 1 (exclusive)"


def _task(v: str) -> str | None:
    return None if v in task_names() else f"unknown RL task (known: {', '.join(task_names())})"


RL_OPTIONS: list[tuple[str, type, Any, str, Check | None]] = [
    ("rlTask", str, "copy", "RL task: " + ", ".join(task_names()), _task),
    ("rlEpisodes", int, 100, "RL episodes (GRPO batches)", _nonneg),
    ("rlLearningRate", float, 1e-4, "AdamW learning rate of the RL phase", _positive),
    ("rlGroupSize", int, 8, "completions sampled per prompt (G)", _at_least(2)),
    ("rlPrompts", int, 8, "prompts per episode", _at_least(1)),
    ("rlClip", float, 0.2, "epsilon of the clipped ratio", _open_unit),
    ("rlKL", float, 0.0, "beta of the KL penalty to the policy at the start of RL", _nonneg),
    ("rlInnerSteps", int, 1, "updates per sampled batch (mu)", _at_least(1)),
    ("rlTemperature", float, 1.0, "RL sampling temperature", _positive),
    ("rlMaxLen", int, 20, "most tokens per completion (an answer ends at a newline)", _at_least(1)),
    ("rlEvalPrompts", int, 200, "held-out prompts of the greedy evaluation", _at_least(1)),
    ("rlLogEvery", int, 10, "log every N RL episodes (and the first)", _at_least(1)),
]
