"""Does GRPO add anything beyond supervised training's plateau?

For each task and seed:

1. **SFT to its plateau.** A model is trained on the task's demonstrations
   (the `sft` split, `python -m rnnpy tasks`) in rounds of `--round` steps;
   after each round its greedy exact match is measured on a *validation* set
   (prompts of the `rl` split, never trained on by SFT and disjoint from the
   evaluation). Training stops when `--patience` rounds in a row bring no
   gain of more than half a point; the best round's model is the plateau.
2. **More SFT** (the control): from the plateau, `--more` further steps with
   the same optimizer state — more CPU time than the GRPO phase takes.
3. **GRPO** from the plateau: `--episodes` episodes on `rl`-split prompts, a
   fresh AdamW (`--continue-adam` continues the supervised one instead).

Each model is scored greedily on the held-out `eval` split (500 prompts) and
beyond the trained range (`general`, 500 prompts). Everything is seeded and
the fused path gives the same bits at any thread count, so a run reproduces
its numbers exactly (only the times change).

    python benchmarks/rl_plateau.py                          # the results in benchmarks/RL.md (~40 min, one core)
    python benchmarks/rl_plateau.py --tasks copy-long --seeds 0 --json out.json
    python benchmarks/rl_plateau.py --smoke                  # CI: tiny budgets, seconds
    RAYON_NUM_THREADS=1 taskset -c 0 python benchmarks/rl_plateau.py ...   # as measured
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import rnnpy
from rnnpy.rl import GRPOConfig, corpus_lines, draw_prompts, evaluate, get_task, held_out_prompts, run_rl
from rnnpy.rl.splits import EVAL, GENERAL, RL
from rnnpy.rl.tasks import Task

TASKS = ("copy", "reverse", "arithmetic", "copy-long", "reverse-long")
SEQ, BATCH = 32, 16


@dataclass
class Settings:
    hidden: int = 64
    corpus: int = 50_000  # demonstration lines
    sft_lr: float = 3e-3
    round: int = 1000  # SFT steps between validations
    patience: int = 3
    max_rounds: int = 40
    more: int = 15_000  # the control's extra SFT steps
    episodes: int = 600
    rl_lr: float = 1e-3
    prompts: int = 32
    group: int = 8
    inner: int = 2
    eval_prompts: int = 500
    continue_adam: bool = False


@dataclass
class Score:
    exact: float
    reward: float
    general: float
    general_reward: float


def score(model: rnnpy.Model, vocab: rnnpy.CharVocab, task: Task, n: int) -> Score:
    held = evaluate(model, vocab, task, held_out_prompts(task, n, EVAL))
    gen = evaluate(model, vocab, task, held_out_prompts(task, n, GENERAL))
    return Score(held.exact, held.mean_reward, gen.exact, gen.mean_reward)


class Supervised:
    """Random windows of the demonstration corpus, `--round` steps per call."""

    def __init__(self, task: Task, s: Settings, seed: int) -> None:
        text = "\n" + "\n".join(corpus_lines(task, s.corpus, seed)) + "\n"
        self.vocab = rnnpy.CharVocab.from_text(text)
        self.ids = np.asarray(self.vocab.encode(text))
        self.rng = np.random.default_rng(seed)
        cfg = rnnpy.ModelConfig(vocab_size=len(self.vocab), embed_size=16, hidden_size=s.hidden, fast_mode=True)
        self.model = rnnpy.Model(cfg, seed=seed)
        self.trainer = rnnpy.Trainer(self.model, learning_rate=s.sft_lr)
        self.steps = 0

    def train(self, steps: int, trainer: rnnpy.Trainer | None = None) -> None:
        trainer = trainer or self.trainer
        for done in range(0, steps, 1000):
            n = min(1000, steps - done)
            starts = self.rng.integers(0, len(self.ids) - SEQ - 1, size=(n, BATCH))[..., None]
            trainer.steps(self.ids[starts + np.arange(SEQ)], self.ids[starts + np.arange(1, SEQ + 1)])
        self.steps += steps


def best_round(curve: list[float]) -> int:
    """The round whose model is the plateau: the last to beat the best before it by more than half a point."""
    best, at = -1.0, 0
    for i, exact in enumerate(curve):
        if exact > best + 0.005:
            best, at = exact, i
    return at


def to_plateau(sup: Supervised, task: Task, s: Settings, seed: int) -> tuple[rnnpy.Model, Any, list[float]]:
    """The best-validated model of the SFT run, its AdamW state, the validation curve."""
    val = draw_prompts(task, RL, s.eval_prompts, seed + 10_000)
    best_model, best_state, curve = sup.model.copy(), sup.trainer.state(), []
    while len(curve) < s.max_rounds and len(curve) - best_round(curve) <= s.patience:
        sup.train(s.round)
        curve.append(evaluate(sup.model, sup.vocab, task, val).exact)
        if best_round(curve) == len(curve) - 1:
            best_model, best_state = sup.model.copy(), sup.trainer.state()
    return best_model, best_state, curve


def one(task_name: str, seed: int, s: Settings) -> dict[str, Any]:
    task = get_task(task_name)
    sup = Supervised(task, s, seed)
    t0 = time.perf_counter()
    plateau, state, curve = to_plateau(sup, task, s, seed)
    sft_seconds = time.perf_counter() - t0
    plateau_steps = (best_round(curve) + 1) * s.round
    result: dict[str, Any] = {"task": task_name, "seed": seed, "curve": curve, "plateau_steps": plateau_steps}
    result["sft"] = asdict(score(plateau, sup.vocab, task, s.eval_prompts))

    more = plateau.copy()
    trainer = rnnpy.Trainer(more, learning_rate=s.sft_lr)
    trainer.set_state(*state)
    t0 = time.perf_counter()
    sup.train(s.more, trainer)
    result["more_sft"] = asdict(score(more, sup.vocab, task, s.eval_prompts))
    result["more_sft_seconds"] = time.perf_counter() - t0

    policy = plateau.copy()
    cfg = GRPOConfig(
        group_size=s.group, prompts_per_episode=s.prompts, inner_steps=s.inner, learning_rate=s.rl_lr,
        seed=seed, eval_prompts=s.eval_prompts,
    )  # fmt: skip
    if s.continue_adam:
        rl_trainer = rnnpy.Trainer(policy, learning_rate=s.rl_lr)
        rl_trainer.set_state(*state)
        report = run_rl(policy, rl_trainer, sup.vocab, task, s.episodes, cfg)
    else:
        report = run_rl(policy, s.rl_lr, sup.vocab, task, s.episodes, cfg)
    result["grpo"] = asdict(Score(
        report.after.held_out.exact, report.after.held_out.mean_reward,
        report.after.general.exact, report.after.general.mean_reward,
    ))  # fmt: skip
    result["grpo_seconds"] = report.seconds
    result["episodes_per_s"] = report.episodes_per_second
    result["sft_seconds"] = sft_seconds
    return result


def mean_sd(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):.1f} ± {100 * sd:.1f}"


def markdown(results: list[dict[str, Any]]) -> str:
    rows = [
        "| task | SFT plateau (steps) | more SFT | GRPO | beyond training: SFT → GRPO | episodes/s |",
        "|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["task"] for r in results):
        rs = [r for r in results if r["task"] == name]
        steps = "/".join(f"{r['plateau_steps'] / 1000:g}k" for r in rs)
        eps = statistics.mean(r["episodes_per_s"] for r in rs)
        rows.append(
            f"| {name} | {mean_sd([r['sft']['exact'] for r in rs])} ({steps}) "
            f"| {mean_sd([r['more_sft']['exact'] for r in rs])} | {mean_sd([r['grpo']['exact'] for r in rs])} "
            f"| {mean_sd([r['sft']['general'] for r in rs])} → {mean_sd([r['grpo']['general'] for r in rs])} "
            f"| {eps:.1f} |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--smoke", action="store_true", help="tiny budgets: checks the script runs")
    ap.add_argument("--continue-adam", action="store_true", help="GRPO continues the supervised AdamW state")
    ap.add_argument("--json", help="write every result here")
    ap.add_argument("--from-json", help="only print the table of a saved run")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            saved = json.load(f)
        for r in saved["results"]:
            r["plateau_steps"] = (best_round(r["curve"]) + 1) * saved["settings"]["round"]
        print(markdown(saved["results"]))
        return
    s = Settings(continue_adam=args.continue_adam)
    if args.smoke:
        s = Settings(hidden=16, corpus=500, round=20, patience=1, max_rounds=2, more=20, episodes=3, eval_prompts=20)
    results = []
    for name in args.tasks.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            r = one(name, seed, s)
            results.append(r)
            print(
                f"{name} seed {seed}: SFT {r['sft']['exact']:.3f} ({r['plateau_steps']} steps) | "
                f"more SFT {r['more_sft']['exact']:.3f} ({r['more_sft_seconds']:.0f}s) | "
                f"GRPO {r['grpo']['exact']:.3f} ({r['grpo_seconds']:.0f}s, {r['episodes_per_s']:.1f} ep/s) | "
                f"general {r['sft']['general']:.3f} -> {r['grpo']['general']:.3f}",
                flush=True,
            )
    print("\n" + markdown(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": asdict(s), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
