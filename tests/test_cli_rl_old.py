"""The RL examples of the old program's README run unchanged:

    cargo run --release -- --epochs=500 --doRL=true --rlTask=copy --rlEpisodes=200 --rlLearningRate=0.0001
    cargo run --release -- --loadCheckpoint=./model.bin --epochs=0 --doRL=true --rlTask=arithmetic --rlEpisodes=500

the second after its "full-featured pipeline" (a BPE tokenizer, then a model
on its tokens) and after a character model. Each prints the evaluation
before and after RL, saves, and samples. The pipeline's training step is run
smaller than the README's (H 128, 2 layers, 1000 epochs would take minutes);
the RL command lines themselves are the README's, word for word.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import rnnpy

EVALS = re.compile(r"^Before RL: exact .*\n  beyond training .*\n(.*\n)*After RL: exact .*\n  beyond training ", re.M)


def rnnpy_cli(cwd: Path, line: str, timeout: int = 120) -> str:
    """The old command line with `cargo run --release --` replaced by `python -m rnnpy`."""
    argv = line.split()
    p = subprocess.run(
        [sys.executable, "-m", "rnnpy", *argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p.stdout


def test_do_rl_after_training_on_the_built_in_sample(tmp_path: Path) -> None:
    out = rnnpy_cli(tmp_path, "--epochs=500 --doRL=true --rlTask=copy --rlEpisodes=200 --rlLearningRate=0.0001")
    # The sample has no newline or colon: the vocabulary is extended, and it says so.
    assert "Vocabulary: the 20 characters of the built-in sample + 4 that RL task copy needs" in out
    assert "RL (GRPO): task copy | episodes 200 | G 8 | prompts 8 | lr 0.0001" in out
    assert EVALS.search(out), out[-3000:]
    assert "Generating post-RL sample" in out
    meta = rnnpy.load_checkpoint(tmp_path / "checkpoint.bin").metadata
    assert meta["epoch"] == 500 and meta["rl"]["episodes"] == 200 and meta["rl"]["task"] == "copy"


def test_fine_tune_arithmetic_on_a_character_checkpoint(tmp_path: Path) -> None:
    corpus = rnnpy_cli(tmp_path, "tasks --task=arithmetic --n=1500")
    (tmp_path / "arithmetic.txt").write_text(corpus)
    rnnpy_cli(
        tmp_path, "--trainingFile=arithmetic.txt --epochs=3 --hiddenSize=16 --embedSize=8 --fastMode=true "
        "--batchSize=16 --seqLength=32 --learningRate=0.003 --savePath=./model.bin --genLength=0 --seed=1",
    )  # fmt: skip
    out = rnnpy_cli(
        tmp_path, "--loadCheckpoint=./model.bin --epochs=0 --doRL=true --rlTask=arithmetic --rlEpisodes=500"
    )
    assert "Training..." in out and EVALS.search(out), out[-3000:]  # no training text needed: nothing to train
    meta = rnnpy.load_checkpoint(tmp_path / "checkpoint.bin").metadata
    assert meta["epoch"] == 3 and meta["rl"]["episodes"] == 500


def test_fine_tune_arithmetic_after_the_bpe_pipeline(tmp_path: Path) -> None:
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n3+4=7 and 2*5=10, speak.\n" * 4
    (tmp_path / "data.txt").write_text(text)
    # 1. a BPE tokenizer on a corpus file (the README's command)
    rnnpy_cli(tmp_path, "--trainBPE=true --bpeTrainingFile=./data.txt --bpeVocabSize=1024")
    # 2. a model on its tokens (the README's, smaller)
    rnnpy_cli(
        tmp_path, "--useBPE=true --bpeLoadPath=./tokenizer.json --trainingFile=./data.txt --hiddenSize=16 "
        "--embedSize=8 --fastMode=true --epochs=40 --saveEvery=20 --savePath=./model.bin --genLength=0",
    )  # fmt: skip
    # 3. RL on arithmetic: prompts through the tokenizer, completions decoded for the verifier
    out = rnnpy_cli(
        tmp_path, "--loadCheckpoint=./model.bin --epochs=0 --doRL=true --rlTask=arithmetic --rlEpisodes=500"
    )
    assert "useBPE" not in out and EVALS.search(out), out[-3000:]
    ck = rnnpy.load_checkpoint(tmp_path / "checkpoint.bin")
    assert ck.metadata["rnnpy"]["vocab"]["type"] == "bpe" and ck.metadata["rl"]["task"] == "arithmetic"
    assert "Generating post-RL sample" in out


def test_errors_name_only_options_given(tmp_path: Path, monkeypatch, capsys) -> None:
    """An unwritable directory: the message names --savePath only when the command line did."""
    import os

    from rnnpy.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["--epochs=500", "--doRL=true", "--rlTask=copy", "--rlEpisodes=200"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the checkpoint into ." in err and "--" not in err
    (tmp_path / "sub").mkdir()
    assert main(["--epochs=1", "--savePath=sub/model.bin"]) == 2
    assert "--savePath: cannot write the checkpoint into sub" in capsys.readouterr().err
