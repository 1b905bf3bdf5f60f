"""Training-time dropout (`--dropout`, `Trainer(dropout=...)`): it changes
training and nothing else — evaluation, generation and the checkpoint's
model are undropped — it is exact on resume, and bad rates are clear errors.
The gradient itself is checked against finite differences in
rust/tests/dropout.rs."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnpy
from rnnpy import InputError, Model, ModelConfig, Trainer

TEXT = "the quick brown fox jumps over the lazy dog. " * 8
CFG = ModelConfig(vocab_size=11, hidden_size=12, embed_size=8, num_layers=2)


def batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 11, (4, 9)), rng.integers(0, 11, (4, 9))


def trained(dropout: float, seed: int = 1, steps: int = 4) -> tuple[list[float], dict[str, np.ndarray]]:
    model = Model(CFG, seed=2)
    trainer = Trainer(model, 1e-2, dropout=dropout, dropout_seed=seed)
    x, y = batch()
    losses = [trainer.step(x, y).loss for _ in range(steps)]
    return losses, model.parameters()


def test_dropout_changes_the_steps_and_is_deterministic_under_its_seed() -> None:
    none, drop, again, other = trained(0.0), trained(0.3), trained(0.3), trained(0.3, seed=2)
    assert drop[0] == again[0] and all(np.array_equal(drop[1][k], again[1][k]) for k in drop[1])
    assert drop[0][0] != none[0][0]  # the first step's loss is the dropped network's
    assert drop[0] != other[0]  # another seed, other masks
    # A step with dropout scores the batch worse than the undropped model does.
    model = Model(CFG, seed=2)
    x, y = batch()
    undropped = model.loss(x, y)
    assert Trainer(model, 1e-2, dropout=0.5).step(x, y).loss > undropped


def test_evaluation_never_drops() -> None:
    model = Model(CFG, seed=3)
    trainer = Trainer(model, 1e-2, dropout=0.5)
    x, y = batch(1)
    before = model.loss(x, y)
    assert model.loss(x, y) == before  # the trainer's rate does not reach the model
    loss, _ = Trainer(Model(CFG, seed=3), 1e-2).gradient(x, y)
    assert loss == pytest.approx(before, rel=1e-6)
    assert trainer.dropout == 0.5


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, math.nan])
def test_a_rate_outside_0_to_1_is_a_clear_error(rate: float) -> None:
    with pytest.raises(InputError, match="dropout must be in"):
        Trainer(Model(CFG), dropout=rate)
    trainer = Trainer(Model(CFG))
    with pytest.raises(InputError, match="dropout must be in"):
        trainer.dropout = rate
    assert trainer.dropout == 0.0


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnpy", "train", f"--trainingText={TEXT}", "--genLength=0", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_cli_trains_with_dropout_and_resumes_it_exactly(tmp_path: Path) -> None:
    full = cli(tmp_path, "--seed=4", "--dropout=0.2", "--epochs=6", "--saveEvery=3", "--savePath=full.bin")
    assert full.returncode == 0, full.stderr
    plain = cli(tmp_path, "--seed=4", "--epochs=6", "--savePath=plain.bin")
    assert plain.returncode == 0, plain.stderr
    # Resumed without repeating --dropout or --seed: the checkpoint's options, batch order and masks carry on.
    resumed = cli(tmp_path, "--epochs=6", "--loadCheckpoint=full_epoch3.bin", "--savePath=resumed.bin")
    assert resumed.returncode == 0, resumed.stderr
    a, b, c = (rnnpy.load_checkpoint(tmp_path / f).model.parameters() for f in ("full.bin", "resumed.bin", "plain.bin"))
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-6
    assert max(float(np.abs(a[k] - c[k]).max()) for k in a) > 1e-4  # dropout did train differently
    assert rnnpy.load_checkpoint(tmp_path / "full.bin").metadata["rnnpy"]["options"]["dropout"] == 0.2


@pytest.mark.parametrize("value", ["1", "-0.5", "nan", "lots"])
def test_a_bad_dropout_option_is_one_clear_line(tmp_path: Path, value: str) -> None:
    p = cli(tmp_path, f"--dropout={value}", "--epochs=1")
    assert p.returncode == 2 and "--dropout" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "checkpoint.bin").exists()
