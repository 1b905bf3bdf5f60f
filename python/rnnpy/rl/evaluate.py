"""Greedy evaluation on a fixed held-out prompt set: exact-match accuracy and
mean reward. The set depends only on the task and its seed, so numbers before
and after RL (and across runs) are comparable."""

from __future__ import annotations

from dataclasses import dataclass

from rnnpy.model import Completion, Model
from rnnpy.rl.tasks import Task, answer_text, draw_prompts, stop_ids
from rnnpy.vocab import CharVocab

#: Seed of the held-out prompts; RL training prompts use other seeds.
HELD_OUT_SEED = 987_654_321
PROMPT_PREFIX = "\n"  # what precedes every prompt in a task corpus


@dataclass(frozen=True)
class EvalResult:
    exact: float  # share of prompts answered exactly
    mean_reward: float
    n: int
    examples: tuple[tuple[str, str, float], ...]  # (prompt, answer, reward), the first few

    def line(self) -> str:
        return f"exact {self.exact:6.1%} | mean reward {self.mean_reward:.3f} | {self.n} held-out prompts (greedy)"


def held_out_prompts(task: Task, n: int = 200, seed: int = HELD_OUT_SEED) -> list[str]:
    return draw_prompts(task, n, seed)


def complete(
    model: Model, vocab: CharVocab, prompts: list[str], group_size: int, max_len: int, temperature: float, seed: int
) -> list[Completion]:
    """`group_size` completions per prompt (prompt-major), each prompt fed after a newline."""
    ids = [vocab.encode(PROMPT_PREFIX + p) for p in prompts]
    return model.sample_groups(ids, group_size, max_len, stop_ids(vocab), temperature, seed)


def evaluate(model: Model, vocab: CharVocab, task: Task, prompts: list[str], max_len: int = 20) -> EvalResult:
    outs = complete(model, vocab, prompts, 1, max_len, 0.0, 0)
    answers = [answer_text(vocab.decode(c.tokens)) for c in outs]
    rewards = [task.reward(p, a) for p, a in zip(prompts, answers)]
    exact = sum(r >= 1.0 for r in rewards) / len(prompts)
    examples = tuple(zip(prompts[:5], answers[:5], rewards[:5]))
    return EvalResult(exact, sum(rewards) / len(rewards), len(prompts), examples)
