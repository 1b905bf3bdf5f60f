"""The prompt sets are disjoint by construction, for every task: no
demonstration, RL prompt and evaluation prompt share a prompt, and the
generalisation prompts lie outside them all. What the GRPO loop actually
samples is checked too, not only what the split functions return."""

from __future__ import annotations

import random

import pytest

import rnnpy
from rnnpy.rl.grpo import GRPO, GRPOConfig
from rnnpy.rl.splits import (
    EVAL,
    GENERAL,
    RL,
    SFT,
    SHARES,
    corpus_lines,
    draw_example,
    draw_prompts,
    held_out_prompts,
    split_of,
)
from rnnpy.rl.tasks import get_task, task_names
from rnnpy.rl.tokens import covering_vocab

SEP = {"copy": ":", "reverse": ">", "arithmetic": "="}


def prompt_of(task_name: str, line: str) -> str:
    sep = SEP[task_name.split("-")[0]]
    return line.split(sep)[0] + sep


@pytest.mark.parametrize("name", task_names())
def test_splits_are_disjoint(name: str) -> None:
    task = get_task(name)
    sets = {
        SFT: {prompt_of(name, line) for line in corpus_lines(task, 4000, seed=0)},
        RL: set(draw_prompts(task, RL, 2000, seed=1)),
        EVAL: set(held_out_prompts(task, 2000, EVAL)),
        GENERAL: set(held_out_prompts(task, 2000, GENERAL)),
    }
    for a, xs in sets.items():
        assert xs, a
        for b, ys in sets.items():
            if a < b:
                assert not xs & ys, f"{name}: {a} and {b} share {sorted(xs & ys)[:5]}"
    for split in (SFT, RL, EVAL):
        assert all(split_of(p) == split for p in sets[split])
    # The generalisation prompts are not merely unseen: none of them could be
    # drawn from the trained range at all.
    rng = random.Random(0)
    trained = {task.make(rng)[0] for _ in range(5000)} | {task.demonstration(rng)[0] for _ in range(5000)}
    assert not trained & sets[GENERAL]


def test_shares_and_stability() -> None:
    """A prompt's split is a fixed function of its text (BLAKE2b, not the
    per-process salted `hash`): these values must never change, or old corpora
    would leak into new evaluations."""
    assert sum(SHARES.values()) == 100
    pinned = {"abc:": RL, "cba>": SFT, "3+4=": EVAL, "hello:": SFT, "7*7=": SFT}
    assert {p: split_of(p) for p in pinned} == pinned
    counts = dict.fromkeys(SHARES, 0)
    for i in range(20_000):
        counts[split_of(f"{i}:")] += 1
    for split, share in SHARES.items():
        assert abs(counts[split] / 20_000 - share / 100) < 0.015, counts


def test_arithmetic_evaluation_holds_out_whole_facts() -> None:
    """The old evaluation drew from the same 300 prompts as training; now
    each prompt is in exactly one set, and every split has some."""
    task = get_task("arithmetic")
    everything = {f"{a}{op}{b}=" for a in range(10) for b in range(10) for op in "+-*"}
    by_split = {s: {p for p in everything if split_of(p) == s} for s in SHARES}
    assert set().union(*by_split.values()) == everything
    assert all(len(v) > 20 for v in by_split.values())
    assert set(held_out_prompts(task, 3000, EVAL)) == by_split[EVAL]


def test_unknown_split_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        draw_example(get_task("copy"), "test", random.Random(0))


@pytest.mark.parametrize("name", ["copy", "arithmetic", "copy-long"])
def test_grpo_samples_only_rl_prompts(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    task = get_task(name)
    vocab, _ = covering_vocab("", task)
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=len(vocab), hidden_size=8, embed_size=4, fast_mode=True))
    seen: list[str] = []
    import rnnpy.rl.grpo as grpo

    real = grpo.complete

    def spy(model: rnnpy.Model, vocab: object, prompts: list[str], *args: object) -> object:
        seen.extend(prompts)
        return real(model, vocab, prompts, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(grpo, "complete", spy)
    run = GRPO(model, vocab, task, GRPOConfig(group_size=2, prompts_per_episode=16, max_len=4))
    for _ in range(3):
        run.step()
    assert len(seen) == 48 and all(split_of(p) == RL for p in seen)
