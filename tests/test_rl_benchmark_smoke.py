"""benchmarks/rl_plateau.py's smoke mode runs, prints its table and gives
the same scores when run again (the numbers of benchmarks/RL.md reproduce),
so the script behind them never rots (its full run is ~40 minutes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_rl_plateau_smoke(tmp_path: Path) -> None:
    out = tmp_path / "rl.json"
    script = str(ROOT / "benchmarks" / "rl_plateau.py")
    argv = [sys.executable, script, "--smoke", "--tasks", "copy-long,arithmetic", "--seeds", "0,1", "--json", str(out)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "| copy-long |" in p.stdout and "| arithmetic |" in p.stdout
    results = json.loads(out.read_text())["results"]
    assert [(r["task"], r["seed"]) for r in results] == [
        ("copy-long", 0),
        ("copy-long", 1),
        ("arithmetic", 0),
        ("arithmetic", 1),
    ]
    for r in results:
        for phase in ("sft", "more_sft", "grpo"):
            assert 0 <= r[phase]["exact"] <= 1 and 0 <= r[phase]["general"] <= 1
    again = subprocess.run(
        [sys.executable, script, "--from-json", str(out)], capture_output=True, text=True, check=True
    )
    assert again.stdout.strip() == p.stdout.strip().split("\n\n")[-1].strip()
    # seeded all through: a second run scores the same (only the times differ)
    subprocess.run([*argv[:-1], str(tmp_path / "again.json")], capture_output=True, text=True, check=True)
    assert scores(out) == scores(tmp_path / "again.json")


def scores(path: Path) -> list[dict]:
    timed = ("sft_seconds", "more_sft_seconds", "grpo_seconds", "episodes_per_s")
    return [{k: v for k, v in r.items() if k not in timed} for r in json.loads(path.read_text())["results"]]


def test_rl_profile_runs_and_accounts_for_the_episode() -> None:
    """benchmarks/rl_profile.py (docs/rl.md's cost figures), at a tiny budget."""
    script = str(ROOT / "benchmarks" / "rl_profile.py")
    p = subprocess.run(
        [sys.executable, script, "--sft", "20", "--episodes", "2"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    with_ref, without = p.stdout.splitlines()
    assert "reference every episode" in with_ref and "| reference 0% |" in without
    for line in (with_ref, without):
        shares = [int(x) for x in re.findall(r"(?:sampling|reference|update) (\d+)%", line)]
        assert len(shares) == 3 and 80 <= sum(shares) <= 101  # the Rust calls are nearly all of an episode
