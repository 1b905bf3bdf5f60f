"""Verifiable tasks for RL: prompt generators and pure reward functions.

A task turns a random generator into a `(prompt, answer)` pair and scores a
completion against a prompt. Tasks live in a registry, so a new one is one
`register(Task(...))` call away and the GRPO loop never changes. Which
prompts are demonstrations, RL prompts or held out is `rnnpy.rl.splits`'s
business.

                  prompt -> answer   trained range         demonstrations   generalisation
    copy          abc:   -> abc      letters a–j, 2–6      all of it        7–8 letters
    reverse       abc>   -> cba      letters a–j, 2–5      all of it        6–7 letters
    arithmetic    3+5=   -> 8        operands 0–9, + - *   all of it        operands 10–19
    copy-long     abc:   -> abc      letters a–j, 2–8      2–6 letters      9–10 letters
    reverse-long  abc>   -> cba      letters a–j, 2–7      2–5 letters      8–9 letters

The `-long` tasks are where RL has something to add: their verifier covers
the whole range, but demonstrations (the corpus `python -m rnnpy tasks`
prints) exist only for the short strings, so supervised training cannot
learn the long ones and GRPO, rewarded by the verifier alone, can.

Rewards (as the old program's, with one fix noted in `positional_share`):
1.0 for an exact answer; otherwise the share of positions that match, halved
for reverse and arithmetic.

An answer is the completion up to its first stop character (newline or `|`),
or all of it when there is none (it hit the maximum length).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass

from rnnpy.errors import TaskError

LETTERS = "abcdefghij"
DIGITS = "0123456789"
STOP_CHARS = "\n|"
#: Every character a task prompt or answer can contain, plus the newline
#: that ends an answer. A model's vocabulary must hold the characters its task
#: uses (`Task.alphabet`); this set covers all registered tasks.
TASK_ALPHABET = "".join(sorted(set(LETTERS + DIGITS + ":>=+-*\n")))


Example = Callable[[random.Random], tuple[str, str]]


@dataclass(frozen=True)
class Task:
    """A verifiable task. `make` draws one `(prompt, answer)` of the trained
    range, `make_general` one beyond it; `expected` gives a prompt's reference
    answer; `reward` scores an answer text (stop characters already removed)
    for a prompt. All are pure functions of their arguments."""

    name: str
    make: Example
    expected: Callable[[str], str]
    reward: Callable[[str, str], float]
    #: Characters prompts and answers use (the vocabulary must contain them and '\n').
    alphabet: str
    #: Longest answer of the trained range.
    max_answer_len: int
    #: Prompts outside the trained range (longer, larger): the generalisation evaluation.
    make_general: Example
    #: What those are, for the evaluation line ("7–8 letters").
    general: str
    #: Draws the demonstrations (supervised corpus) when they cover only part
    #: of the trained range; None: all of it, drawn by `make`.
    demonstrate: Example | None = None

    def demonstration(self, rng: random.Random) -> tuple[str, str]:
        """One solved example of the kind supervised training is given."""
        return (self.demonstrate or self.make)(rng)


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Adds `task` to the registry (names are unique)."""
    if task.name in _REGISTRY:
        raise ValueError(f"task '{task.name}' is already registered")
    _REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TaskError(f"unknown RL task '{name}' (known: {', '.join(task_names())})") from None


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def answer_text(completion: str) -> str:
    """The answer part of a sampled completion: up to the first stop character."""
    cut = min((i for i in (completion.find(c) for c in STOP_CHARS) if i >= 0), default=len(completion))
    return completion[:cut]


def positional_share(answer: str, expected: str) -> float:
    """Matching characters at equal positions over the longer of the two lengths.

    The old program divided by the expected length only, which gave a copy
    answer with extra trailing characters (`abcxyz` for `abc`) full credit;
    dividing by the longer length keeps every inexact answer below 1.
    """
    n = max(len(answer), len(expected))
    if n == 0:
        return 1.0
    return sum(a == b for a, b in zip(answer, expected)) / n


# ---------------------------------------------------------------- the tasks


def _letters(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(lo, hi)))


def copy_expected(prompt: str) -> str:
    return prompt[:-1] if prompt.endswith(":") else prompt


def copy_reward(prompt: str, answer: str) -> float:
    exp = copy_expected(prompt)
    return 1.0 if answer.strip() == exp else positional_share(answer, exp)


def reverse_expected(prompt: str) -> str:
    return (prompt[:-1] if prompt.endswith(">") else prompt)[::-1]


def reverse_reward(prompt: str, answer: str) -> float:
    exp = reverse_expected(prompt)
    return 1.0 if answer.strip() == exp else 0.5 * positional_share(answer, exp)


def arithmetic_expected(prompt: str) -> str:
    body = prompt[:-1] if prompt.endswith("=") else prompt
    for i, ch in enumerate(body):
        if ch in "+-*" and i > 0:
            a, b = int(body[:i]), int(body[i + 1 :])
            return str(a + b if ch == "+" else a - b if ch == "-" else a * b)
    raise ValueError(f"not an arithmetic prompt: {prompt!r}")


def arithmetic_reward(prompt: str, answer: str) -> float:
    exp = arithmetic_expected(prompt)
    try:
        if int(answer.strip()) == int(exp):
            return 1.0
    except ValueError:
        pass
    return 0.5 * positional_share(answer.strip(), exp)


def _copy(lo: int, hi: int) -> Example:
    def make(rng: random.Random) -> tuple[str, str]:
        s = _letters(rng, lo, hi)
        return s + ":", s

    return make


def _reverse(lo: int, hi: int) -> Example:
    def make(rng: random.Random) -> tuple[str, str]:
        s = _letters(rng, lo, hi)
        return s + ">", s[::-1]

    return make


def _make_arithmetic(rng: random.Random) -> tuple[str, str]:
    prompt = f"{rng.randint(0, 9)}{rng.choice('+-*')}{rng.randint(0, 9)}="
    return prompt, arithmetic_expected(prompt)


def _make_arithmetic_general(rng: random.Random) -> tuple[str, str]:
    """Operands 0–19, at least one of them two-digit: none was trained on."""
    while True:
        a, b = rng.randint(0, 19), rng.randint(0, 19)
        if max(a, b) >= 10:
            prompt = f"{a}{rng.choice('+-*')}{b}="
            return prompt, arithmetic_expected(prompt)


COPY = register(Task("copy", _copy(2, 6), copy_expected, copy_reward, LETTERS + ":", 6, _copy(7, 8), "7–8 letters"))
REVERSE = register(
    Task("reverse", _reverse(2, 5), reverse_expected, reverse_reward, LETTERS + ">", 5, _reverse(6, 7), "6–7 letters")
)
register(
    Task(
        "arithmetic",
        _make_arithmetic,
        arithmetic_expected,
        arithmetic_reward,
        DIGITS + "+-*=",
        2,
        _make_arithmetic_general,
        "operands 10–19",
    )
)

# ------------------------------------------- beyond the demonstrations

register(
    dataclasses.replace(
        COPY, name="copy-long", make=_copy(2, 8), max_answer_len=8, make_general=_copy(9, 10),
        general="9–10 letters", demonstrate=_copy(2, 6),
    )
)  # fmt: skip
register(
    dataclasses.replace(
        REVERSE, name="reverse-long", make=_reverse(2, 7), max_answer_len=7, make_general=_reverse(8, 9),
        general="8–9 letters", demonstrate=_reverse(2, 5),
    )
)  # fmt: skip
