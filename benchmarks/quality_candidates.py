"""How the README's recipe was chosen (issue 11): variants of it trained for
the same number of optimizer steps and scored on the held-out tenth exactly
as quality.py scores the recipe.

A step budget, not a wall-time one, so that the comparison does not depend
on how loaded the machine is while it runs: every candidate does the same
arithmetic per step (same model, B32 T128), so the same steps are the same
seconds on a quiet machine. The schedules decay over --maxSteps.

    python benchmarks/quality_candidates.py --steps 2600 --threads 2 --update-doc full   # the full budget
    python benchmarks/quality_candidates.py --steps 300 --only recipe,random-3e-3 --seeds 1,2
    RAYON_NUM_THREADS=1 taskset -c 1 python benchmarks/quality_candidates.py --speed 40   # the step budget

--speed times 40 of the recipe's training steps in process and prints its
tokens per second of wall time and of CPU time: on a loaded machine the
CPU-time rate is what a quiet core would give, and the step budget that
five minutes at 2 threads give is 300 s × 1.7 (the assumed 2-thread
speed-up) × that rate / tokens per step.

Results and the commands that made them: benchmarks/QUALITY.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from quality import DATA, RECIPE, _option, run_rnnpy
from report import replace_marked

import rnnpy

TWO_THREAD_SPEEDUP = 1.7  # assumed, for the step budget: see the module docstring

# Each candidate is the recipe with these options changed ("" drops one).
SCREENED = {"learningRate": "0.003", "minLearningRate": "0.0003"}  # the first recipe's rate, before the screen
CANDIDATES: dict[str, dict[str, str]] = {
    "recipe": {},  # stateful, cosine 6e-3 → 6e-4 after 50 warm-up steps, clip 1
    "cosine-3e-3": SCREENED,
    "shuffled-3e-3": {"batching": "shuffled", **SCREENED},
    "random-3e-3": {"batching": "random", **SCREENED},
    "constant-2e-3": {"lrSchedule": "constant", "learningRate": "0.002", "minLearningRate": "", "warmupSteps": ""},
}


def candidate(name: str, steps: int, threads: int, seed: int, workdir: Path) -> dict[str, Any]:
    """One candidate trained for `steps` optimizer steps from the CLI, scored independently."""
    changes = {"maxTime": "", "maxSteps": str(steps), **CANDIDATES[name]}
    return {"candidate": name, "changes": CANDIDATES[name], **run_rnnpy(300, threads, seed, workdir, changes)}


def speed(steps: int) -> str:
    """The recipe's training step timed in process (random windows: the same arithmetic as any batching)."""
    text = DATA.read_text(encoding="utf-8")
    vocab = rnnpy.CharVocab.from_text(text)
    ids = np.asarray(vocab.encode(text), dtype=np.uint32)
    h, e, b, t = (int(_option(RECIPE, n)) for n in ("hiddenSize", "embedSize", "batchSize", "seqLength"))
    config = rnnpy.ModelConfig(vocab_size=vocab.size, hidden_size=h, embed_size=e, fast_mode=True)
    trainer = rnnpy.Trainer(rnnpy.Model(config, seed=1), learning_rate=float(_option(RECIPE, "learningRate")))
    rng = np.random.default_rng(1)

    def step() -> None:
        starts = rng.integers(0, len(ids) - t - 1, b)
        windows = np.stack([ids[s : s + t + 1] for s in starts])  # (b, t+1)
        trainer.step(windows[:, :-1], windows[:, 1:])

    for _ in range(3):  # warm-up: workspaces, caches
        step()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    tokens = steps * b * t
    budget = 300 * TWO_THREAD_SPEEDUP * tokens / cpu / (b * t)
    return (
        f"recipe step ({b}×{t}): {tokens / wall:,.0f} tokens/s of wall time, {tokens / cpu:,.0f} of CPU time "
        f"(CPU/wall {cpu / wall:.2f}); 5 minutes at 2 threads ≈ {budget:,.0f} steps (speed-up {TWO_THREAD_SPEEDUP})"
    )


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| candidate | changed from the recipe | seed | steps | val nats/char | run's tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        changed = ", ".join(f"{k}={v or '(none)'}" for k, v in r["changes"].items()) or "–"
        lines.append(
            f"| {r['candidate']} | {changed} | {r['seed']} | {r['steps']:,} | "
            f"{r['val_nats_per_char']:.4f} | {r['tokens_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description="the recipe's variants at a fixed step budget (issue 11)")
    ap.add_argument(
        "--steps", type=int, default=2600, help="optimizer steps per candidate (2600: five minutes at 2 threads)"
    )
    ap.add_argument("--speed", type=int, help="only time this many of the recipe's steps (tokens/s, step budget)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--only", help=f"comma-separated, of: {', '.join(CANDIDATES)}")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--update-doc", choices=["screen", "full"], help="write the table into that section of QUALITY.md")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidate(s) {', '.join(unknown)}: choose from {', '.join(CANDIDATES)}")
    if a.speed:
        print(speed(a.speed))
        return 0
    runs = []
    with tempfile.TemporaryDirectory(prefix="rnnpy-candidates-") as tmp:
        for seed in (int(s) for s in a.seeds.split(",")):
            for name in names:
                runs.append(candidate(name, a.steps, a.threads, seed, Path(tmp)))
                print(f"{name} seed {seed}: {runs[-1]['val_nats_per_char']:.4f} nats/char", file=sys.stderr, flush=True)
    md = table(runs)
    print(md)
    if a.update_doc:
        doc = Path(__file__).resolve().parent / "QUALITY.md"
        replace_marked(doc, f"<!-- {a.update_doc}:start -->", f"<!-- {a.update_doc}:end -->", md + "\n")
    if a.json:
        a.json.write_text(json.dumps({"steps": a.steps, "threads": a.threads, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
