"""Sizes a user can type end in an error, never in an allocation abort,
an OverflowError, a MemoryError or a hang (issues 15 and 16): models that
cannot fit are refused up front with both sizes, and so is every other
request whose memory comes from the caller."""

from __future__ import annotations

import os
import struct
import time

import numpy as np
import pytest

import rnnpy
from cli_run import SMALL, assert_clean_error, run


@pytest.mark.parametrize(
    "options",
    [["--hiddenSize=5000"], ["--hiddenSize=20000"], ["--embedSize=10000000"],
     ["--numExperts=1000", "--hiddenSize=256"], ["--numLayers=1000", "--hiddenSize=512"]],
    ids=" ".join,
)  # fmt: skip
def test_models_that_cannot_fit_are_refused_up_front_with_both_sizes(tmp_path, options):
    p = run(tmp_path, "train", *options, "--epochs=1", "--genLength=0", "--savePath=x.bin", limit_gb=8)
    assert_clean_error(p, "bytes", "available")
    assert "Training..." not in p.stdout and not (tmp_path / "x.bin").exists()


def test_sizes_beyond_what_rnnpy_supports_name_the_bound(tmp_path):
    p = run(tmp_path, "train", "--numExperts=1000000", "--epochs=1", "--savePath=x.bin", limit_gb=8)
    assert_clean_error(p, "num_experts", "at most")


@pytest.mark.parametrize(
    "option",
    ["--hiddenSize=99999999999999999999999", "--seed=18446744073709551616", "--epochs=-99999999999999999999999",
     "--numLayers=18446744073709551617", "--genLength=100000000000000000000000000"],
)  # fmt: skip
def test_integers_beyond_64_bits_are_usage_errors(tmp_path, option):
    assert_clean_error(run(tmp_path, "train", *SMALL, option), option.split("=")[0])


def test_rl_sizes_that_cannot_be_allocated_are_usage_errors(tmp_path):
    assert_clean_error(run(tmp_path, "rl", "--loadCheckpoint=x.bin", "--rlGroupSize=1000000000000"), "--rlGroupSize")


@pytest.mark.parametrize("source", ["/dev/zero", "sparse"])
def test_endless_or_huge_training_files_are_refused_before_reading(tmp_path, source):
    if source == "sparse":
        with open(tmp_path / "huge.txt", "wb") as f:
            f.truncate(30 * 10**9)  # a 30 GB file that takes no space
        source = "huge.txt"
    p = run(tmp_path, "train", f"--trainingFile={source}", "--epochs=1", timeout=60, limit_gb=8)
    assert_clean_error(p, "--trainingFile", source)


def test_a_fifo_as_a_file_to_read_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for args in (["train", "--trainingFile=pipe"], ["generate", "--loadCheckpoint=pipe"],
                 ["tokenizer", "encode", "--tokenizer=pipe", "--text=a"]):  # fmt: skip
        assert_clean_error(run(tmp_path, *args, timeout=30), "pipe", "FIFO")


def test_caller_sizes_are_checked_before_allocating():
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=100_000, embed_size=8, hidden_size=8, num_heads=2), seed=0)
    for call in (
        lambda: model.generate([1], 2**62),
        lambda: model.generate([1], 2**40),
        lambda: model.new_state(2**40),
        lambda: model.logits(np.zeros((64, 100_000), dtype=np.uint32)),  # 2.6 TB of logits
    ):
        with pytest.raises(rnnpy.MemoryLimitError, match="needs .* available"):
            call()


def crafted_checkpoint(layers: int) -> bytes:
    """A valid checkpoint of `layers` layers of hidden size 1 (fast mode, no RWKV)."""
    cfg = struct.pack("<4Q??2QQ", 2, 1, 1, layers, True, False, 1, 0, 1)
    n = 2 + layers * 11 + 3  # embedding 2x1; per layer 3 x (wx, ux, bx) and 2 norms; output norm 1, proj 1x2
    meta = b'{"epoch":1}'
    head = struct.pack("<Q", 7) + b"3.0-bin" + struct.pack("<Q", 24) + b"2026-01-01T00:00:00.000Z"
    head += b"\x01" + struct.pack("<Q", len(meta)) + meta + struct.pack("<Q", 0) + cfg
    return head + b"".join(struct.pack("<Q", n) + b"\0" * (4 * n) for _ in range(3))


def test_a_crafted_deep_checkpoint_is_refused_at_once_and_a_deep_one_loads_in_linear_time(tmp_path):
    (tmp_path / "deep.bin").write_bytes(crafted_checkpoint(65536))  # 8.6 MB: hung the loader for minutes
    t0 = time.perf_counter()
    with pytest.raises(rnnpy.CheckpointError, match="num_layers 65536 is more than rnnpy supports"):
        rnnpy.load_checkpoint(tmp_path / "deep.bin")
    (tmp_path / "ok.bin").write_bytes(crafted_checkpoint(1024))
    assert rnnpy.load_checkpoint(tmp_path / "ok.bin").config.num_layers == 1024
    assert time.perf_counter() - t0 < 5
