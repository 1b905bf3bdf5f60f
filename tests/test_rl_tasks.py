"""Verifiers and task generators: table-driven, pure functions."""

from __future__ import annotations

import random

import pytest

from rnnpy.rl.splits import EVAL, GENERAL, SFT, corpus_lines, draw_prompts
from rnnpy.rl.tasks import TASK_ALPHABET, Task, answer_text, get_task, register, task_names

REWARDS = [
    # task, prompt, answer, reward
    ("copy", "abc:", "abc", 1.0),
    ("copy", "abc:", " abc ", 1.0),  # surrounding spaces are forgiven, as before
    ("copy", "abc:", "abd", 2 / 3),
    ("copy", "abc:", "ab", 2 / 3),
    ("copy", "abc:", "abcxyz", 0.5),  # extra characters never earn full credit
    ("copy", "abc:", "", 0.0),
    ("copy", "abcdef:", "bcdefa", 0.0),
    ("reverse", "abc>", "cba", 1.0),
    ("reverse", "abc>", "abc", 0.5 * 1 / 3),
    ("reverse", "abc>", "cbx", 0.5 * 2 / 3),
    ("reverse", "ab>", "b", 0.5 * 1 / 2),
    ("reverse", "ab>", "", 0.0),
    ("arithmetic", "3+5=", "8", 1.0),
    ("arithmetic", "3+5=", " 8", 1.0),
    ("arithmetic", "3*4=", "12", 1.0),
    ("arithmetic", "3*4=", "13", 0.5 * 1 / 2),
    ("arithmetic", "3-7=", "-4", 1.0),
    ("arithmetic", "3-7=", "-5", 0.5 * 1 / 2),
    ("arithmetic", "9*9=", "8", 0.5 * 1 / 2),
    ("arithmetic", "2+2=", "x", 0.0),
    ("arithmetic", "0*7=", "0", 1.0),
]


@pytest.mark.parametrize(("task", "prompt", "answer", "reward"), REWARDS)
def test_reward_table(task: str, prompt: str, answer: str, reward: float) -> None:
    assert get_task(task).reward(prompt, answer) == pytest.approx(reward)


@pytest.mark.parametrize(
    ("completion", "answer"),
    [("abc\nxyz", "abc"), ("abc|d", "abc"), ("abc", "abc"), ("\n", ""), ("ab|c\n", "ab"), ("a\nb|", "a")],
)
def test_answer_ends_at_stop_character(completion: str, answer: str) -> None:
    assert answer_text(completion) == answer


@pytest.mark.parametrize(
    ("task", "prompt", "expected"),
    [
        ("copy", "hij:", "hij"),
        ("reverse", "abcde>", "edcba"),
        ("arithmetic", "7*8=", "56"),
        ("arithmetic", "0-9=", "-9"),
    ],
)
def test_expected_answers(task: str, prompt: str, expected: str) -> None:
    t = get_task(task)
    assert t.expected(prompt) == expected
    assert t.reward(prompt, expected) == 1.0


# task, split, the lengths of the letter strings it draws
LENGTHS = [
    ("copy", EVAL, range(2, 7)),
    ("copy", SFT, range(2, 7)),
    ("copy", GENERAL, range(7, 9)),
    ("reverse", EVAL, range(2, 6)),
    ("reverse", GENERAL, range(6, 8)),
    # demonstrations cover only the short strings of the -long tasks
    ("copy-long", SFT, range(2, 7)),
    ("copy-long", EVAL, range(2, 9)),
    ("copy-long", GENERAL, range(9, 11)),
    ("reverse-long", SFT, range(2, 6)),
    ("reverse-long", EVAL, range(2, 8)),
    ("reverse-long", GENERAL, range(8, 10)),
]


@pytest.mark.parametrize(("task", "split", "lengths"), LENGTHS)
def test_prompt_lengths_and_letters(task: str, split: str, lengths: range) -> None:
    t = get_task(task)
    seen = set()
    for prompt in draw_prompts(t, split, 3000, seed=1):
        body = prompt[:-1]
        assert set(body) <= set("abcdefghij")
        seen.add(len(body))
    assert seen == set(lengths)


def test_arithmetic_prompts() -> None:
    t = get_task("arithmetic")
    ops = set()
    for prompt in draw_prompts(t, EVAL, 500, seed=2):
        assert len(prompt) == 4 and prompt[0].isdigit() and prompt[2].isdigit() and prompt[3] == "="
        ops.add(prompt[1])
        assert len(t.expected(prompt)) <= t.max_answer_len
    assert ops == {"+", "-", "*"}
    # beyond the trained range: at least one two-digit operand, none above 19
    for prompt in draw_prompts(t, GENERAL, 500, seed=2):
        a, b = (int(x) for x in prompt[:-1].replace("*", " ").replace("+", " ").replace("-", " ").split())
        assert max(a, b) >= 10 and max(a, b) <= 19
        assert t.reward(prompt, t.expected(prompt)) == 1.0


@pytest.mark.parametrize("name", task_names())
def test_corpus_lines_are_solved_and_seeded(name: str) -> None:
    t = get_task(name)
    lines = corpus_lines(t, 300, seed=3)
    assert lines == corpus_lines(t, 300, seed=3)
    assert lines != corpus_lines(t, 300, seed=4)
    sep = {"copy": ":", "reverse": ">", "arithmetic": "="}[name.split("-")[0]]
    for line in lines:
        prompt, answer = line.split(sep)[0] + sep, line.split(sep, 1)[1]
        assert t.reward(prompt, answer) == 1.0
        assert set(line) <= set(TASK_ALPHABET)
        assert len(answer) <= t.max_answer_len


def test_registry_accepts_new_tasks_and_rejects_duplicates() -> None:
    def make(rng: random.Random) -> tuple[str, str]:
        return "a=", "a"

    t = Task("test-echo", make, lambda p: p[:-1], lambda p, a: float(a == p[:-1]), "a=", 1, make, "the same")
    register(t)
    assert "test-echo" in task_names() and get_task("test-echo") is t
    with pytest.raises(ValueError, match="already registered"):
        register(t)
    with pytest.raises(ValueError, match="unknown RL task 'nope'"):
        get_task("nope")
