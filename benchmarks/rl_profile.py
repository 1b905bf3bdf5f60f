"""Where a GRPO episode's time goes, with and without the reference
log-probs (the KL to the start policy), and how many groups are zero-spread:
the costs docs/rl.md quotes for its "as TRL defines GRPO" choices.

copy-long, H=64, fastMode, after `--sft` supervised steps (rl_plateau.py's
demonstrations and batches, seed 0); then `--episodes` GRPO episodes of
32 prompts × 8, μ = 2, lr 1e-3, β = 0, once measuring the reference every
episode and once not, each from the same model.

    RAYON_NUM_THREADS=1 taskset -c 0 python benchmarks/rl_profile.py     # ~1 min on an idle core
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from rl_plateau import Settings, Supervised

import rnnpy
from rnnpy.rl import GRPOConfig, get_task
from rnnpy.rl.grpo import GRPO

PHASES = {"sampling": (rnnpy.Model, "sample_groups"), "reference": (rnnpy.Model, "token_log_probs"),
          "update": (rnnpy.Trainer, "grpo_step")}  # fmt: skip


@contextlib.contextmanager
def timed_phases(seconds: dict[str, float]) -> Iterator[None]:
    """Adds each Rust call's wall time to `seconds[phase]` while active."""

    def timer(phase: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                seconds[phase] += time.perf_counter() - t0

        return timed

    originals = {phase: getattr(cls, name) for phase, (cls, name) in PHASES.items()}
    try:
        for phase, (cls, name) in PHASES.items():
            setattr(cls, name, timer(phase, originals[phase]))
        yield
    finally:
        for phase, (cls, name) in PHASES.items():
            setattr(cls, name, originals[phase])


def profile(sup: Supervised, episodes: int, with_reference: bool) -> dict[str, float]:
    cfg = GRPOConfig(prompts_per_episode=32, inner_steps=2, learning_rate=1e-3, seed=0, track_kl=with_reference)
    run = GRPO(sup.model.copy(), sup.vocab, get_task("copy-long"), cfg)
    seconds = dict.fromkeys(PHASES, 0.0)
    zero_spread = []
    with timed_phases(seconds):
        for _ in range(episodes):
            s = run.step()
            zero_spread.append(s.zero_spread / s.groups)
    shares = {phase: t / run.seconds for phase, t in seconds.items()}
    return {"episodes_per_s": episodes / run.seconds, **shares, "zero_spread": statistics.mean(zero_spread)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sft", type=int, default=3000, help="supervised steps before RL")
    ap.add_argument("--episodes", type=int, default=300)
    args = ap.parse_args()
    sup = Supervised(get_task("copy-long"), Settings(), seed=0)
    sup.train(args.sft)
    for with_reference in (True, False):
        r = profile(sup, args.episodes, with_reference)
        print(
            f"reference {'every episode' if with_reference else 'never      '}: {r['episodes_per_s']:.1f} episodes/s"
            f" | sampling {r['sampling']:.0%} | reference {r['reference']:.0%} | update {r['update']:.0%}"
            f" | zero-spread groups {r['zero_spread']:.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
