"""The fuzzers' findings, each as a fixed case (issues 15 and 16): the
property-based campaigns (test_fuzz.py) draw these at random, so that a
regression of any one of them fails here on every run, not by chance."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
import tracemalloc

import pytest

import rnnpy
from cli_run import RNNPY, SMALL, TEXT, assert_clean_error, run
from rnnpy import _core
from rnnpy.cli.console import Reporter
from rnnpy.cli.generate import sample
from rnnpy.cli.options import GenerationOptions


def tiny_model() -> rnnpy.Model:
    return rnnpy.Model(rnnpy.ModelConfig(vocab_size=6, embed_size=4, hidden_size=4, num_heads=2), seed=0)


@pytest.mark.parametrize("meta", [[1, 2], "a string", 3, None, {"rnnpy": [1]}, {"vocab": 7}], ids=repr)
@pytest.mark.parametrize("command", ["generate", "train"])
def test_metadata_of_another_shape_is_one_clean_line(tmp_path, meta, command):
    """Valid JSON that is not rnnpy's object crashed `cli/vocab.py` with an AttributeError."""
    # Written by the core (save_checkpoint refuses anything but an object), as another program could.
    _core.write_checkpoint(
        str(tmp_path / "m.bin"), tiny_model().core, 0, None, None, json.dumps(meta), None, None, False
    )
    before = (tmp_path / "m.bin").read_bytes()
    extra = ["--epochs=1", "--savePath=m.bin", *SMALL] if command == "train" else ["--genLength=2"]
    p = run(tmp_path, command, "--loadCheckpoint=m.bin", *extra)
    if p.returncode != 0:
        assert_clean_error(p, "m.bin")
    assert "Traceback" not in p.stderr
    if p.returncode != 0:
        assert (tmp_path / "m.bin").read_bytes() == before  # a refused file is never replaced


@pytest.mark.parametrize(
    "content",
    [
        '{"type": "BPE", "merges": ' + "[" * 1000 + "]" * 1000 + ', "vocab": []}',
        '{"type": "BPE", "merges": ' + "[" * 100_000 + "]" * 100_000 + ', "vocab": []}',
        '{"type": "BPE", "merges": [], "vocab": [[' + "9" * 4300 + ', "a"]]}',
        '{"type": "BPE", "merges": [], "vocab": [[' + "9" * 50_000 + ', "a"]]}',
    ],
    ids=["depth 1000", "depth 100000", "4300 digits", "50000 digits"],
)
def test_deep_or_huge_json_in_a_tokenizer_file_is_a_tokenizer_error(tmp_path, content):
    """These ended in RecursionError / ValueError (Exceeds the limit (4300 digits))."""
    (tmp_path / "t.json").write_text(content)
    with pytest.raises(rnnpy.TokenizerError, match="t.json"):
        rnnpy.BPETokenizer.load(tmp_path / "t.json")
    assert_clean_error(run(tmp_path, "tokenizer", "encode", "--tokenizer=t.json", "--text=hi"), "t.json")


def test_generation_keeps_no_tokens_so_any_length_runs_in_constant_memory(tmp_path):
    """`generate` grew about 7 bytes a token (every piece kept for a return value nobody used)."""
    vocab = rnnpy.CharVocab("abcde ")
    model = tiny_model()
    out = Reporter(quiet=True)
    with open(tmp_path / "out.txt", "w") as f, contextlib.redirect_stdout(f):  # streamed to a file, as a user's pipe
        warm_up = GenerationOptions(gen_length=200, temperature=1.0)  # the state's buffers, the printer
        sample(model, vocab, "a", warm_up, 0, out)
        tracemalloc.start()
        sample(model, vocab, "a", GenerationOptions(gen_length=50_000, temperature=1.0), 0, out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 100_000, peak  # measured 9 kB; a kept list of the 50,000 pieces alone takes 400 kB


def test_tasks_streams_its_lines_instead_of_building_the_list(tmp_path):
    """`tasks --n=300000000` built the whole list (minutes, gigabytes) before printing a line."""
    proc = subprocess.Popen([*RNNPY, "tasks", "--task=reverse", "--n=300000000"], cwd=tmp_path, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        deadline, got = time.monotonic() + 30, b""
        while got.count(b"\n") < 100 and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.5)[0]:
                got += os.read(proc.stdout.fileno(), 65536)
        assert got.count(b"\n") >= 100, got[-200:]
    finally:
        proc.kill()
        proc.wait()


def test_a_crafted_checkpoint_that_training_would_replace_is_kept(tmp_path):
    """A refused --loadCheckpoint is refused before training: the file stays."""
    (tmp_path / "m.bin").write_bytes(b"RNNPY\0garbage")
    p = run(tmp_path, "train", "--loadCheckpoint=m.bin", "--savePath=m.bin", "--epochs=1", f"--trainingText={TEXT}")
    assert_clean_error(p, "m.bin")
    assert (tmp_path / "m.bin").read_bytes() == b"RNNPY\0garbage"


def test_metadata_is_strict_json_on_disk(tmp_path):
    rnnpy.save_checkpoint(tmp_path / "m.bin", tiny_model(), metadata={"loss": 1.5})
    meta = rnnpy.load_checkpoint(tmp_path / "m.bin").metadata
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta
