"""Verifiable tasks for RL: prompt generators and pure reward functions.

A task turns a random generator into a `(prompt, answer)` pair and scores a
completion against a prompt. Tasks live in a registry, so a new one is one
`register(Task(...))` call away and the GRPO loop never changes.

    copy        abc:   -> abc      letters a–j, 2–6 of them
    reverse     abc>   -> cba      letters a–j, 2–5 of them
    arithmetic  3+5=   -> 8        operands 0–9, one of + - *

Rewards (as the old program's, with one fix noted in `positional_share`):
1.0 for an exact answer; otherwise the share of positions that match, halved
for reverse and arithmetic.

An answer is the completion up to its first stop character (newline or `|`),
or all of it when there is none (it hit the maximum length).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rnnpy.errors import TaskError
from rnnpy.vocab import CharVocab

LETTERS = "abcdefghij"
DIGITS = "0123456789"
STOP_CHARS = "\n|"
#: Every character a task prompt or answer can contain, plus the newline
#: that ends an answer. A model's vocabulary must hold the characters its task
#: uses (`Task.alphabet`); this set covers all registered tasks.
TASK_ALPHABET = "".join(sorted(set(LETTERS + DIGITS + ":>=+-*\n")))


@dataclass(frozen=True)
class Task:
    """A verifiable task. `make` draws one `(prompt, answer)`; `expected` gives a
    prompt's reference answer; `reward` scores an answer text (stop characters
    already removed) for a prompt. All three are pure functions."""

    name: str
    make: Callable[[random.Random], tuple[str, str]]
    expected: Callable[[str], str]
    reward: Callable[[str, str], float]
    #: Characters prompts and answers use (the vocabulary must contain them and '\n').
    alphabet: str
    #: Longest answer the task can need; sampling stops after `max_answer_len + 1` tokens.
    max_answer_len: int


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


def stop_ids(vocab: CharVocab) -> list[int]:
    """The ids that end an answer (newline, `|`) in a character vocabulary."""
    ids = [vocab.id(c) for c in STOP_CHARS if c in vocab]
    if not ids:
        raise TaskError("the vocabulary has no newline (or '|'), so no answer could end")
    return ids


def check_vocab(vocab: CharVocab, task: Task) -> None:
    """A vocabulary must hold a stop character and every character `task` and its corpus use."""
    stop_ids(vocab)
    missing = sorted(set(task.alphabet + "\n") - set(vocab.chars))
    if missing:
        raise TaskError(
            f"the model's vocabulary lacks characters task '{task.name}' needs: {''.join(missing)!r}; "
            "train on a corpus from `python -m rnnpy tasks` (or one containing these characters)"
        )


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


def _make_copy(rng: random.Random) -> tuple[str, str]:
    s = _letters(rng, 2, 6)
    return s + ":", s


def _make_reverse(rng: random.Random) -> tuple[str, str]:
    s = _letters(rng, 2, 5)
    return s + ">", s[::-1]


def _make_arithmetic(rng: random.Random) -> tuple[str, str]:
    prompt = f"{rng.randint(0, 9)}{rng.choice('+-*')}{rng.randint(0, 9)}="
    return prompt, arithmetic_expected(prompt)


register(Task("copy", _make_copy, copy_expected, copy_reward, LETTERS + ":", 6))
register(Task("reverse", _make_reverse, reverse_expected, reverse_reward, LETTERS + ">", 5))
register(Task("arithmetic", _make_arithmetic, arithmetic_expected, arithmetic_reward, DIGITS + "+-*=", 2))


# ---------------------------------------------------------------- corpora


def draw_prompts(task: Task, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [task.make(rng)[0] for _ in range(n)]


def iter_corpus_lines(task: Task, n: int, seed: int = 0) -> Iterator[str]:
    """`n` solved examples, `prompt + answer` each (no newline), for supervised
    training; drawn one at a time, so any `n` streams in constant memory."""
    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(task.make(rng))


def corpus_lines(task: Task, n: int, seed: int = 0) -> list[str]:
    """`iter_corpus_lines` as a list."""
    return list(iter_corpus_lines(task, n, seed))
