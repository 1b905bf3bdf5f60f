"""Quality benchmark (issue 11): how good a model five minutes of training
make on tiny Shakespeare, scored on the held-out last tenth.

One command runs the README's recipe exactly as printed there (the CLI,
``--maxTime`` as given), scores the saved model independently — a few lines
of numpy over ``Model.loss`` with the state carried, 32 contiguous streams,
every position counted — and, when torch imports, trains issue 11's PyTorch
``nn.GRU`` baseline for the same time (``quality_gru.py``, scored the same
way). Then one table, with the machine's load average.

    python benchmarks/quality.py                    # 5 minutes each at 2 threads (pin with taskset -c 0,1)
    python benchmarks/quality.py --seeds 1,2,3      # the recipe once per seed
    python benchmarks/quality.py --smoke            # CI: ~30 s, the recipe for 5 s, checks the pipeline
    python benchmarks/quality.py --json out.json --threads 1 --seconds 150

Results and the commands that made them are in benchmarks/QUALITY.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
sys.path.insert(0, str(ROOT / "python"))  # rnnpy from the checkout when it is not installed

import rnnpy  # noqa: E402

#: The README's recipe: `python -m rnnpy train` + these, with --maxTime=5m (smoke: 5s).
RECIPE = [
    "--trainingFile=../shared/data/tinyshakespeare.txt",
    "--valFraction=0.1",
    "--maxTime=5m",
    "--hiddenSize=256",
    "--embedSize=64",
    "--numLayers=1",
    "--fastMode",
    "--batching=stateful",
    "--batchSize=32",
    "--seqLength=128",
    "--lrSchedule=cosine",
    "--learningRate=0.003",
    "--minLearningRate=0.0003",
    "--warmupSteps=50",
    "--evalEvery=0",
    "--seed=1",
    "--savePath=shakespeare.bin",
]
TARGET = 1.45  # nats/char, in 5 minutes at 2 threads


def recipe(seconds: float, seed: int) -> list[str]:
    """The recipe's options with its time budget and seed replaced."""
    out = []
    for a in RECIPE:
        if a.startswith("--maxTime="):
            a = f"--maxTime={seconds:g}s" if seconds != 300 else a
        elif a.startswith("--seed="):
            a = f"--seed={seed}"
        elif a.startswith("--trainingFile="):
            a = f"--trainingFile={DATA}"
        out.append(a)
    return out


def held_out_nats(path: Path, text: str, streams: int = 32, window: int = 256) -> tuple[float, int]:
    """Mean NLL of the last tenth of `text` under the checkpoint at `path`,
    scored here rather than by the run: streams 0..S-2 of P//S positions and
    the last stream the rest, each from zero state with its state carried."""
    ck = rnnpy.load_checkpoint(path)
    vocab = rnnpy.RunMetadata.of(ck).vocab
    assert vocab is not None
    ids = np.array(vocab.encode(text[int(len(text) * 0.9) :]))
    p = len(ids) - 1
    n = p // streams
    total = 0.0
    parts = [(ids[: (streams - 1) * n + 1], streams - 1, n), (ids[(streams - 1) * n :], 1, p - (streams - 1) * n)]
    for t, rows, length in parts:
        x, y = t[:-1][: rows * length].reshape(rows, length), t[1:][: rows * length].reshape(rows, length)
        state = ck.model.new_state(rows)
        for a in range(0, length, window):
            xs, ys = x[:, a : a + window], y[:, a : a + window]
            total += ck.model.loss(xs, ys, state=state) * xs.size
    return total / p, p


