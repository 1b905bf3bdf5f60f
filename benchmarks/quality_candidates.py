"""How the README's recipe was chosen (issue 11): variants of it trained for
the same number of optimizer steps and scored on the held-out tenth exactly
as quality.py scores the recipe.

A step budget, not a wall-time one, so that the comparison does not depend
on how loaded the machine is while it runs: the engine's results are the
same bits at any thread count, so a candidate run at 1 thread on a busy
core trains exactly what 2 threads would in their five minutes. The
schedules decay over --maxSteps. Candidates of another model (depth, cell)
do other arithmetic per step: each gets the steps its own speed gives
(QUALITY.md lists them).

    taskset -c 1 python benchmarks/quality_candidates.py --steps 1940 --only recipe,wd-0.01,wd-0.1,wd-1
    taskset -c 1 python benchmarks/quality_candidates.py --steps 1620 --only rwkv-2-layers
    RAYON_NUM_THREADS=2 python benchmarks/quality_candidates.py --speed 20   # the recipe's step budget

--speed times 20 of the recipe's training steps in process and prints its
tokens per second and the steps five minutes give at that rate (run it on
a quiet machine at the thread count of the budget).

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

# Each candidate is the recipe with these options changed ("" drops one, so
# the default applies). The recipe: three 256-wide GRU-only layers (no RWKV,
# no MoE), random windows, cosine 6e-3 → 6e-4 after 50 warm-up steps, AdamW
# weight decay 0.3, clip 1. The step budget of each (five minutes at 2
# threads, from --speed) is in QUALITY.md beside its result.
CANDIDATES: dict[str, dict[str, str]] = {
    "recipe": {},
    "wd-0.01": {"weightDecay": "0.01"},  # the default weight decay
    "wd-0.1": {"weightDecay": "0.1"},
    "wd-1": {"weightDecay": "1.0"},
    "gru-4-layers-wd-0.01": {"numLayers": "4", "weightDecay": "0.01"},
    "rwkv-2-layers": {"numLayers": "2", "useRWKV": ""},  # the RWKV cell, two layers (its speed: 1,620 steps)
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
    h, e, b, t, layers = (
        int(_option(RECIPE, n)) for n in ("hiddenSize", "embedSize", "batchSize", "seqLength", "numLayers")
    )
    rwkv = _option(RECIPE, "useRWKV") != "false"
    config = rnnpy.ModelConfig(
        vocab_size=vocab.size, hidden_size=h, embed_size=e, num_layers=layers, use_rwkv=rwkv, fast_mode=True
    )
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
    budget = 300 * tokens / wall / (b * t)
    return (
        f"recipe step ({b}×{t}): {tokens / wall:,.0f} tokens/s of wall time, {tokens / cpu:,.0f} of CPU time "
        f"(CPU/wall {cpu / wall:.2f}); 5 minutes at this rate ≈ {budget:,.0f} steps"
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
        "--steps", type=int, default=1940, help="optimizer steps per candidate (1940: the recipe's five minutes at 2 threads)"
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
