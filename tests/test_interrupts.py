"""Ctrl-C never loses a run (issue 16): it is seen within about a second at
any model size, saves the last completed epoch (never an untrained model
over an existing file), keeps the supervised result when it comes during
RL, and a second Ctrl-C stops at once without touching files. A Ctrl-C
while the program starts prints no traceback."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

import rnnpy
from cli_run import RNNPY, SMALL, interrupt, stray_temporaries
from conftest import DATA
from rnnpy.rl.splits import corpus_lines
from rnnpy.rl.tasks import get_task

#: One training step of this model takes several seconds on one core: Ctrl-C
#: must be seen inside it (the old loop looked only between 32k-token chunks).
BIG = ["--hiddenSize=256", "--numLayers=2", "--batchSize=32", "--seqLength=256", "--epochs=5", "--genLength=0"]


def start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*RNNPY, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"exited before {prefix!r}: {proc.stderr.read()}")
    raise AssertionError(f"no {prefix!r} line")


def stopped_within(proc: subprocess.Popen, seconds: float) -> tuple[str, str]:
    """Waits for `proc` to exit, at most `seconds`: its remaining (stdout, stderr)."""
    t0 = time.perf_counter()
    out, err = proc.communicate(timeout=120)
    took = time.perf_counter() - t0
    assert took < seconds, f"took {took:.1f}s to stop: {err}"
    return out, err


@pytest.fixture
def big_text(tmp_path: Path) -> str:
    text = (DATA / "tinyshakespeare.txt").read_text()[:40_000]
    (tmp_path / "text.txt").write_text(text)
    return "--trainingFile=text.txt"


def test_ctrl_c_in_a_long_first_epoch_is_seen_at_once_and_keeps_the_existing_file(tmp_path, big_text):
    (tmp_path / "checkpoint.bin").write_bytes(b"an existing model")  # the default --savePath
    proc = start(tmp_path, "train", big_text, *BIG)
    wait_for(proc, "Training...")
    time.sleep(3)  # inside the first step
    interrupt(proc)
    _, err = stopped_within(proc, 3)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "no epoch of this run completed" in err and "checkpoint.bin is as it was" in err
    assert (tmp_path / "checkpoint.bin").read_bytes() == b"an existing model"
    assert stray_temporaries(tmp_path) == []


def test_a_second_ctrl_c_stops_at_once_without_touching_files(tmp_path, big_text):
    (tmp_path / "m.bin").write_bytes(b"an existing model")
    proc = start(tmp_path, "train", big_text, *BIG, "--savePath=m.bin")
    wait_for(proc, "Training...")
    time.sleep(3)
    interrupt(proc, times=2, gap=0.05)
    _, err = stopped_within(proc, 3)
    assert proc.returncode == 130 and "Traceback" not in err
    assert (tmp_path / "m.bin").read_bytes() == b"an existing model" and stray_temporaries(tmp_path) == []


def test_ctrl_c_during_periodic_saves_leaves_only_loadable_checkpoints(tmp_path):
    # A model whose saves take a while, on a text whose epochs take none: Ctrl-C lands in saves.
    args = ["train", "--hiddenSize=192", "--fastMode=true", *SMALL[4:], "--epochs=100000", "--saveEvery=1",
            "--savePath=m.bin", "--logEvery=1"]  # fmt: skip
    for delay in (0.0, 0.15, 0.3):
        proc = start(tmp_path, *args)
        wait_for(proc, "  [Checkpoint")
        time.sleep(delay)
        interrupt(proc)
        _, err = stopped_within(proc, 30)
        assert proc.returncode == 130 and "Traceback" not in err, err
        for f in tmp_path.glob("*.bin"):
            rnnpy.load_checkpoint(f)
        assert rnnpy.load_checkpoint(tmp_path / "m.bin").metadata["interrupted"] is True
        assert stray_temporaries(tmp_path) == []


def test_ctrl_c_during_rl_keeps_the_supervised_result_and_the_rl_state_reached(tmp_path):
    corpus = "\n" + "\n".join(corpus_lines(get_task("copy"), 400)) + "\n"
    (tmp_path / "copy.txt").write_text(corpus)
    proc = start(tmp_path, "train", "--trainingFile=copy.txt", "--hiddenSize=32", "--fastMode=true", "--epochs=3",
                 "--seqLength=32", "--savePath=m.bin", "--doRL=true", "--rlEpisodes=100000", "--rlLogEvery=1",
                 "--genLength=5", "--seed=1")  # fmt: skip
    wait_for(proc, "Ep    1")
    interrupt(proc)
    out, err = stopped_within(proc, 30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    supervised = rnnpy.load_checkpoint(tmp_path / "m.bin").metadata
    assert supervised["epoch"] == 3 and supervised["completed"] is True and "rl" not in supervised
    reached = rnnpy.load_checkpoint(tmp_path / "m_rl_interrupted.bin").metadata
    assert reached["rl"]["interrupted"] is True and reached["rl"]["episodes"] >= 1 and "after" not in reached["rl"]
    assert "m_rl_interrupted.bin" in err and "Generated" not in out


def test_ctrl_c_while_the_program_starts_prints_no_traceback(tmp_path):
    """From the moment rnnpy's import starts; a Ctrl-C inside Python's own start-up
    (before it runs any of rnnpy, "Could not import runpy module") is Python's."""
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8):
        proc = start(tmp_path, "tasks", "--n=1")
        time.sleep(delay)
        interrupt(proc)
        _, err = proc.communicate(timeout=60)
        ours = "Traceback" in err and "rnnpy" in err
        assert not ours and proc.returncode in (0, 1, 130, -2), (delay, proc.returncode, err)
