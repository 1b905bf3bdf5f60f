"""Held-out scoring (rnnpy.evaluation) and `python -m rnnpy eval`: the
numbers equal an independent computation from the model's logits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import rnnpy
import rnnpy.evaluation
from rnnpy.cli import main
from rnnpy.evaluation import score, streams_for

CFG = rnnpy.ModelConfig(vocab_size=11, hidden_size=16, embed_size=8, num_heads=2, num_experts=2)


def nll_by_hand(model: rnnpy.Model, stream: np.ndarray) -> float:
    """Summed NLL of stream[1:], from zero state, in one pass: log-softmax in float64."""
    logits = model.logits(stream[None, :-1])[0].astype(np.float64)
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(stream) - 1), stream[1:]].sum())


def test_a_short_text_is_one_stream_scored_exactly():
    model = rnnpy.Model(CFG, seed=1)
    ids = np.random.default_rng(0).integers(0, 11, size=300)
    s = score(model, ids)
    assert streams_for(299) == 1 and s.tokens == s.chars == 299
    assert s.loss == pytest.approx(nll_by_hand(model, ids) / 299, rel=1e-5)
    assert s.bits_per_char == pytest.approx(s.loss / math.log(2)) and s.perplexity == pytest.approx(math.exp(s.loss))


def test_a_long_text_is_cut_into_streams_and_no_position_is_dropped(monkeypatch):
    model = rnnpy.Model(CFG, seed=2)
    ids = np.random.default_rng(1).integers(0, 11, size=3 * 1024 + 50)  # 3121 positions: 3 streams of 1040, +1
    p = len(ids) - 1
    assert streams_for(p) == 3
    length = p // 3
    bounds = [(0, length), (length, 2 * length), (2 * length, p)]  # the last stream takes the remainder
    want = sum(nll_by_hand(model, ids[a : b + 1]) for a, b in bounds) / p
    s = score(model, ids)
    assert s.tokens == p and s.loss == pytest.approx(want, rel=1e-5)
    monkeypatch.setattr(rnnpy.evaluation, "WINDOW", 37)  # the window is only how the work is cut
    assert score(model, ids).loss == pytest.approx(s.loss, rel=1e-6)


def test_at_most_32_streams():
    assert streams_for(10) == 1 and streams_for(2048) == 2 and streams_for(111_539) == 32


def test_eval_command_prints_the_independent_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = "to be or not to be, that is the question. " * 8
    assert main(["train", f"--trainingText={text}", "--epochs=3", "--seed=1", "--genLength=0", "--quiet"]) == 0
    (tmp_path / "held.txt").write_text("the question is not to be. ")
    capsys.readouterr()
    assert main(["eval", "--loadCheckpoint=checkpoint.bin", "--file=held.txt", "--quiet"]) == 0
    got = json.loads(capsys.readouterr().out)
    ck = rnnpy.load_checkpoint(tmp_path / "checkpoint.bin")
    vocab = rnnpy.RunMetadata.of(ck).vocab
    assert vocab is not None
    ids = np.array(vocab.encode("the question is not to be. "))
    want = nll_by_hand(ck.model, ids) / (len(ids) - 1)
    assert got["tokens"] == got["chars"] == len(ids) - 1
    assert got["loss"] == pytest.approx(want, rel=1e-5)
    assert got["bits_per_char"] == pytest.approx(want / math.log(2), rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(want), rel=1e-5)
    assert main(["eval", "--loadCheckpoint=checkpoint.bin", "--file=held.txt"]) == 0
    out = capsys.readouterr().out
    assert f"Loss: {want:.4f} nats/token" in out and "1 stream(s), state carried" in out


@pytest.mark.parametrize(
    "content,message",
    [
        (
            "the quick zebra, zebra!",
            "has 13 characters outside the model's vocabulary of 8 ('z' ×2, 'r' ×2, 'a' ×2, 'q' ×1",
        ),
        ("t", "fewer than two tokens"),
    ],
)
def test_eval_errors_are_one_sentence(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.chdir(tmp_path)
    text = "the best test text. " * 3
    assert main(["train", f"--trainingText={text}", "--epochs=1", "--genLength=0", "--quiet"]) == 0
    (tmp_path / "f.txt").write_text(content)
    capsys.readouterr()
    assert main(["eval", "--loadCheckpoint=checkpoint.bin", "--file=f.txt"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_eval_needs_a_file_and_a_checkpoint_that_exist(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--loadCheckpoint=nothing.bin", "--file=x.txt"]) == 2
    assert "nothing.bin" in capsys.readouterr().err
    assert main(["eval", "--file=x.txt"]) == 2
    assert "eval needs --loadCheckpoint" in capsys.readouterr().err
    assert main(["train", "--epochs=1", "--genLength=0", "--quiet"]) == 0
    assert main(["eval", "--loadCheckpoint=checkpoint.bin", "--file=missing.txt"]) == 2
    assert "--file" in capsys.readouterr().err
