"""Reinforcement learning with verifiable rewards (GRPO) for rnnpy models.

    from rnnpy.rl import GRPOConfig, get_task, run_rl
    vocab = rnnpy.CharVocab.from_text(corpus)          # the model's vocabulary (a BPEVocab works too)
    report = run_rl(model, 1e-4, vocab, get_task("copy"), episodes=200, config=GRPOConfig(seed=1))
    print(report.before.held_out.line(), report.after.held_out.line())

Sampling and the update run in Rust with the GIL released
(`Model.sample_groups`, `Trainer.grpo_step`); tasks and rewards are plain
Python (`rnnpy.rl.tasks`), and so are the disjoint prompt sets
(`rnnpy.rl.splits`). docs/rl.md describes the algorithm.
"""

from rnnpy.rl.evaluate import EvalResult, Evaluation, Evaluator, evaluate
from rnnpy.rl.grpo import GRPO, EpisodeStats, GRPOConfig, RLReport, run_rl
from rnnpy.rl.splits import SPLITS, corpus_lines, draw_prompts, held_out_prompts, split_of
from rnnpy.rl.tasks import TASK_ALPHABET, Task, get_task, register, task_names
from rnnpy.rl.tokens import check_vocab, covering_vocab, stop_ids

__all__ = [
    "GRPO",
    "SPLITS",
    "TASK_ALPHABET",
    "EpisodeStats",
    "EvalResult",
    "Evaluation",
    "Evaluator",
    "GRPOConfig",
    "RLReport",
    "Task",
    "check_vocab",
    "corpus_lines",
    "covering_vocab",
    "draw_prompts",
    "evaluate",
    "get_task",
    "held_out_prompts",
    "register",
    "run_rl",
    "split_of",
    "stop_ids",
    "task_names",
]
