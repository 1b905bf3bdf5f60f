"""The benchmark suite's smoke mode runs, quickly, and writes sane results, so
benchmarks/run.py never rots (torch is optional: its columns may be absent)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--quiet", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard, not a speed target (those live in the suite)
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    res = json.loads(out.read_text())
    assert res["smoke"] and res["errors"] == []
    assert set(res["configs"]) == {"A", "B", "C", "D"}
    has_torch = res["machine"]["torch"] is not None
    for th in res["threads"]:
        assert res["sgemm"][str(th)]["gflops"] > 0
    for name, c in res["configs"].items():
        assert c["train_flops_per_token"] == 3 * c["forward_flops_per_token"] > 0
        assert set(c["train"]) == ({"rnnpy", "torch"} if has_torch else {"rnnpy"})
        for engine, by_threads in c["train"].items():
            for th in res["threads"]:
                r = by_threads[str(th)]
                assert r["tokens_per_s"] > 0 and r["peak_rss_kb"] > 0, (name, engine, th)
        # Same seed, same data: the losses do not depend on the thread count.
        losses = {tuple(r["warmup_losses"]) for r in c["train"]["rnnpy"].values()}
        assert len(losses) == 1
        for by_engine in c["generate"].values():
            for by_threads in by_engine.values():
                assert all(r["tokens_per_s"] > 0 for r in by_threads.values())
    assert set(res["configs"]["C"]["generate"]) == {"1", "32"}
    mem = res["memory"]
    assert mem["steps"] >= 300 and len(mem["samples"]) > 10
    if has_torch:
        assert res["check"]["ok"], res["check"]
    else:
        assert "check" not in res
    assert "Training" in proc.stdout and "Generation" in proc.stdout


def test_quality_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/quality.py --smoke: the README's recipe for 5 s, then the
    independent held-out score, which must agree with the run's own."""
    out = tmp_path / "quality.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--smoke", "--threads=1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(out.read_text())
    (ours,) = [r for r in res["runs"] if r["engine"] == "rnnpy"]
    assert ours["steps"] > 0 and ours["tokens_per_s"] > 0 and ours["positions"] == 111_539
    assert 0 < ours["val_nats_per_char"] < 6 and ours["sample"]
    assert "rnnpy recipe (README)" in proc.stdout


def test_the_readme_gives_the_benchmarks_recipe_on_one_line() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import quality

    lines = (ROOT / "README.md").read_text().splitlines()
    assert "python -m rnnpy train " + " ".join(quality.RECIPE) in lines
    # ... and the sample's command, which quality.py runs on the saved model for the README's sample
    assert "python -m rnnpy generate --loadCheckpoint=shakespeare.bin " + " ".join(quality.GENERATE) in lines
    assert lines.count(quality.MARK_START) == lines.count(quality.MARK_END) == 1


def test_distributed_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/distributed.py measures every mode and the scaling model reads its numbers."""
    from test_distributed import have_mpi

    if not have_mpi():
        pytest.skip("mpi4py and mpiexec are not installed")
    out = tmp_path / "dist.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "distributed.py"), "--smoke", "--rounds=1", "--steps=2"]
    proc = subprocess.run([*cmd, "--configs=B", f"--json={out}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modes = json.loads(out.read_text())["B"]
    assert set(modes) == {"1 process × 1 thread", "1 process × 2 threads", "2 ranks × 1 thread"}
    assert all(r["tokens_per_s"] > 0 and r["parameters"] > 0 for r in modes.values())
    assert modes["2 ranks × 1 thread"]["allreduce_ms"] > 0
    assert "| B (batch 4) |" in proc.stdout and "global batch for ≥ 90%" in proc.stdout
