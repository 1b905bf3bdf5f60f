"""kill -9 at random moments during --saveEvery saves (issue 15): every
checkpoint on disk still loads (old or new), no existing one is ever lost,
and the temporaries a killed writer leaves are gone after the next run.
A short campaign runs in the suite; `python -m pytest -m fuzz` runs the long
one (docs/robustness.md)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

import rnnpy
from cli_run import RNNPY, SMALL, run, stray_temporaries

#: Saves of a few MB each, every epoch of a tiny text: a kill lands inside one most of the time.
SAVING = ["train", "--hiddenSize=256", "--fastMode=true", *SMALL[4:], "--epochs=100000", "--saveEvery=1",
          "--savePath=m.bin", "--logEvery=1", "--seed=1"]  # fmt: skip


def kill_during_saves(folder: Path, tries: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    (folder / "keep.bin").write_bytes(b"an unrelated file")
    counts = {"tries": 0, "strays_after_kill": 0, "checkpoints_checked": 0}
    for _ in range(tries):
        before = {f.name: f.read_bytes() for f in folder.glob("m*.bin")}
        proc = subprocess.Popen([*RNNPY, *SAVING], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)  # fmt: skip
        while not proc.stdout.readline().startswith("  [Checkpoint"):  # saving has begun
            assert proc.poll() is None, "the run ended before it saved"
        if counts["tries"] % 2:  # at a random moment
            time.sleep(rng.uniform(0, 0.5))
        else:  # inside a save: as soon as its temporary exists
            while not stray_temporaries(folder):
                time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts["tries"] += 1
        counts["strays_after_kill"] += len(stray_temporaries(folder))
        assert len(stray_temporaries(folder)) <= 1  # at most the one save it was in
        for f in folder.glob("m*.bin"):
            rnnpy.load_checkpoint(f)  # old or new, every file loads
            counts["checkpoints_checked"] += 1
        assert set(before) <= {f.name for f in folder.glob("m*.bin")}  # no checkpoint was lost
        assert (folder / "keep.bin").read_bytes() == b"an unrelated file"
    # The next run's first save sweeps what the killed writers left.
    p = run(folder, "train", *SMALL, "--epochs=1", "--savePath=m.bin", "--genLength=0")
    assert p.returncode == 0, p.stderr
    assert stray_temporaries(folder) == []
    return counts


def test_kill_9_during_periodic_saves(tmp_path):
    counts = kill_during_saves(tmp_path, tries=4, seed=0)
    assert counts["strays_after_kill"] >= 1 and counts["checkpoints_checked"] >= 4


@pytest.mark.fuzz
def test_kill_9_during_periodic_saves_long(tmp_path):
    counts = kill_during_saves(tmp_path, tries=60, seed=1)
    print(f"\nkill -9 campaign: {counts}")
