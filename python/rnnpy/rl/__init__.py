"""Reinforcement learning with verifiable rewards (GRPO) for rnnpy models.

    from rnnpy.rl import get_task, run_rl
    task = get_task("copy")
    report = run_rl(model, 1e-4, vocab, task, episodes=200)

Sampling and the loss/gradient run in Rust with the GIL released; tasks and
rewards are plain Python (`rnnpy.rl.tasks`).
"""

from rnnpy.rl.tasks import TASK_ALPHABET, Task, get_task, register, task_names

__all__ = ["TASK_ALPHABET", "Task", "get_task", "register", "task_names"]
