"""Training and generation speed of rnnpy vs the PyTorch peer
(../shared/bench/torch_ref.py, through benchmarks/peer.py) and the old
program, on configs A–D over tiny Shakespeare.

    python benchmarks/run.py                       # full run (minutes)
    python benchmarks/run.py --smoke               # CI: tiny configs, seconds
    python benchmarks/run.py --only A,B --threads 1,2 --json out.json
    python benchmarks/run.py --update-readme       # full run, table into README.md
    python benchmarks/run.py --from-json out.json --markdown   # re-render only

torch is optional: when it is importable (e.g. a separate benchmark venv, see
README.md) the peer is measured with `torch.set_num_threads` matched, in both
of its MoE schedules (dense and sparse; the faster one is the comparison), and
checked against rnnpy first (same logits, loss, gradients, greedy tokens).
Every measurement runs in its own process (benchmarks/workers.py).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from configs import FULL, SMOKE, forward_flops_per_token, train_flops_per_token
from report import markdown, print_rich, replace_marked

README = HERE / "README.md"
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"
GEN_BATCHES = {"A": [1], "C": [1, 32]}

# Measurement sizes: (warm-up steps, repeats, seconds per repeat, generation seconds,
# memory-check steps, sgemm size).
PINNED_CORE = "0"
FULL_PLAN = {"warmup": 2, "repeats": 5, "target_s": 1.5, "gen_s": 0.5, "mem_steps": 1000, "sgemm_n": 1024}
SMOKE_PLAN = {"warmup": 1, "repeats": 3, "target_s": 0.02, "gen_s": 0.02, "mem_steps": 300, "sgemm_n": 256}


def worker(spec: dict, threads: int, timeout: float) -> dict:
    """Runs one measurement in a fresh process with every thread pool sized `threads`."""
    env = dict(os.environ)
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    spec = {**spec, "threads": threads}
    cmd = [sys.executable, str(HERE / "workers.py"), json.dumps(spec)]
    if threads == 1 and shutil.which("taskset"):  # every 1-thread program on the same core: comparable
        cmd = ["taskset", "-c", PINNED_CORE, *cmd]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{spec['kind']} timed out after {timeout:.0f}s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"{spec['kind']} exited {proc.returncode}: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine(has_torch: bool) -> dict:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor() or "unknown",
    )
    info = {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version()}
    import numpy

    if importlib.util.find_spec("rnnpy") is None:  # as in workers.py: the checkout's package
        sys.path.insert(0, str(HERE.parent / "python"))
    import rnnpy

    core = Path(rnnpy._core.__file__)
    info |= {"numpy": numpy.__version__, "rnnpy": rnnpy.__version__, "torch": None}
    # Which build of the engine was measured (others rebuild it in this checkout).
    info["core_sha256"] = hashlib.sha256(core.read_bytes()).hexdigest()[:12]
    info["load_average_start"] = os.getloadavg()[0]
    if has_torch:
        info["torch"] = importlib.metadata.version("torch")
    return info


def median_of_rounds(rounds: list) -> object:
    """The rounds' results merged: each measurement (a dict with "tokens_per_s"
    or "gflops") is the round with the median value, the rest from round 1."""
    first = rounds[0]
    if isinstance(first, dict):
        key = "tokens_per_s" if "tokens_per_s" in first else "gflops" if "gflops" in first else None
        if key is not None and all(isinstance(r, dict) and key in r for r in rounds):
            ranked = sorted(rounds, key=lambda r: r[key])
            return {**ranked[len(ranked) // 2], "rounds": [r[key] for r in rounds]}
        return {k: median_of_rounds([r[k] if isinstance(r, dict) and k in r else v for r in rounds]) for k, v in first.items()}
    return first


def merged(results: list[dict]) -> dict:
    """Several runs (e.g. 1 thread, then 2 threads on a quiet machine) as one:
    their thread counts side by side, measurements of a later run winning."""

    def merge(a: object, b: object) -> object:
        if isinstance(a, dict) and isinstance(b, dict) and not ("tokens_per_s" in b or "gflops" in b):
            return {**a, **{k: merge(a[k], v) if k in a else v for k, v in b.items()}}
        return b

    out = results[0]
    for r in results[1:]:
        threads = sorted(set(out["threads"]) | set(r["threads"]))
        out = {**merge(out, r), "threads": threads, "command": f"{out['command']}; {r['command']}"}  # type: ignore[dict-item]
        out["errors"] = [*results[0]["errors"], *r["errors"]]
    return out


def run(args: argparse.Namespace) -> dict:
    rounds = [sweep(args) for _ in range(args.rounds)]
    res = dict(median_of_rounds(rounds))  # type: ignore[call-overload]
    res["errors"] = [e for r in rounds for e in r["errors"]]
    res["rounds"] = args.rounds
    res["machine"]["load_average_end"] = rounds[-1]["machine"]["load_average_end"]
    return res


def sweep(args: argparse.Namespace) -> dict:
    """Every measurement once, rnnpy and the peer alternating."""
    configs = SMOKE if args.smoke else FULL
    if args.only:
        configs = {n: configs[n] for n in args.only.upper().split(",")}
    plan = SMOKE_PLAN if args.smoke else FULL_PLAN
    threads = [int(t) for t in args.threads.split(",")]
    has_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    engines = ["rnnpy", "torch"] if has_torch else ["rnnpy"]
    timeout = 120 if args.smoke else 1800
    res: dict = {
        "smoke": args.smoke,
        "command": "python benchmarks/run.py " + shlex.join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "machine": machine(has_torch),
        "threads": threads,
        "plan": plan,
        "sgemm": {},
        "configs": {},
        "errors": [],
    }

    def measure(spec: dict, th: int, what: str) -> dict:
        if not args.quiet:
            print(f"  {what} ...", file=sys.stderr, flush=True)
        out = worker(spec, th, timeout)
        if "error" in out:
            res["errors"].append(f"{what}: {out['error']}")
        return out

    for th in threads:
        spec = {"kind": "sgemm", "n": plan["sgemm_n"], "repeats": 5, "torch": has_torch}
        res["sgemm"][str(th)] = measure(spec, th, f"sgemm {plan['sgemm_n']}² at {th} thread(s)")
    if has_torch:
        small = [asdict(SMOKE[n]) for n in "ABCD"]
        res["check"] = measure({"kind": "check", "configs": small, "tol": 1e-4}, 1, "PyTorch peer vs rnnpy")

    def best_of(runs: dict) -> dict:
        """The faster of the peer's MoE schedules, per thread count."""
        out = {}
        for th in map(str, threads):
            ok = [(v, r[th]) for v, r in runs.items() if "tokens_per_s" in r.get(th, {})]
            if ok:
                v, r = max(ok, key=lambda vr: vr[1]["tokens_per_s"])
                out[th] = {**r, "moe": v, "variants": {v2: r2["tokens_per_s"] for v2, r2 in ok}}
        return out

    for name, cfg in configs.items():
        c = res["configs"][name] = {
            "config": asdict(cfg),
            "label": cfg.label(),
            "forward_flops_per_token": forward_flops_per_token(cfg),
            "train_flops_per_token": train_flops_per_token(cfg),
            "train": {e: {} for e in engines},
            "generate": {},
        }
        variants = ["dense"] if cfg.fast_mode else ["dense", "sparse"]
        for th in threads:
            spec = {"kind": "train", "engine": "rnnpy", "config": asdict(cfg)}
            spec |= {k: plan[k] for k in ("warmup", "repeats", "target_s")}
            c["train"]["rnnpy"][str(th)] = measure(spec, th, f"{name} train rnnpy {th} thread(s)")
        if has_torch:
            runs: dict = {v: {} for v in variants}
            for v in variants:
                for th in threads:
                    spec = {"kind": "train", "engine": "torch", "moe": v, "config": asdict(cfg)}
                    spec |= {k: plan[k] for k in ("warmup", "repeats", "target_s")}
                    runs[v][str(th)] = measure(spec, th, f"{name} train torch ({v} MoE) {th} thread(s)")
            c["train"]["torch"] = best_of(runs)
        for b in GEN_BATCHES.get(name, []):
            g = c["generate"][str(b)] = {e: {} for e in engines}
            for th in threads:
                spec = {"kind": "generate", "engine": "rnnpy", "config": asdict(cfg), "batch": b, "target_s": plan["gen_s"]}
                g["rnnpy"][str(th)] = measure(spec, th, f"{name} generate b{b} rnnpy {th} thread(s)")
            if has_torch:
                runs = {v: {} for v in variants}
                for v in variants:
                    for th in threads:
                        spec = {"kind": "generate", "engine": "torch", "moe": v, "config": asdict(cfg), "batch": b}
                        spec["target_s"] = plan["gen_s"]
                        runs[v][str(th)] = measure(spec, th, f"{name} generate b{b} torch ({v} MoE) {th} thread(s)")
                g["torch"] = best_of(runs)

    mem_cfg = configs.get("A", SMOKE["A"])
    spec = {"kind": "memory", "config": asdict(mem_cfg), "steps": plan["mem_steps"], "every": 25}
    res["memory"] = {"config": "A", **measure(spec, threads[0], f"memory, {plan['mem_steps']} steps of A")}
    res["machine"]["load_average_end"] = os.getloadavg()[0]
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny configs and step counts (CI; seconds)")
    p.add_argument("--only", help="comma-separated config names, e.g. A,B")
    p.add_argument("--threads", default="1,2", help="thread counts, each measured in its own process")
    p.add_argument("--json", type=Path, help="write all results here")
    p.add_argument("--markdown", action="store_true", help="print the results as Markdown (README format)")
    p.add_argument("--update-readme", action="store_true", help="replace the results section of benchmarks/README.md")
    p.add_argument("--from-json", type=Path, nargs="+", help="render saved results (several: merged) instead of measuring")
    p.add_argument("--rounds", type=int, default=1, help="repeat the whole sweep; each number is the median round")
    p.add_argument("--no-torch", action="store_true", help="skip torch even when importable")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args()

    res = merged([json.loads(f.read_text()) for f in args.from_json]) if args.from_json else run(args)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    print_rich(res)
    md = markdown(res)
    if args.markdown:
        print(md)
    if args.update_readme:
        replace_marked(README, MARK_START, MARK_END, md)
    check_ok = res.get("check", {}).get("ok", True)
    return 0 if not res["errors"] and check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
