"""`rnnpy.train_text`: the `train` command's run from Python — same options,
same checks, same loop and seeding, so the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy
from rnnpy.cli import main
from rnnpy.errors import InputError, TextTooShortError
from rnnpy.tokenizer import BPETokenizer

TEXT = "to be, or not to be, that is the question: " * 5


def test_the_same_weights_as_the_train_command(tmp_path, capsys):
    argv = ["train", f"--trainingText={TEXT}", "--hiddenSize=16", "--embedSize=8", "--numLayers=2",
            "--seqLength=12", "--batchSize=3", "--learningRate=0.003", "--epochs=4", "--seed=7",
            f"--savePath={tmp_path / 'cli.bin'}", "--genLength=0", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    cli = rnnpy.load(tmp_path / "cli.bin")
    # Python names and command-line spellings both work
    lm = rnnpy.train_text(TEXT, hidden_size=16, embedSize=8, num_layers=2, seq_length=12, batch_size=3,
                          learning_rate=0.003, epochs=4, seed=7)  # fmt: skip
    for name, value in cli.model.parameters().items():
        assert np.array_equal(lm.model.parameters()[name], value), name
    assert lm.trainer.optimizer_step == cli.trainer.optimizer_step  # type: ignore[union-attr]
    assert lm.metadata.loss == pytest.approx(cli.metadata.loss)
    assert lm.metadata.rng == cli.metadata.rng and lm.vocab == cli.vocab and lm.start == "t"
    assert lm.metadata.completed and lm.metadata.epoch == 4 and lm.metadata.options["hiddenSize"] == 16


def test_the_saved_model_resumes_with_the_command(tmp_path, capsys):
    lm = rnnpy.train_text(TEXT, hidden_size=16, embed_size=8, seq_length=12, epochs=2, seed=1)
    lm.save(tmp_path / "m.bin")
    assert main(["train", f"--loadCheckpoint={tmp_path / 'm.bin'}", f"--trainingText={TEXT}", "--epochs=3",
                 f"--savePath={tmp_path / 'n.bin'}", "--genLength=0"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Restored optimizer step: " in out and "Epoch    3 |" in out


def test_progress_prints_the_commands_epoch_lines(capsys):
    rnnpy.train_text(TEXT, hidden_size=8, embed_size=8, seq_length=12, epochs=3, log_every=2, seed=1)
    assert capsys.readouterr().out == ""
    rnnpy.train_text(TEXT, hidden_size=8, embed_size=8, seq_length=12, epochs=3, log_every=2, seed=1, progress=True)
    out = capsys.readouterr().out
    logged = [ln.split("|")[0].strip() for ln in out.splitlines() if ln.startswith("Epoch")]
    assert logged == ["Epoch    1", "Epoch    2"]
    assert "Done after epoch 3" in out


def test_bpe_from_a_tokenizer_or_trained_on_the_text(tmp_path):
    tok = BPETokenizer.train(TEXT, vocab_size=280)
    tok.save(tmp_path / "tok.json")
    a = rnnpy.train_text(TEXT, tokenizer=tmp_path / "tok.json", hidden_size=8, seq_length=6, epochs=1, seed=1)
    b = rnnpy.train_text(TEXT, bpe_vocab_size=280, hidden_size=8, seq_length=6, epochs=1, seed=1)
    assert a.vocab == b.vocab and a.config.vocab_size == tok.vocab_size
    assert np.array_equal(a.model.parameters()["output_proj"], b.model.parameters()["output_proj"])


def test_a_random_seed_is_drawn_and_kept():
    lm = rnnpy.train_text(TEXT, hidden_size=8, seq_length=12, epochs=1)
    assert isinstance(lm.metadata.seed, int) and lm.metadata.seed >= 0


@pytest.mark.parametrize(
    "kw,error,message",
    [
        (dict(hiden_size=8), TypeError, r"unknown option 'hiden_size' \(did you mean hidden_size\?\)"),
        (dict(prompt="x"), TypeError, "unknown option 'prompt'"),  # a generation option, not a training one
        (dict(hidden_size="8"), TypeError, "option hidden_size: expected int, got '8'"),
        (dict(fast_mode=1), TypeError, "option fast_mode: expected bool"),
        (dict(batch_size=True), TypeError, "option batch_size: expected int"),
        (dict(hidden_size=0), InputError, "option hidden_size: must be at least 1, got 0"),
        (dict(learning_rate=float("nan")), InputError, "option learning_rate: expected a finite number"),
        (dict(seed=-1), InputError, "seed must be non-negative"),
        (dict(seq_length=10_000), TextTooShortError, "fewer than one window"),
        (dict(hidden_size=30, num_heads=4), rnnpy.ConfigError, "divisible"),
    ],
)
def test_options_are_checked_as_the_command_checks_them(kw, error, message):
    with pytest.raises(error, match=message):
        rnnpy.train_text(TEXT, epochs=1, **kw)


def test_a_float_option_takes_an_int():
    lm = rnnpy.train_text(TEXT, hidden_size=8, seq_length=12, epochs=1, learning_rate=1, seed=0)
    assert lm.metadata.options["learningRate"] == 1.0
