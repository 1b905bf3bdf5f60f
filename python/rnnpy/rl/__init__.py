"""Reinforcement learning with verifiable rewards (GRPO) for rnnpy models.

    from rnnpy.rl import GRPOConfig, get_task, run_rl
    vocab = rnnpy.CharVocab.from_text(corpus)          # the model's character vocabulary
    report = run_rl(model, 1e-4, vocab, get_task("copy"), episodes=200, config=GRPOConfig(seed=1))
    print(report.before.line(), report.after.line())

Sampling and the update run in Rust with the GIL released
(`Model.sample_groups`, `Trainer.grpo_step`); tasks and rewards are plain
Python (`rnnpy.rl.tasks`). docs/rl.md describes the algorithm.
"""

from rnnpy.rl.evaluate import EvalResult, evaluate, held_out_prompts
from rnnpy.rl.grpo import GRPO, EpisodeStats, GRPOConfig, RLReport, run_rl
from rnnpy.rl.tasks import TASK_ALPHABET, Task, check_vocab, get_task, register, task_names

__all__ = [
    "GRPO",
    "TASK_ALPHABET",
    "EpisodeStats",
    "EvalResult",
    "GRPOConfig",
    "RLReport",
    "Task",
    "check_vocab",
    "evaluate",
    "get_task",
    "held_out_prompts",
    "register",
    "run_rl",
    "task_names",
]
