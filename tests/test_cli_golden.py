"""`python -m rnnpy generate` on the old program's golden checkpoints, and an
rnnpy checkpoint read back with the old program's byte layout."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import rnnpy

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO.parent / "shared" / "golden"

pytestmark = pytest.mark.skipif(not GOLDEN.is_dir(), reason="../shared/golden is not present")


def generate(case: str, length: int, *extra: str) -> str:
    d = GOLDEN / case
    p = subprocess.run(
        [sys.executable, "-m", "rnnpy", "generate", f"--loadCheckpoint={d / 'checkpoint.bin'}",
         f"--trainingFile={d / 'train.txt'}", "--temperature=0", f"--genLength={length}", *extra],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    rules = [i for i, ln in enumerate(lines) if ln == "-" * 70]
    assert lines[: rules[0]] == ["Temperature: 0", f"Generated ({length} tokens):"]
    return "\n".join(lines[rules[0] + 1 : rules[1]])  # the text between the rules


def expected(case: str) -> dict:
    return json.loads((GOLDEN / case / "expected.json").read_text())["greedy"]


def test_g2_greedy_text_entirely():
    exp = expected("g2")
    assert generate("g2", exp["gen_length"]) == exp["text"]


def test_g1_greedy_text():
    # g1 may part ways around step 175 (a top-1 expert choice within float
    # rounding, see golden/README.md); the first 150 characters must agree.
    exp = expected("g1")
    out = generate("g1", exp["gen_length"])
    assert len(out) == len(exp["text"])
    assert out[:150] == exp["text"][:150]


def test_g6_bpe_greedy_text_up_to_step_58():
    # each token is printed as its vocabulary string; at step 58 the old
    # program's top two logits were 1e-5 apart, so stop there.
    d = GOLDEN / "g6"
    out = generate("g6", 58, "--useBPE=true", f"--bpeLoadPath={d / 'tokenizer.json'}")
    assert out[0] == (d / "train.txt").read_text()[0]
    assert len(out) > 58
    assert expected("g6")["text"].startswith(out)


def test_old_checkpoint_with_the_wrong_text_is_a_clear_error():
    p = subprocess.run(
        [sys.executable, "-m", "rnnpy", "generate", f"--loadCheckpoint={GOLDEN / 'g2' / 'checkpoint.bin'}",
         "--trainingText=abc"], capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "vocabulary of 58 tokens" in p.stderr and "3 distinct characters" in p.stderr


def _string(b: bytes, o: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<Q", b, o)
    return b[o + 8 : o + 8 + n].decode("utf-8"), o + 8 + n


def test_rnnpy_checkpoint_in_the_old_byte_layout(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "rnnpy", "train", "--epochs=3", "--saveEvery=2", "--genLength=5", "--seed=0",
         "--numLayers=2", "--topK=2"], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    for name, epoch in (("checkpoint_epoch2.bin", 2), ("checkpoint.bin", 3)):
        b = (tmp_path / name).read_bytes()
        version, o = _string(b, 0)
        timestamp, o = _string(b, o)
        assert version == "3.0-bin" and len(timestamp) == 24 and timestamp.endswith("Z")
        assert b[o] == 1  # Some(metadata)
        meta_text, o = _string(b, o + 1)
        meta = json.loads(meta_text)
        assert meta["epoch"] == epoch and isinstance(meta["loss"], float)
        assert meta_text == json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        (step,) = struct.unpack_from("<Q", b, o)
        vocab, embed, hidden, layers = struct.unpack_from("<4Q", b, o + 8)
        fast, rwkv = b[o + 40], b[o + 41]
        experts, top_k, heads = struct.unpack_from("<3Q", b, o + 42)
        o += 8 + 58
        assert (vocab, embed, hidden, layers, fast, rwkv, experts, top_k, heads) == (20, 16, 32, 2, 0, 1, 4, 2, 4)
        assert step == 2 * epoch
        n = rnnpy.ModelConfig(vocab_size=20, num_layers=2, top_k=2).num_parameters()
        for _ in range(3):  # param_data, param_m, param_v
            (count,) = struct.unpack_from("<Q", b, o)
            assert count == n
            o += 8 + 4 * n
        assert o == len(b) == 15 + 32 + (9 + len(meta_text.encode())) + 8 + 58 + 3 * (8 + 4 * n)
