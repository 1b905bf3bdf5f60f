"""The old program's checkpoints through the Python API: same logits, same loss,
byte-identical rewrite."""

from __future__ import annotations

import numpy as np

import rnnpy


def test_logits_and_loss_match_the_old_program(golden_case, tmp_path):
    case, exp = golden_case
    ckpt = rnnpy.load_checkpoint(case / "checkpoint.bin")
    inputs = np.array([exp["inputs"]], dtype=np.int64)
    targets = np.array([exp["targets"]], dtype=np.int64)
    logits = ckpt.model.logits(inputs)[0]
    want = np.array(exp["logits"], dtype=np.float64)
    assert logits.shape == want.shape
    worst = float(np.max(np.abs(logits - want)))
    assert worst <= exp["logits_tolerance"], f"{case.name}: max |Δlogit| {worst}"
    assert abs(ckpt.model.loss(inputs, targets) - exp["loss"]) <= 1e-4


def test_rewrite_is_byte_identical(golden_case, tmp_path):
    case, _ = golden_case
    ckpt = rnnpy.load_checkpoint(case / "checkpoint.bin")
    out = tmp_path / "again.bin"
    ckpt.save(out)
    assert out.read_bytes() == (case / "checkpoint.bin").read_bytes()


def test_checkpoint_fields(golden_case):
    case, _ = golden_case
    ckpt = rnnpy.load_checkpoint(case / "checkpoint.bin")
    assert ckpt.version == "3.0-bin"
    assert len(ckpt.timestamp) == 24 and ckpt.timestamp.endswith("Z")
    assert isinstance(ckpt.metadata, dict) and "epoch" in ckpt.metadata
    assert ckpt.optimizer_step > 0
    n = ckpt.config.num_parameters()
    assert ckpt.param_m.shape == (n,) and ckpt.param_v.shape == (n,)
    assert sum(int(np.prod(s)) for _, s in ckpt.config.param_shapes()) == n
