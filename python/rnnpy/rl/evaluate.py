"""Greedy evaluation on fixed prompt sets that training never sees: the
held-out `eval` split of the trained range, and the `general` prompts beyond
it (rnnpy.rl.splits). Exact-match share and mean reward; the sets depend only
on the task and their size, so numbers before and after RL, and across runs,
compare."""

from __future__ import annotations

from dataclasses import dataclass

from rnnpy.model import Completion, Model
from rnnpy.rl.splits import EVAL, GENERAL, held_out_prompts
from rnnpy.rl.tasks import Task, answer_text
from rnnpy.rl.tokens import stop_ids
from rnnpy.vocab import Vocab

PROMPT_PREFIX = "\n"  # what precedes every prompt in a task corpus


@dataclass(frozen=True)
class EvalResult:
    exact: float  # share of prompts answered exactly
    mean_reward: float
    n: int
    distinct: int  # distinct prompts among the n (a small split repeats some)
    examples: tuple[tuple[str, str, float], ...]  # (prompt, answer, reward), the first few

    def line(self, what: str = "held-out") -> str:
        distinct = f", {self.distinct} distinct" if self.distinct < self.n else ""
        return (
            f"exact {self.exact:6.1%} | mean reward {self.mean_reward:.3f} | {self.n} {what} prompts{distinct} (greedy)"
        )


@dataclass(frozen=True)
class Evaluation:
    """Both evaluations of one model."""

    held_out: EvalResult
    general: EvalResult

    def lines(self, task: Task) -> list[str]:
        return [self.held_out.line(), f"  beyond training ({task.general}): {self.general.line('unseen')}"]


def complete(
    model: Model, vocab: Vocab, prompts: list[str], group_size: int, max_len: int, temperature: float, seed: int
) -> list[Completion]:
    """`group_size` completions per prompt (prompt-major), each prompt fed after a newline."""
    ids = [vocab.encode(PROMPT_PREFIX + p) for p in prompts]
    return model.sample_groups(ids, group_size, max_len, stop_ids(vocab), temperature, seed)


def evaluate(model: Model, vocab: Vocab, task: Task, prompts: list[str], max_len: int = 20) -> EvalResult:
    outs = complete(model, vocab, prompts, 1, max_len, 0.0, 0)
    answers = [answer_text(vocab.decode(c.tokens)) for c in outs]
    rewards = [task.reward(p, a) for p, a in zip(prompts, answers)]
    exact = sum(r >= 1.0 for r in rewards) / len(prompts)
    examples = tuple(zip(prompts[:5], answers[:5], rewards[:5]))
    return EvalResult(exact, sum(rewards) / len(rewards), len(prompts), len(set(prompts)), examples)


class Evaluator:
    """The two fixed prompt sets of a task, drawn once."""

    def __init__(self, task: Task, n: int, max_len: int) -> None:
        self.task, self.max_len = task, max_len
        self.held_out = held_out_prompts(task, n, EVAL)
        self.general = held_out_prompts(task, n, GENERAL)

    def __call__(self, model: Model, vocab: Vocab) -> Evaluation:
        return Evaluation(
            evaluate(model, vocab, self.task, self.held_out, self.max_len),
            evaluate(model, vocab, self.task, self.general, self.max_len),
        )
