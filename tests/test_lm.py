"""The high-level API: `rnnpy.load` -> LanguageModel (generate, stream,
perplexity, save), its errors, and its doctests."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import rnnpy
import rnnpy.lm
from conftest import GOLDEN
from rnnpy.errors import InputError, TextTooShortError, VocabularyError
from rnnpy.tokenizer import BPETokenizer

TEXT = "the quick brown fox jumps over the lazy dog. " * 6


@pytest.fixture(scope="module")
def lm() -> rnnpy.LanguageModel:
    return rnnpy.train_text(TEXT, hidden_size=16, embed_size=8, seq_length=16, epochs=8, seed=2)


@pytest.fixture(scope="module")
def saved(lm, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "m.bin"
    lm.save(path)
    return str(path)


def test_the_module_doctests_pass():
    result = doctest.testmod(rnnpy.lm, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


def test_load_gives_the_model_and_its_vocabulary_from_the_checkpoint_alone(lm, saved):
    back = rnnpy.load(saved)
    assert back.vocab == lm.vocab and back.start == "t" and back.metadata.seed == 2
    x = np.arange(lm.vocab.size)[None]
    assert np.array_equal(back.model.logits(x), lm.model.logits(x))
    assert back.generate("the ", length=40, seed=3) == lm.generate("the ", length=40, seed=3)
    assert back.trainer is not None and back.trainer.optimizer_step == lm.trainer.optimizer_step  # type: ignore[union-attr]


def test_generate_is_the_prompt_then_the_stream(lm):
    for kw in (dict(temperature=0), dict(temperature=1.2, seed=5), dict(top_k=3, top_p=0.8, seed=9)):
        text = lm.generate("the qu", length=30, **kw)
        assert text == "the qu" + "".join(lm.stream("the qu", length=30, **kw))
        assert len(text) == 36 and set(text) <= set(TEXT)
    assert lm.generate(length=5, temperature=0).startswith("t")  # no prompt: the training text's first character


def test_generate_matches_the_models_ids(lm):
    ids = lm.model.generate(lm.encode("the "), 25, 0.9, 4, top_k=5, top_p=0.9)
    assert lm.generate("the ", length=25, temperature=0.9, top_k=5, top_p=0.9, seed=4) == "the " + lm.decode(ids)


def test_seeds_and_filters_change_the_sample(lm):
    a = lm.generate("the ", length=60, temperature=1.5, seed=1)
    assert a == lm.generate("the ", length=60, temperature=1.5, seed=1)
    assert a != lm.generate("the ", length=60, temperature=1.5, seed=2)
    assert lm.generate("the ", length=60, top_k=1, seed=7) == lm.generate("the ", length=60, temperature=0)


def test_top_k_draws_only_among_the_k_most_likely(lm):
    """Replays the stream with the model's own step: every drawn id is among the top 3 of its logits."""
    prompt = lm.encode("the ")
    ids = lm.model.generate(prompt, 80, 2.0, 11, top_k=3)
    state = lm.model.new_state(1)
    for tok in prompt:
        logits = lm.model.step(state, [tok])[0]
    for tok in ids:
        assert tok in np.argsort(-logits, kind="stable")[:3]
        logits = lm.model.step(state, [tok])[0]
    assert len(set(ids)) > 1  # temperature 2 still samples


def test_perplexity_is_exact_with_the_state_carried(lm, monkeypatch):
    text = TEXT[:200]
    ids = lm.encode(text)
    state = lm.model.new_state(1)
    nll = 0.0
    for i in range(len(ids) - 1):
        logits = lm.model.step(state, [ids[i]])[0].astype(np.float64)
        nll += np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[ids[i + 1]]
    want = math.exp(nll / (len(ids) - 1))
    assert lm.perplexity(text) == pytest.approx(want, rel=1e-5)
    monkeypatch.setattr(rnnpy.lm, "SCORE_WINDOW", 7)  # windows that do not divide the text
    assert lm.perplexity(text) == pytest.approx(want, rel=1e-5)
    assert lm.perplexity(TEXT) < lm.perplexity("zyx wvu tsr qpo nml kji hgf edc ba")


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda m: m.generate("the Z!"), VocabularyError, "outside the model's vocabulary: '!Z'"),
        (lambda m: m.generate(""), InputError, "the prompt is empty"),
        (lambda m: m.stream(""), InputError, "the prompt is empty"),  # checked before the first piece
        (lambda m: m.generate("the", top_p=0), InputError, r"top_p must be in \(0, 1\]"),
        (lambda m: m.generate("the", top_k=-1), InputError, "top_k must be non-negative"),
        (lambda m: m.generate("the", temperature=-1), InputError, "temperature must be finite"),
        (lambda m: m.generate("the", length=-1), InputError, "length must be non-negative"),
        (lambda m: m.perplexity("t"), TextTooShortError, "at least two tokens"),
        (lambda m: m.perplexity("Q!"), VocabularyError, "outside the model's vocabulary"),
    ],
)
def test_errors_name_the_problem(lm, call, error, message):
    with pytest.raises(error, match=message):
        call(lm)


def test_a_vocabulary_that_does_not_fit_the_model(lm, saved):
    with pytest.raises(VocabularyError, match="has 3 tokens but the model has"):
        rnnpy.LanguageModel(lm.model, rnnpy.CharVocab("abc"))
    with pytest.raises(VocabularyError, match="stores its own vocabulary, and the one given is different"):
        rnnpy.load(saved, text="a completely different text with its own characters!")


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="needs ../shared/golden")
def test_old_program_checkpoints_take_their_text_or_tokenizer():
    g1, g6 = GOLDEN / "g1", GOLDEN / "g6"
    with pytest.raises(VocabularyError, match="old program's checkpoint with no vocabulary inside"):
        rnnpy.load(g1 / "checkpoint.bin")
    text = (g1 / "train.txt").read_text()
    lm = rnnpy.load(g1 / "checkpoint.bin", text=text)
    assert lm.start == text[0] and lm.generate(length=20, temperature=0).startswith("hello world")
    with pytest.raises(VocabularyError, match="has 26 tokens but the model has 20"):
        rnnpy.load(g1 / "checkpoint.bin", text="abcdefghijklmnopqrstuvwxyz")
    tok = BPETokenizer.load(g6 / "tokenizer.json")
    bpe = rnnpy.load(g6 / "checkpoint.bin", tokenizer=g6 / "tokenizer.json")
    assert bpe.vocab.size == tok.vocab_size == 400 and bpe.perplexity((g6 / "train.txt").read_text()[:2000]) < 400
    with pytest.raises(VocabularyError, match="bpe vocabulary has 400 tokens but the model has 20"):
        rnnpy.load(g1 / "checkpoint.bin", tokenizer=tok)


def test_a_bpe_model_streams_utf8_text(tmp_path):
    text = "naïve café — déjà vu. " * 20
    lm = rnnpy.train_text(text, bpe_vocab_size=300, hidden_size=16, embed_size=8, seq_length=8, epochs=3, seed=1)
    assert isinstance(lm.vocab, rnnpy.BPEVocab)
    out = lm.generate("café", length=40, seed=2)
    assert out.startswith("café") and "\ufffd" not in out[:4]
    lm.save(tmp_path / "b.bin")
    assert rnnpy.load(tmp_path / "b.bin").generate("café", length=40, seed=2) == out
