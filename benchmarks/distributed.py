"""Data-parallel training on this machine, and a scaling model for many hosts.

    python benchmarks/distributed.py                       # B and C: 1×1, 1×2 threads, 2 ranks × 1 thread
    python benchmarks/distributed.py --configs B --steps 10 --rounds 1
    python benchmarks/distributed.py --update-readme       # also rewrite benchmarks/README.md's table

Each measurement is its own process (or `mpiexec -n 2` job): the training
step of config B or C (benchmarks/configs.py) on tiny Shakespeare batches,
timed after two warm-up steps. One process runs `Trainer.step`; two ranks
run rnnpy's data-parallel step (their rows, one all-reduce, the update). The
modes alternate, `--rounds` times, and the medians are reported, with the
time per step rank 0 spent waiting in the all-reduce.

The scaling model then predicts, for N hosts of this machine (one rank per
host, 2 threads) joined by a 10 or 25 Gb/s network, the efficiency of a
ring all-reduce that does not overlap the compute:
    allreduce(N) = 2 (N − 1) / N · 4 P bytes / bandwidth + 2 (N − 1) · latency
    efficiency   = compute(B / N) / (compute(B / N) + allreduce(N))
with compute measured here (1 process × 2 threads, per token) and a latency
of 20 µs per message; and the global batch that keeps the efficiency ≥ 90%.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from configs import FULL, SMOKE, BenchConfig  # noqa: E402

MODES = {"1 process × 1 thread": (1, 1), "1 process × 2 threads": (1, 2), "2 ranks × 1 thread": (2, 1)}
LATENCY_S = 20e-6
HOSTS = (8, 32, 128)
BANDWIDTHS_GBPS = (10, 25)
START, END = "<!-- distributed:start -->", "<!-- distributed:end -->"


# -- one measurement (a worker process, or each rank of an mpiexec job) ----------------
def worker(cfg: BenchConfig, steps: int) -> None:
    from workers import batches

    import rnnpy
    from rnnpy.batching import Batch
    from rnnpy.data_parallel import DataParallel
    from rnnpy.distributed import connect

    world = connect("auto")
    model = rnnpy.Model(rnnpy.ModelConfig(**cfg.model_kwargs()), seed=0)
    trainer = rnnpy.Trainer(model, 1e-3, 0.0, 1.0)
    xs, ys = batches(cfg, steps + 2)
    parallel = DataParallel(trainer, world, cfg.batch) if world.size > 1 else None

    def step(i: int) -> None:
        if parallel is None:
            trainer.step(xs[i], ys[i])
        else:
            parallel.step(Batch(xs[i], ys[i]), None, 0.0, False)

    for i in range(2):
        step(i)
    waited0 = parallel.allreduce_seconds if parallel else 0.0
    t0 = time.perf_counter()
    for i in range(2, steps + 2):
        step(i)
    seconds = world.broadcast(time.perf_counter() - t0)  # rank 0's clock
    waited = (parallel.allreduce_seconds - waited0) if parallel else 0.0
    if world.is_root:
        tokens = steps * cfg.batch * cfg.seq
        print(json.dumps({"tokens_per_s": tokens / seconds, "step_ms": seconds / steps * 1e3,
                          "allreduce_ms": waited / steps * 1e3, "parameters": model.num_parameters}))  # fmt: skip


def measure(name: str, ranks: int, threads: int, steps: int, smoke: bool) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), PYTHONPATH=str(HERE.parent / "python"))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, str(steps)] + ["--smoke"] * smoke
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
        if mpiexec is None:
            raise SystemExit("mpiexec not found: pip install mpi4py mpich")
        cmd = [mpiexec, "-n", str(ranks), *cmd]
    elif threads == 1:
        cmd = ["taskset", "-c", "0", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# -- the model for many hosts ------------------------------------------------------------
def allreduce_seconds(parameters: int, hosts: int, gbps: float) -> float:
    data = 4 * parameters
    return 2 * (hosts - 1) / hosts * data / (gbps * 1e9 / 8) + 2 * (hosts - 1) * LATENCY_S


def efficiency(seconds_per_token: float, tokens: float, parameters: int, hosts: int, gbps: float) -> float:
    compute = seconds_per_token * tokens / hosts
    return compute / (compute + allreduce_seconds(parameters, hosts, gbps))


def batch_for(seconds_per_token: float, seq: int, parameters: int, hosts: int, gbps: float, target: float) -> int:
    """The smallest global batch (rows of `seq` tokens) with efficiency ≥ target."""
    ar = allreduce_seconds(parameters, hosts, gbps)
    tokens = target / (1 - target) * ar * hosts / seconds_per_token
    return max(hosts, int(np.ceil(tokens / seq)))


def report(results: dict, cfgs: dict[str, BenchConfig]) -> str:
    lines = [
        "| config | mode | tokens/s | ms per step | all-reduce ms per step | × 1 process, 1 thread |",
        "|---|---|---|---|---|---|",
    ]
    for name, modes in results.items():
        base = modes["1 process × 1 thread"]["tokens_per_s"]
        for mode, r in modes.items():
            ar = f"{r['allreduce_ms']:.2f}" if MODES[mode][0] > 1 else "–"
            lines.append(f"| {name} | {mode} | {r['tokens_per_s']:,.0f} | {r['step_ms']:.1f} | {ar} | "
                         f"{r['tokens_per_s'] / base:.2f}× |")  # fmt: skip
    lines += ["", "Predicted for N hosts like this one (one rank of 2 threads each), ring all-reduce, no overlap:", ""]
    lines += ["| config | gradient MB | N | 10 Gb/s: all-reduce ms, efficiency | 25 Gb/s: all-reduce ms, efficiency "
              "| global batch for ≥ 90% at 10 / 25 Gb/s |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, modes in results.items():
        c, r = cfgs[name], modes["1 process × 2 threads"]
        p, spt = r["parameters"], 1 / r["tokens_per_s"]
        tokens = c.batch * c.seq
        for n in HOSTS:
            cells = [
                f"{allreduce_seconds(p, n, g) * 1e3:.1f}, {efficiency(spt, tokens, p, n, g) * 100:.0f}%"
                for g in BANDWIDTHS_GBPS
            ]
            need = " / ".join(str(batch_for(spt, c.seq, p, n, g, 0.9)) for g in BANDWIDTHS_GBPS)
            lines.append(f"| {name} (batch {c.batch}) | {4 * p / 1e6:.1f} | {n} | {cells[0]} | {cells[1]} | {need} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="B,C")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: B 30, C 8)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="the shrunk configs, for a quick check")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--update-readme", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("CONFIG", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    cfgs = SMOKE if args.smoke else FULL
    if args.worker:
        worker(cfgs[args.worker[0]], int(args.worker[1]))
        return 0
    results: dict[str, dict[str, dict]] = {}
    for name in args.configs.split(","):
        steps = args.steps or {"B": 30, "C": 8}.get(name, 10)
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode, (ranks, threads) in MODES.items():
                runs[mode].append(measure(name, ranks, threads, steps, args.smoke))
        results[name] = {mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for mode, rs in runs.items()}
    table = report(results, cfgs)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.update_readme:
        readme = HERE / "README.md"
        md = readme.read_text()
        head, rest = md.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
