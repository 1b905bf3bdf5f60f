"""`python -m rnnpy train` end to end, as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnpy
from rnnpy.cli.options import SAMPLE_TEXT

EPOCH_LINE = re.compile(r"^Epoch [ \d]{3}\d \| Loss: \d+\.\d{6} \| ∇: \d+\.\d{4} \| Time: \d+\.\ds$")
TEXT = "the quick brown fox jumps over the lazy dog. " * 4  # 180 chars: 7 windows of 25


def run(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnpy", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )


def ok(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    p = run(cwd, *args)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p


def user_meta(path: Path) -> dict:
    return {k: v for k, v in rnnpy.load_checkpoint(path).metadata.items() if k != "rnnpy"}


def test_default_run_on_a_short_schedule(tmp_path):
    p = ok(tmp_path, "--epochs=30", "--seed=1")  # no command: train, as the old program
    lines = p.stdout.splitlines()
    logs = [ln for ln in lines if ln.startswith("Epoch")]
    assert [int(ln.split()[1]) for ln in logs] == [1, 25]  # the first, then every logEvery=25
    assert all(EPOCH_LINE.match(ln) for ln in logs), logs
    assert "Config: hidden=32 layers=1 embed=16 heads=4 experts=4 topk=1" in p.stdout
    cfg = rnnpy.ModelConfig(vocab_size=20)
    assert f"Total params: {cfg.num_parameters()} | Active: {cfg.active_parameters()}" in p.stdout
    assert re.search(r"^Done in \d+\.\ds \| Best loss: \d+\.\d{6}$", p.stdout, re.MULTILINE)
    assert re.search(r"^Saved binary checkpoint to \./checkpoint\.bin \(\d+\.\d\d MB\)$", p.stdout, re.MULTILINE)
    # the sample between rules: the first char of the built-in text, then 100 tokens
    m = re.search(r"Temperature: 0\.8\nGenerated \(100 tokens\):\n-{70}\n(.*)\n-{70}\n", p.stdout)
    assert m and m.group(1).startswith("h") and len(m.group(1)) == 101
    ck = rnnpy.load_checkpoint(tmp_path / "checkpoint.bin")
    assert ck.config.vocab_size == 20 and ck.config.hidden_size == 32
    assert ck.optimizer_step == 30 * 2  # 143 positions -> 5 windows -> batches of 4 + 1 (the partial one is kept)
    meta = ck.metadata
    assert meta["epoch"] == 30 and meta["completed"] is True and re.fullmatch(r"\d+\.\d", meta["time"])
    assert meta["rnnpy"]["vocab"] == {"type": "char", "chars": sorted(set(SAMPLE_TEXT))}
    assert meta["rnnpy"]["start"] == "h" and meta["rnnpy"]["seed"] == 1
    assert meta["rnnpy"]["version"] == rnnpy.__version__


def test_same_seed_same_run(tmp_path):
    args = ["train", f"--trainingText={TEXT}", "--epochs=4", "--genLength=20", "--seed=7"]
    a = ok(tmp_path, *args, "--savePath=a.bin")
    b = ok(tmp_path, *args, "--savePath=b.bin")
    strip = lambda s: re.sub(r"Time: \S+|Done in \S+|\S+\.bin", "", s)
    assert strip(a.stdout) == strip(b.stdout)
    pa, pb = (rnnpy.load_checkpoint(tmp_path / f).model.parameters() for f in ("a.bin", "b.bin"))
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_windows_batches_and_options_reach_the_model(tmp_path):
    ok(
        tmp_path, "train", f"--trainingText={TEXT}", "--seqLength=20", "--batchSize=3", "--epochs=2",
        "--hidden-size", "16", "--embedSize=8", "--numLayers=2", "--numHeads=2", "--numExperts=2", "--topK=1",
        "--fastMode=false", "--useRWKV=0", "--learningRate=0.002", "--weightDecay=0", "--gradClip=0.5",
        "--logEvery=1", "--temperature=0", "--genLength=5", "--saveOnComplete=yes", "--savePath=m.bin",
    )  # fmt: skip
    ck = rnnpy.load_checkpoint(tmp_path / "m.bin")
    c = ck.config
    assert (c.hidden_size, c.embed_size, c.num_layers, c.num_heads, c.num_experts, c.use_rwkv) == (
        16,
        8,
        2,
        2,
        2,
        False,
    )
    assert ck.optimizer_step == 2 * 3  # 179 positions -> 8 windows of 20 -> batches 3, 3, 2
    assert ck.metadata["rnnpy"]["options"]["gradClip"] == 0.5


def test_save_every_naming_and_metrics(tmp_path):
    p = ok(
        tmp_path, "train", f"--trainingText={TEXT}", "--epochs=6", "--saveEvery=3", "--savePath=out/model.bin",
        "--genLength=0", "--metricsFile=m.jsonl", "--logEvery=2",
    )  # fmt: skip
    assert sorted(os.listdir(tmp_path / "out")) == ["model.bin", "model_epoch3.bin", "model_epoch6.bin"]
    assert "  [Checkpoint: out/model_epoch3.bin]" in p.stdout
    assert user_meta(tmp_path / "out/model_epoch3.bin").keys() == {"epoch", "loss"}
    assert user_meta(tmp_path / "out/model_epoch3.bin")["epoch"] == 3
    rows = [json.loads(ln) for ln in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert set(rows[0]) == {"epoch", "loss", "grad_norm", "tokens_per_s", "tokens", "lr", "elapsed"}
    per_epoch = rows[0]["tokens"]  # tokens trained so far: every window's positions, once per epoch
    assert per_epoch > 0 and [r["tokens"] for r in rows] == [per_epoch * e for e in range(1, 7)]
    assert all(r["lr"] == pytest.approx(0.001) for r in rows)
    logged = re.findall(r"^Epoch +(\d+) \| Loss: (\S+)", p.stdout, re.MULTILINE)
    assert [int(e) for e, _ in logged] == [1, 2, 4, 6]
    assert float(logged[-1][1]) == pytest.approx(rows[-1]["loss"], abs=1e-6)


def test_save_on_complete_false_writes_nothing(tmp_path):
    ok(tmp_path, f"--trainingText={TEXT}", "--epochs=1", "--saveOnComplete=false", "--genLength=0")
    assert not (tmp_path / "checkpoint.bin").exists()


def test_resume_continues_epochs_and_optimizer_exactly(tmp_path):
    common = [f"--trainingText={TEXT}", "--genLength=0", "--seed=3"]
    ok(tmp_path, *common, "--epochs=6", "--saveEvery=3", "--savePath=full.bin")
    p = ok(tmp_path, *common[:2], "--epochs=6", "--loadCheckpoint=full_epoch3.bin", "--savePath=resumed.bin",
           "--hiddenSize=64", "--logEvery=1")  # fmt: skip
    assert "Restored optimizer step: 6" in p.stdout
    assert [int(e) for e in re.findall(r"^Epoch +(\d+)", p.stdout, re.MULTILINE)] == [4, 5, 6]
    assert "--hiddenSize=64 ignored" in p.stderr  # the checkpoint's architecture wins, with a warning
    full, resumed = rnnpy.load_checkpoint(tmp_path / "full.bin"), rnnpy.load_checkpoint(tmp_path / "resumed.bin")
    assert resumed.config.hidden_size == 32
    assert resumed.optimizer_step == full.optimizer_step == 12
    assert resumed.metadata["epoch"] == 6
    # the shuffling sequence is restored from the metadata too: same result as one run
    pf, pr = full.model.parameters(), resumed.model.parameters()
    assert max(float(np.abs(pf[k] - pr[k]).max()) for k in pf) < 1e-6
    assert float(np.abs(full.param_v - resumed.param_v).max()) < 1e-9


def test_ctrl_c_saves_the_last_completed_epoch(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnpy", "train", "--epochs=100000", "--logEvery=1", "--savePath=int.bin"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 90
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("Epoch"):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "int.bin" in err
    meta = user_meta(tmp_path / "int.bin")
    assert meta["epoch"] >= 1 and meta["interrupted"] is True
    ck = rnnpy.load_checkpoint(tmp_path / "int.bin")
    assert ck.optimizer_step == 2 * meta["epoch"]  # exactly the completed epochs


BAD = [
    (["--epochs=abc"], "--epochs"),
    (["--nosuchOption=1"], "--nosuchOption"),
    (["--trainingFile=missing.txt"], "missing.txt"),
    (["--trainingText=abc"], "seqLength"),
    (["--loadCheckpoint=garbage.bin"], "garbage.bin"),
    (["--useBPE=true", "--bpeLoadPath=garbage.bin"], "garbage.bin"),
    (["--hiddenSize=30", "--numHeads=4"], "invalid model"),
    (["--doRL=true", "--rlTask=nope"], "--rlTask"),
    (["rl"], "--loadCheckpoint"),
    (["tasks", "--task=nope"], "unknown RL task"),
    (["frobnicate"], "unknown command"),
    (["generate"], "--loadCheckpoint"),
    (["generate", "--loadCheckpoint=garbage.bin"], "garbage.bin"),
]


@pytest.mark.parametrize("argv,fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_without_traceback(tmp_path, argv, fragment):
    (tmp_path / "garbage.bin").write_bytes(b"\x07\x00 not a checkpoint")
    p = run(tmp_path, *argv)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert fragment in p.stderr


def test_non_utf8_training_file(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"abc\xff\xfe" * 50)
    p = run(tmp_path, "--trainingFile=bad.txt")
    assert p.returncode == 2 and "not UTF-8" in p.stderr and "Traceback" not in p.stderr


def test_every_old_option_on_one_old_style_command_line(tmp_path):
    old = {
        "hiddenSize": 16, "numLayers": 1, "embedSize": 8, "numHeads": 2, "numExperts": 2, "topK": 1,
        "fastMode": "false", "useRWKV": "true", "trainingText": TEXT, "trainingFile": "", "epochs": 2,
        "learningRate": 0.001, "weightDecay": 0.01, "batchSize": 4, "seqLength": 25, "logEvery": 1,
        "temperature": 0.8, "genLength": 10, "savePath": "x.bin", "saveEvery": 1, "loadCheckpoint": "",
        "saveOnComplete": "true", "useBPE": "false", "trainBPE": "false", "bpeVocabSize": 512,
        "bpeSavePath": "t.json", "bpeLoadPath": "", "bpeTrainingFile": "", "bpeTrainingText": "",
        "bpeMinFrequency": 2, "doRL": "false", "rlTask": "copy", "rlEpisodes": 100, "rlLearningRate": 0.0001,
    }  # fmt: skip
    p = ok(tmp_path, *(f"--{k}={v}" for k, v in old.items()))
    assert sorted(os.listdir(tmp_path)) == ["x.bin", "x_epoch1.bin", "x_epoch2.bin"]
    assert rnnpy.load_checkpoint(tmp_path / "x.bin").config.hidden_size == 16
    assert "Generated (10 tokens)" in p.stdout
    # and case-insensitively, in lower case
    ok(tmp_path, *(f"--{k.lower()}={v}" for k, v in old.items() if k != "saveEvery"))
