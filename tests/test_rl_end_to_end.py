"""End to end, seeded and small (H=64, fastMode): supervised training on a
task's demonstrations, then GRPO on the verifier alone.

On the `-long` tasks the demonstrations cover only the short strings: more
supervised training does not raise the held-out exact match, GRPO does, by
a margin (benchmarks/RL.md measures the same over three seeds, with SFT run
to its plateau). With the advantage's sign flipped (the old program's bug)
the reward collapses instead."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy
from rnnpy.rl.evaluate import evaluate
from rnnpy.rl.grpo import GRPOConfig, RLReport, run_rl
from rnnpy.rl.splits import EVAL, corpus_lines, held_out_prompts
from rnnpy.rl.tasks import get_task

SEQ, BATCH = 32, 16


class Demonstrations:
    """Random windows of a task corpus (`prompt+answer` lines); char vocabulary."""

    def __init__(self, task_name: str, hidden: int, lines: int = 20_000) -> None:
        text = "\n" + "\n".join(corpus_lines(get_task(task_name), lines, seed=0)) + "\n"
        self.vocab = rnnpy.CharVocab.from_text(text)
        self.ids = np.array(self.vocab.encode(text), dtype=np.int64)
        self.rng = np.random.default_rng(0)
        cfg = rnnpy.ModelConfig(vocab_size=len(self.vocab), embed_size=16, hidden_size=hidden, fast_mode=True)
        self.model = rnnpy.Model(cfg, seed=0)
        self.trainer = rnnpy.Trainer(self.model, learning_rate=3e-3)

    def train(self, steps: int) -> None:
        starts = self.rng.integers(0, len(self.ids) - SEQ - 1, size=(steps, BATCH))[..., None]
        self.trainer.steps(self.ids[starts + np.arange(SEQ)], self.ids[starts + np.arange(1, SEQ + 1)])


def grpo(model: rnnpy.Model, vocab: rnnpy.CharVocab, task: str, episodes: int, **overrides: object) -> RLReport:
    cfg = GRPOConfig(learning_rate=1e-3, prompts_per_episode=32, inner_steps=2, seed=1, eval_prompts=500)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return run_rl(model, cfg.learning_rate, vocab, task, episodes, cfg)


@pytest.mark.parametrize(("task", "episodes", "margin"), [("copy-long", 300, 0.05), ("reverse-long", 150, 0.08)])
def test_grpo_goes_beyond_what_the_demonstrations_teach(task: str, episodes: int, margin: float) -> None:
    sft = Demonstrations(task, hidden=64)
    sft.train(2000)
    start = sft.model.copy()
    held_out = held_out_prompts(get_task(task), 500, EVAL)
    plateau = evaluate(sft.model, sft.vocab, get_task(task), held_out).exact
    sft.train(2000)  # the control: as much supervised training again
    more = evaluate(sft.model, sft.vocab, get_task(task), held_out).exact
    rep = grpo(start, sft.vocab, task, episodes)
    print(f"\n{task}: SFT {plateau:.3f}, more SFT {more:.3f}, GRPO {rep.after.held_out.line()}")
    assert rep.before.held_out.exact == plateau
    assert more < plateau + 0.03, "the demonstrations should have taught all they can"
    assert rep.after.held_out.exact > max(plateau, more) + margin


def test_flipped_advantages_make_the_reward_fall() -> None:
    """Guards against the old program's wrong-sign update."""
    sft = Demonstrations("copy", hidden=32, lines=3000)
    sft.train(300)
    rep = grpo(sft.model, sft.vocab, "copy", 30, learning_rate=2e-3, negate_advantages=True)
    assert rep.after.held_out.mean_reward < rep.before.held_out.mean_reward - 0.2
    assert rep.after.held_out.exact < rep.before.held_out.exact - 0.2
