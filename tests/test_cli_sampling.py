"""Top-k / top-p sampling on the command line (`--sampleTopK`, `--sampleTopP`,
never the MoE's `--topK`): in `generate` and in the sample after `train`."""

from __future__ import annotations

import pytest

import rnnpy
from rnnpy.cli import main

TEXT = "the quick brown fox jumps over the lazy dog. " * 4


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sampling") / "m.bin"
    argv = ["train", f"--trainingText={TEXT}", "--epochs=10", "--hiddenSize=16", "--topK=2",
            "--genLength=0", f"--savePath={path}", "--seed=5", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return str(path)


def generate(capsys, ckpt: str, *args: str) -> str:
    assert main(["generate", f"--loadCheckpoint={ckpt}", "--genLength=40", "--quiet", *args]) == 0
    return capsys.readouterr().out[:-1]


def test_generate_samples_as_the_python_api_does(ckpt, capsys):
    text = generate(
        capsys, ckpt, "--prompt=the ", "--temperature=1.3", "--sampleTopK=4", "--sampleTopP=0.9", "--seed=3"
    )
    lm = rnnpy.load(ckpt)
    assert text == lm.generate("the ", length=40, temperature=1.3, top_k=4, top_p=0.9, seed=3)
    assert text != generate(capsys, ckpt, "--prompt=the ", "--temperature=1.3", "--seed=3")  # the filters matter


def test_top_k_one_is_greedy_and_a_tiny_top_p_too(ckpt, capsys):
    greedy = generate(capsys, ckpt, "--temperature=0")
    assert generate(capsys, ckpt, "--sample-top-k", "1", "--temperature=2", "--seed=1") == greedy
    assert generate(capsys, ckpt, "--sample_top_p=0.0001", "--temperature=2", "--seed=1") == greedy


def test_the_sample_after_training_takes_them(tmp_path, capsys):
    argv = ["train", f"--trainingText={TEXT}", "--epochs=10", "--hiddenSize=16", "--topK=2", "--seed=5",
            f"--savePath={tmp_path / 'm.bin'}", "--genLength=40", "--temperature=2", "--sampleTopK=1"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Temperature: 2 | sampleTopK: 1\nGenerated (40 tokens):" in out
    lm = rnnpy.load(tmp_path / "m.bin")
    assert lm.config.top_k == 2  # --topK is still the MoE's
    assert lm.generate(length=40, temperature=0) in out


@pytest.mark.parametrize("arg,message", [("--sampleTopP=0", "must be in (0, 1]"), ("--sampleTopP=1.5", "must be in (0, 1]"),
                                         ("--sampleTopK=-2", "must not be negative")])  # fmt: skip
def test_values_out_of_range_are_one_line_errors(ckpt, capsys, arg, message):
    assert main(["generate", f"--loadCheckpoint={ckpt}", arg]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_help_tells_them_apart_from_the_moe_top_k(capsys):
    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--sampleTopK" in out and "not the MoE --topK" in out and "--topK " in out