def run_rnnpy(seconds: float, threads: int, seed: int, workdir: Path) -> dict[str, Any]:
    args = recipe(seconds, seed)
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT / "python"))
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "rnnpy", "train", *args, "--metricsFile=m.jsonl", "--genLength=300"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if p.returncode != 0:
        raise SystemExit(f"the recipe failed:\n{p.stderr[-2000:]}")
    wall = time.perf_counter() - t0
    save = workdir / next(a.split("=", 1)[1] for a in args if a.startswith("--savePath="))
    ck = rnnpy.load_checkpoint(save)
    meta = rnnpy.RunMetadata.of(ck)
    assert meta.position is not None and meta.val is not None
    nats, positions = held_out_nats(save, DATA.read_text(encoding="utf-8"))
    steps = ck.optimizer_step
    batch, seq = (int(_option(args, n)) for n in ("batchSize", "seqLength"))
    sample = re.search(r"-{70}\n(.*?)\n-{70}", p.stdout, re.S)
    return {
        "engine": "rnnpy",
        "command": "python -m rnnpy train " + " ".join(args),
        "threads": threads,
        "seed": seed,
        "seconds": meta.position.seconds,
        "wall_seconds": wall,
        "steps": steps,
        "tokens": steps * batch * seq,
        "tokens_per_s": steps * batch * seq / meta.position.seconds,
        "val_nats_per_char": nats,
        "val_bits_per_char": nats / math.log(2),
        "run_says": meta.val.score.loss,  # the run's own final evaluation: must agree
        "positions": positions,
        "sample": sample.group(1) if sample else "",
    }


def _option(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(f"--{name}="))


def run_gru(seconds: float, threads: int, seed: int) -> dict[str, Any] | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    cmd = [sys.executable, str(ROOT / "benchmarks" / "quality_gru.py"), f"--seconds={seconds}", f"--threads={threads}"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    p = subprocess.run([*cmd, f"--seed={seed}", f"--data={DATA}"], env=env, capture_output=True, text=True, check=True)
    return {"engine": "torch", **json.loads(p.stdout.strip().splitlines()[-1])}


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| model | thr | seed | seconds | tokens | tokens/s | val nats/char | bits/char |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        name = "rnnpy recipe (README)" if r["engine"] == "rnnpy" else r["model"]
        lines.append(
            f"| {name} | {r['threads']} | {r['seed']} | {r['seconds']:.0f} | {r['tokens']:,} | "
            f"{r['tokens_per_s']:,.0f} | {r['val_nats_per_char']:.4f} | {r['val_bits_per_char']:.4f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description="validation nats/char after a fixed training time (issue 11)")
    ap.add_argument("--smoke", action="store_true", help="CI: 5 s of training each, pipeline checks only")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="1", help="comma-separated seeds of the rnnpy recipe")
    ap.add_argument("--no-torch", action="store_true", help="skip the nn.GRU baseline")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    seconds = 5.0 if a.smoke else a.seconds
    seeds = [int(s) for s in a.seeds.split(",")]
    load = [os.getloadavg()[0]]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rnnpy-quality-") as tmp:
        for seed in seeds:
            runs.append(run_rnnpy(seconds, a.threads, seed, Path(tmp)))
            print(f"rnnpy seed {seed}: {runs[-1]['val_nats_per_char']:.4f} nats/char", file=sys.stderr)
    gru = None if a.no_torch else run_gru(seconds, a.threads, seeds[0])
    if gru is not None:
        runs.append(gru)
    load.append(os.getloadavg()[0])
    print(table(runs))
    print(f"\nLoad average (1 min): {load[0]:.2f} at the start, {load[1]:.2f} at the end.")
    ours = [r["val_nats_per_char"] for r in runs if r["engine"] == "rnnpy"]
    for r in runs:
        if r["engine"] == "rnnpy" and not math.isclose(r["run_says"], r["val_nats_per_char"], rel_tol=1e-5):
            raise SystemExit(f"the run's own validation {r['run_says']} differs from the independent score")
    if not a.smoke:
        print(f"rnnpy: mean {np.mean(ours):.4f} nats/char over {len(ours)} seed(s); target ≤ {TARGET}: "
              + ("✅" if max(ours) <= TARGET else "❌"))  # fmt: skip
        if gru is not None:
            ahead = gru["val_nats_per_char"] - max(ours)
            print(f"ahead of nn.GRU by {ahead:.4f} nats/char: " + ("✅" if ahead > 0 else "❌"))
    print(f"\nSample (seed {seeds[0]}):\n{runs[0]['sample']}")
    if a.json:
        a.json.write_text(json.dumps({"smoke": a.smoke, "load": load, "target": TARGET, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
