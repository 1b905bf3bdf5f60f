"""One measurement per process, so thread counts (rayon reads RAYON_NUM_THREADS
once) and peak RSS (getrusage) belong to that measurement alone.

    python benchmarks/workers.py '{"kind": "train", "engine": "rnnpy", ...}'

prints one JSON object on its last stdout line. run.py is the driver.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import rnnpy
except ImportError:  # a benchmark venv without rnnpy installed: use the checkout's package
    sys.path.insert(0, str(HERE.parent / "python"))
    import rnnpy

from configs import BenchConfig

DATA = Path("/work/shared/data/tinyshakespeare.txt")
if not DATA.exists():
    DATA = HERE.parents[1] / "shared" / "data" / "tinyshakespeare.txt"


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def current_rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def char_ids() -> np.ndarray:
    """Tiny Shakespeare as ids over its sorted characters (65 of them)."""
    raw = np.frombuffer(DATA.read_bytes(), dtype=np.uint8)
    table = np.zeros(256, dtype=np.uint32)
    chars = np.unique(raw)
    table[chars] = np.arange(len(chars), dtype=np.uint32)
    return table[raw]


def batches(cfg: BenchConfig, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` batches `[n, B, T]` of shuffled non-overlapping windows (inputs, targets)."""
    ids = char_ids()
    windows = (len(ids) - 1) // cfg.seq
    x = ids[: windows * cfg.seq].reshape(windows, cfg.seq)
    y = ids[1 : windows * cfg.seq + 1].reshape(windows, cfg.seq)
    order = np.random.default_rng(seed).permutation(windows)
    pick = np.resize(order, n * cfg.batch).reshape(n, cfg.batch)
    return np.ascontiguousarray(x[pick]), np.ascontiguousarray(y[pick])


def rnnpy_model(cfg: BenchConfig) -> rnnpy.Model:
    return rnnpy.Model(rnnpy.ModelConfig(**cfg.model_kwargs()), seed=0)


def torch_setup(threads: int):
    import torch

    torch.set_num_threads(threads)
    return torch


# ---- training -------------------------------------------------------------
def train(spec: dict) -> dict:
    """Steady-state training tokens/s: `warmup` steps (untimed), then `repeats`
    timed runs of n steps, n sized so a run lasts about `target_s`."""
    cfg = BenchConfig(**spec["config"])
    warmup, repeats, target_s = spec["warmup"], spec["repeats"], spec["target_s"]
    rss_base = current_rss_kb()
    model = rnnpy_model(cfg)
    if spec["engine"] == "rnnpy":
        trainer = rnnpy.Trainer(model, learning_rate=1e-3)

        def run(x: np.ndarray, y: np.ndarray) -> list[float]:
            return [float(v) for v in trainer.steps(x, y)[0]]  # N steps in one call
    else:
        torch = torch_setup(spec["threads"])
        from peer import Peer

        peer = Peer(model, moe=spec["moe"], learning_rate=1e-3)
        del model

        def run(x: np.ndarray, y: np.ndarray) -> list[float]:
            xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
            return [peer.train_step(xt[i], yt[i]) for i in range(len(x))]

    x, y = batches(cfg, warmup)
    t0 = time.perf_counter()
    warm_losses = run(x[:1], y[:1])
    step_s = time.perf_counter() - t0
    # rnnpy always runs every warm-up step: its losses are compared across thread
    # counts. A slow torch step (seconds) needs no more warming.
    if warmup > 1 and (spec["engine"] == "rnnpy" or step_s < target_s):
        t0 = time.perf_counter()
        warm_losses += run(x[1:], y[1:])
        step_s = (time.perf_counter() - t0) / (warmup - 1)
    if repeats > 3 and step_s * repeats > 6 * target_s:  # very slow steps: fewer repeats
        repeats = 3
    n = max(1, round(target_s / step_s))
    x, y = batches(cfg, n * repeats, seed=1)
    rates = []
    for r in range(repeats):
        sl = slice(r * n, (r + 1) * n)
        t0 = time.perf_counter()
        run(x[sl], y[sl])
        rates.append(n * cfg.batch * cfg.seq / (time.perf_counter() - t0))
    return {
        "tokens_per_s": statistics.median(rates),
        "rates": rates,
        "steps_per_repeat": n,
        "warmup_losses": warm_losses,
        "rss_base_kb": rss_base,
        "peak_rss_kb": peak_rss_kb(),
    }


