"""Checkpoint files: round trips, optimizer state, and every way a file can be wrong."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import rnnpy


def trained(tmp_path):
    cfg = rnnpy.ModelConfig(vocab_size=12, embed_size=8, hidden_size=8, num_heads=2, num_experts=2)
    model = rnnpy.Model(cfg, seed=1)
    trainer = rnnpy.Trainer(model, learning_rate=1e-2)
    x = np.arange(12).reshape(2, 6) % 12
    for _ in range(3):
        trainer.step(x, (x + 1) % 12)
    return model, trainer, x


def test_round_trip_keeps_weights_moments_step_and_metadata(tmp_path):
    model, trainer, x = trained(tmp_path)
    path = tmp_path / "m.bin"
    rnnpy.save_checkpoint(path, model, trainer, metadata={"loss": 1.5, "epoch": 3, "vocab": "abc"})
    ck = rnnpy.load_checkpoint(path)
    assert ck.optimizer_step == 3
    assert ck.metadata == {"epoch": 3, "loss": 1.5, "vocab": "abc"}
    assert ck.metadata_text == '{"epoch":3,"loss":1.5,"vocab":"abc"}'  # compact, sorted
    np.testing.assert_array_equal(ck.model.logits(x), model.logits(x))
    step, m, v = trainer.state()
    np.testing.assert_array_equal(ck.param_m, m)
    np.testing.assert_array_equal(ck.param_v, v)
    # Resuming continues exactly where the original would have gone.
    resumed = ck.trainer(learning_rate=1e-2)
    a = resumed.step(x, (x + 1) % 12)
    b = trainer.step(x, (x + 1) % 12)
    assert a == b and resumed.optimizer_step == 4


def test_byte_layout_of_a_written_file(tmp_path):
    model, trainer, _ = trained(tmp_path)
    path = tmp_path / "m.bin"
    rnnpy.save_checkpoint(path, model, trainer, metadata={"epoch": 7, "loss": 0.5})
    data = path.read_bytes()
    n = model.num_parameters
    meta = b'{"epoch":7,"loss":0.5}'
    assert len(data) == 15 + 32 + (9 + len(meta)) + 8 + 58 + 3 * (8 + 4 * n)
    assert data[:15] == b"\x07\x00\x00\x00\x00\x00\x00\x003.0-bin"
    off = 15 + 8 + 24
    assert data[off] == 1 and struct.unpack_from("<Q", data, off + 1)[0] == len(meta)
    assert json.loads(data[off + 9 : off + 9 + len(meta)])["epoch"] == 7
    off += 9 + len(meta)
    assert struct.unpack_from("<Q", data, off)[0] == 3  # optimizer step
    v, e, h, layers = struct.unpack_from("<4Q", data, off + 8)
    assert (v, e, h, layers) == (12, 8, 8, 1)
    assert struct.unpack_from("<Q", data, off + 8 + 58)[0] == n


def test_missing_truncated_and_foreign_files(tmp_path):
    model, trainer, _ = trained(tmp_path)
    good = tmp_path / "good.bin"
    rnnpy.save_checkpoint(good, model, trainer)
    data = good.read_bytes()
    with pytest.raises(rnnpy.CheckpointError, match="nothere.bin"):
        rnnpy.load_checkpoint(tmp_path / "nothere.bin")
    for cut in (0, 10, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.bin"
        bad.write_bytes(data[:cut])
        with pytest.raises(rnnpy.CheckpointError, match=f"cut{cut}.bin"):
            rnnpy.load_checkpoint(bad)
    foreign = tmp_path / "tokenizer.json"
    foreign.write_text('{"version": "1.0", "type": "BPE"}')
    with pytest.raises(rnnpy.CheckpointError, match="not a checkpoint"):
        rnnpy.load_checkpoint(foreign)
    assert issubclass(rnnpy.CheckpointError, ValueError)


def test_sizes_that_do_not_match_the_config(tmp_path):
    model, trainer, _ = trained(tmp_path)
    good = tmp_path / "good.bin"
    rnnpy.save_checkpoint(good, model, trainer)
    data = bytearray(good.read_bytes())
    # version (15) + timestamp (32) + metadata None (1) + optimizer_step (8);
    # hidden_size lives 16 bytes into the config record.
    cfg_off = 15 + 32 + 1 + 8
    struct.pack_into("<Q", data, cfg_off + 16, 16)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    with pytest.raises(rnnpy.CheckpointError, match="needs"):
        rnnpy.load_checkpoint(bad)


def test_failed_write_keeps_the_old_file(tmp_path):
    model, trainer, _ = trained(tmp_path)
    path = tmp_path / "keep.bin"
    rnnpy.save_checkpoint(path, model, trainer, metadata={"epoch": 1})
    before = path.read_bytes()
    with pytest.raises(OSError):
        rnnpy.save_checkpoint(tmp_path / "no" / "such" / "dir.bin", model, trainer)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.bin"]


def test_trainer_of_another_model_is_rejected(tmp_path):
    model, trainer, _ = trained(tmp_path)
    other = rnnpy.Model(model.config, seed=2)
    with pytest.raises(ValueError, match="different model"):
        rnnpy.save_checkpoint(tmp_path / "x.bin", other, trainer)
