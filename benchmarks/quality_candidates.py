"""How the README's recipe was chosen (issue 11): variants of it trained for
the same number of optimizer steps and scored on the held-out tenth exactly
as quality.py scores the recipe.

A step budget, not a wall-time one, so that the comparison does not depend
on how loaded the machine is while it runs: every candidate does the same
arithmetic per step (same model, B32 T128), so the same steps are the same
seconds on a quiet machine. The schedules decay over --maxSteps.

    python benchmarks/quality_candidates.py --steps 1890 --threads 1            # every candidate, in turn
    python benchmarks/quality_candidates.py --steps 1890 --only recipe,random --seeds 1,2
    python benchmarks/quality_candidates.py --speed 60                            # the recipe's tokens/s (60 steps)

Results and the commands that made them: benchmarks/QUALITY.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from quality import run_rnnpy

# Each candidate is the recipe with these options changed ("" drops one).
CANDIDATES: dict[str, dict[str, str]] = {
    "recipe": {},  # stateful, cosine 3e-3 → 3e-4 after 50 warm-up steps, clip 1
    "shuffled": {"batching": "shuffled"},
    "random": {"batching": "random"},
    "constant-2e-3": {"lrSchedule": "constant", "learningRate": "0.002", "minLearningRate": "", "warmupSteps": ""},
    "cosine-6e-3": {"learningRate": "0.006", "minLearningRate": "0.0006"},
    "cosine-1.5e-3": {"learningRate": "0.0015", "minLearningRate": "0.00015"},
    "linear": {"lrSchedule": "linear"},
    "clip-5": {"gradClip": "5"},
}


def candidate(name: str, steps: int, threads: int, seed: int, workdir: Path) -> dict[str, Any]:
    """One candidate trained for `steps` optimizer steps from the CLI, scored independently."""
    changes = {"maxTime": "", "maxSteps": str(steps), **CANDIDATES[name]}
    return {"candidate": name, "changes": CANDIDATES[name], **run_rnnpy(300, threads, seed, workdir, changes)}


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
    ap.add_argument("--steps", type=int, default=1890, help="optimizer steps per candidate")
    ap.add_argument("--speed", type=int, help="only time the recipe for this many steps and print its tokens/s")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--only", help=f"comma-separated, of: {', '.join(CANDIDATES)}")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidate(s) {', '.join(unknown)}: choose from {', '.join(CANDIDATES)}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="rnnpy-candidates-") as tmp:
        if a.speed:
            r = candidate("recipe", a.speed, a.threads, 1, Path(tmp))
            print(f"recipe: {r['tokens_per_s']:,.0f} tokens/s at {a.threads} thread(s) over {a.speed} steps")
            return 0
        for seed in (int(s) for s in a.seeds.split(",")):
            for name in names:
                runs.append(candidate(name, a.steps, a.threads, seed, Path(tmp)))
                print(f"{name} seed {seed}: {runs[-1]['val_nats_per_char']:.4f} nats/char", file=sys.stderr, flush=True)
    print(table(runs))
    if a.json:
        a.json.write_text(json.dumps({"steps": a.steps, "threads": a.threads, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