# ---- generation -----------------------------------------------------------
def generate(spec: dict) -> dict:
    """Greedy generation tokens/s. Batch 1: rnnpy's `generate` vs the torch model's
    step loop, at lengths n and 4n (per-token cost should not grow). Batch B:
    both step B sequences per call from Python, argmax in between."""
    cfg = BenchConfig(**spec["config"])
    b, target_s = spec["batch"], spec["target_s"]
    rss_base = current_rss_kb()
    model = rnnpy_model(cfg)
    first = int(char_ids()[0])
    if spec["engine"] == "rnnpy":
        if b == 1:

            def gen(n: int) -> None:
                model.generate([first], n, 0.0, 0)
        else:

            def gen(n: int) -> None:
                state, tok = model.new_state(b), np.full(b, first)
                for _ in range(n):
                    tok = model.step(state, tok).argmax(1)
    else:
        torch_setup(spec["threads"])
        from peer import Peer

        peer = Peer(model, moe=spec["moe"])

        def gen(n: int) -> None:
            peer.greedy_batch([first] * b, n)

    def rate(n: int) -> float:
        t0 = time.perf_counter()
        gen(n)
        return n * b / (time.perf_counter() - t0)

    probe = rate(20)
    n = int(min(max(target_s * probe / b, 50), 100_000))
    short, long = rate(n), rate(4 * n)
    return {
        "tokens_per_s": long,
        "tokens_per_s_short": short,
        "length": 4 * n,
        "flatness": long / short,  # per-token cost flat in the length: ≈ 1
        "rss_base_kb": rss_base,
        "peak_rss_kb": peak_rss_kb(),
    }


# ---- memory ---------------------------------------------------------------
def memory(spec: dict) -> dict:
    """RSS over many training steps (rnnpy): sampled every `every` steps; the
    slope is fitted after the first fifth (allocator warm-up)."""
    cfg = BenchConfig(**spec["config"])
    steps, every = spec["steps"], spec["every"]
    trainer = rnnpy.Trainer(rnnpy_model(cfg), learning_rate=1e-3)
    x, y = batches(cfg, steps)
    samples = [(0, current_rss_kb())]
    for s in range(0, steps, every):
        trainer.steps(x[s : s + every], y[s : s + every])
        samples.append((min(s + every, steps), current_rss_kb()))
    tail = samples[len(samples) // 5 :]
    xs, ys = np.array([s for s, _ in tail], float), np.array([r for _, r in tail], float)
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(tail) > 1 else 0.0
    return {
        "steps": steps,
        "samples": samples,
        "slope_kb_per_1000_steps": slope * 1000,
        "growth_kb": int(tail[-1][1] - tail[0][1]),
        "peak_rss_kb": peak_rss_kb(),
    }


# ---- sgemm peak -----------------------------------------------------------
def sgemm(spec: dict) -> dict:
    """The machine's float32 GEMM rate at this thread count: 1024² @ 1024²,
    numpy (its BLAS), torch.mm when present and rnnpy's own packed-panel
    kernel; the best of `repeats` each, and the best of them is the peak."""
    n, repeats = spec["n"], spec["repeats"]
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 2 * n**3 / min(times) / 1e9

    out = {"numpy_gflops": best(lambda: a @ b)}
    out["rnnpy_gflops"] = rnnpy._core.kernel_sgemm_gflops(n, repeats)
    if spec.get("torch"):
        torch = torch_setup(spec["threads"])
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch_gflops"] = best(lambda: torch.mm(ta, tb))
    out["gflops"] = max(out.values())
    return out


# ---- equivalence ----------------------------------------------------------
def check(spec: dict) -> dict:
    """rnnpy vs the PyTorch peer (dense and sparse MoE) on small configs, same
    parameters: logits, loss, every gradient, and 30 greedy tokens."""
    import torch
    from peer import Peer

    worst = {"logits": 0.0, "loss": 0.0, "grad_rel": 0.0}
    greedy_equal = True
    for c in spec["configs"]:
        cfg = BenchConfig(**c)
        model = rnnpy_model(cfg)
        x, y = (a[0] for a in batches(cfg, 1, seed=2))
        xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
        loss, grads = model.loss_and_grad(x, y)
        for moe in ("dense", "sparse"):
            peer = Peer(model, moe=moe)
            worst["logits"] = max(worst["logits"], float(np.abs(model.logits(x) - peer.logits(xt).detach().numpy()).max()))
            tloss = peer.loss(xt, yt)
            tloss.backward()
            worst["loss"] = max(worst["loss"], abs(loss - tloss.item()))
            tg = peer.grads()
            for name, g in grads.items():
                rel = float(np.abs(g - tg[name]).max() / (np.abs(g).max() + 1e-12))
                worst["grad_rel"] = max(worst["grad_rel"], rel)
            greedy_equal &= [0, *model.generate([0], 30, 0.0, 0)] == peer.greedy(0, 30)
    tol = spec["tol"]
    ok = worst["logits"] <= tol and worst["loss"] <= tol and worst["grad_rel"] <= 1e-3 and greedy_equal
    return {**worst, "greedy_equal": greedy_equal, "tol": tol, "ok": ok}


KINDS = {"train": train, "generate": generate, "memory": memory, "sgemm": sgemm, "check": check}

if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(KINDS[spec["kind"]](spec)))
