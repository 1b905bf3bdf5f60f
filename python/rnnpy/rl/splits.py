"""Disjoint prompt sets, by construction: supervised demonstrations, RL
prompts and the held-out evaluation never share a prompt.

Every prompt of a task's trained range belongs to exactly one split, fixed by
a hash of its text: 70% of the prompt space is `sft` (the corpus printed by
`python -m rnnpy tasks`), 15% `rl` (what GRPO samples from) and 15% `eval`
(the held-out set). A split is drawn by rejection from the task's own
distribution, so each split follows that distribution restricted to its
share. The `general` prompts lie outside the trained range altogether (longer
strings, larger operands) and measure generalisation.

The hash is BLAKE2b of the UTF-8 text, not Python's `hash` (salted per
process): a prompt's split is the same on every machine and in every run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

from rnnpy.rl.tasks import Task

SFT, RL, EVAL, GENERAL = "sft", "rl", "eval", "general"
#: The trained range's splits and their shares of it, in percent.
SHARES = {SFT: 70, RL: 15, EVAL: 15}
SPLITS = (*SHARES, GENERAL)

#: Seeds of the fixed evaluation sets (the RL prompts come from the run's seed).
EVAL_SEED = 987_654_321
GENERAL_SEED = 123_456_789

#: Rejection draws per prompt before giving up (a split of a tiny prompt
#: space could be empty; none of the registered tasks' is).
_MAX_TRIES = 10_000


def split_of(prompt: str) -> str:
    """The split of a trained-range prompt: a fixed function of its text."""
    bucket = int.from_bytes(hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest(), "big") % 100
    for name, share in SHARES.items():
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("the shares add up to 100")


def draw_example(task: Task, split: str, rng: random.Random) -> tuple[str, str]:
    """One `(prompt, answer)` of `split`, drawn from the task's distribution
    (for `sft`, the distribution of its demonstrations)."""
    if split == GENERAL:
        return task.make_general(rng)
    if split not in SHARES:
        raise ValueError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    make = task.demonstration if split == SFT else task.make
    for _ in range(_MAX_TRIES):
        example = make(rng)
        if split_of(example[0]) == split:
            return example
    raise ValueError(f"task '{task.name}' has no prompts in split {split!r}")


def draw_prompts(task: Task, split: str, n: int, seed: int) -> list[str]:
    """`n` prompts of `split`, independent draws (a small split repeats prompts)."""
    rng = random.Random(seed)
    return [draw_example(task, split, rng)[0] for _ in range(n)]


def held_out_prompts(task: Task, n: int, split: str = EVAL) -> list[str]:
    """The fixed evaluation set of `split` (`eval` or `general`): depends only on the task and `n`."""
    return draw_prompts(task, split, n, EVAL_SEED if split == EVAL else GENERAL_SEED)


def iter_corpus_lines(task: Task, n: int, seed: int = 0) -> Iterator[str]:
    """`n` solved examples of the `sft` split, `prompt + answer` each (no
    newline); drawn one at a time, so any `n` streams in constant memory."""
    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(draw_example(task, SFT, rng))


def corpus_lines(task: Task, n: int, seed: int = 0) -> list[str]:
    """`iter_corpus_lines` as a list."""
    return list(iter_corpus_lines(task, n, seed))
