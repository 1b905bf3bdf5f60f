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

from report import replace_marked  # noqa: E402

import rnnpy  # noqa: E402

#: The README's recipe: `python -m rnnpy train` + these, with --maxTime=5m (smoke: 5s).
RECIPE = [
    "--trainingFile=../shared/data/tinyshakespeare.txt",
    "--valFraction=0.1",
    "--maxTime=5m",
    "--hiddenSize=256",
    "--embedSize=64",
    "--numLayers=3",
    "--useRWKV=false",
    "--fastMode",
    "--batching=random",
    "--batchSize=32",
    "--seqLength=128",
    "--lrSchedule=cosine",
    "--learningRate=0.006",
    "--weightDecay=0.3",
    "--minLearningRate=0.0006",
    "--warmupSteps=50",
    "--evalEvery=0",
    "--seed=1",
    "--savePath=shakespeare.bin",
]
TARGET = 1.45  # nats/char, in 5 minutes at 2 threads
#: The README's sample: `python -m rnnpy generate --loadCheckpoint=shakespeare.bin` + these.
GENERATE = ["--prompt=ROMEO:", "--temperature=0.8", "--genLength=300", "--seed=1"]
README = ROOT / "README.md"
MARK_START, MARK_END = "<!-- quality:start -->", "<!-- quality:end -->"


def recipe(seconds: float, seed: int, changes: dict[str, str] | None = None) -> list[str]:
    """The recipe's options with its time budget, seed and any `changes`
    ({option: value}; value "" drops the option, a new option is appended)
    replaced. `quality_candidates.py` gives --maxTime "" and a --maxSteps."""
    changes = {"seed": str(seed), "trainingFile": str(DATA), **(changes or {})}
    if seconds != 300:
        changes.setdefault("maxTime", f"{seconds:g}s")
    out = []
    for a in RECIPE:
        name = a[2:].split("=", 1)[0]
        value = changes.pop(name, None)
        if value != "":
            out.append(a if value is None else f"--{name}={value}")
    return out + [f"--{n}={v}" for n, v in changes.items() if v != ""]


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


def run_rnnpy(
    seconds: float, threads: int, seed: int, workdir: Path, changes: dict[str, str] | None = None
) -> dict[str, Any]:
    """Trains `recipe(seconds, seed, changes)` from the CLI in `workdir`; scores the saved model independently."""
    args = recipe(seconds, seed, changes)
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT / "python"))
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "rnnpy", "train", *args, "--metricsFile=m.jsonl", "--genLength=0"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if p.returncode != 0:
        raise SystemExit(f"the recipe failed:\n{p.stderr[-2000:]}")
    wall = time.perf_counter() - t0
    save = workdir / _option(args, "savePath")
    g = subprocess.run(
        [sys.executable, "-m", "rnnpy", "generate", f"--loadCheckpoint={save.name}", *GENERATE, "--quiet"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    ck = rnnpy.load_checkpoint(save)
    meta = rnnpy.RunMetadata.of(ck)
    assert meta.position is not None and meta.val is not None
    nats, positions = held_out_nats(save, DATA.read_text(encoding="utf-8"))
    steps = ck.optimizer_step
    batch, seq = (int(_option(args, n)) for n in ("batchSize", "seqLength"))
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
        "sample": g.stdout.strip(),
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


def report(runs: list[dict[str, Any]], load: list[float], smoke: bool) -> str:
    """The results as README.md shows them: table, verdicts, the command and load, the sample."""
    ours = [r["val_nats_per_char"] for r in runs if r["engine"] == "rnnpy"]
    gru = next((r for r in runs if r["engine"] == "torch"), None)
    lines = [table(runs), ""]
    if not smoke:
        lines.append(f"rnnpy: mean {np.mean(ours):.4f} nats/char over {len(ours)} seed(s); target ≤ {TARGET}: "
                     + ("✅" if max(ours) <= TARGET else "❌"))  # fmt: skip
        if gru is not None:
            ahead = gru["val_nats_per_char"] - max(ours)
            lines.append(f"ahead of nn.GRU by {ahead:.4f} nats/char: " + ("✅" if ahead > 0 else "❌"))
        lines.append("")
    shown, skip = [], False  # the command without the flags that only say where results go
    for x in sys.argv[1:]:
        if skip or x == "--update-readme" or x.startswith("--json="):
            skip = False
        elif x == "--json":
            skip = True
        else:
            shown.append(x)
    command = " ".join(["python benchmarks/quality.py", *shown])
    lines += [
        f"Measured {time.strftime('%Y-%m-%d')} by `{command}`; load average (1 min) {load[0]:.2f} at the start,"
        f" {load[1]:.2f} at the end.",
        "",
        f"Sample from the seed-{runs[0]['seed']} model, "
        f"`python -m rnnpy generate --loadCheckpoint=shakespeare.bin {' '.join(GENERATE)}`:",
        "",
        "```text",
        runs[0]["sample"],
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description="validation nats/char after a fixed training time (issue 11)")
    ap.add_argument("--smoke", action="store_true", help="CI: 5 s of training each, pipeline checks only")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="1", help="comma-separated seeds of the rnnpy recipe")
    ap.add_argument("--no-torch", action="store_true", help="skip the nn.GRU baseline")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--update-readme", action="store_true", help="write the results into README.md's recipe section")
    a = ap.parse_args()
    if a.update_readme and a.smoke:
        raise SystemExit("--update-readme wants the real measurement, not --smoke")
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
    for r in runs:
        if r["engine"] == "rnnpy" and not math.isclose(r["run_says"], r["val_nats_per_char"], rel_tol=1e-5):
            raise SystemExit(f"the run's own validation {r['run_says']} differs from the independent score")
    md = report(runs, load, smoke=a.smoke)
    print(md)
    if a.json:
        a.json.write_text(json.dumps({"smoke": a.smoke, "load": load, "target": TARGET, "runs": runs}, indent=1))
    if a.update_readme:
        replace_marked(README, MARK_START, MARK_END, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
