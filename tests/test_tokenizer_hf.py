"""Hugging Face export: the tokenizers library must give the same ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnpy.tokenizer import BPETokenizer
from test_tokenizer import G6, shakespeare

tokenizers = pytest.importorskip("tokenizers")

LATIN1_TEXT = "Caf\u00e9 cr\u00e8me, na\u00efve fa\u00e7ade: \u00abd\u00e9j\u00e0 vu\u00bb \u00bd \u00d7 \u00f7 \u00bfQu\u00e9?\u00a0\u00f1and\u00fa \u00c4\u00a1\n"
OTHER_TEXT = "\u20ac100 \u2014 \u201cquoted\u201d \u65e5\u672c\u8a9e \U0001f389 \u0121\u3000x\n"
SAMPLES = [shakespeare(4000, start=30000), LATIN1_TEXT * 3, "  a\tb\n\nc  \r\n", "<PAD> x<y <UNK>", OTHER_TEXT]
CORPUS = shakespeare(30000) + (LATIN1_TEXT + OTHER_TEXT) * 10


@pytest.fixture(scope="module", params=["utf8-bytes", "latin1", "g6"])
def pair(request, tmp_path_factory) -> tuple[BPETokenizer, object]:
    if request.param == "g6":
        tok = BPETokenizer.load(G6 / "tokenizer.json")
    else:
        tok = BPETokenizer.train(CORPUS, vocab_size=600, scheme=request.param)
    path = tmp_path_factory.mktemp("hf") / "hf.json"
    tok.to_huggingface(path)
    return tok, tokenizers.Tokenizer.from_file(str(path))


@pytest.mark.parametrize("text", SAMPLES)
def test_same_ids(pair, text: str) -> None:
    tok, hf = pair
    assert hf.encode(text).ids == tok.encode(text)


def test_byte_level_export_decodes_losslessly(pair) -> None:
    tok, hf = pair
    if tok.scheme != "utf8-bytes":
        pytest.skip("the latin1 export decodes to the Latin-1 view of bytes")
    for text in SAMPLES:
        assert hf.decode(hf.encode(text).ids) == text


def test_export_is_atomic_json(tmp_path: Path) -> None:
    tok = BPETokenizer.train("hello hello world", vocab_size=262)
    tok.to_huggingface(tmp_path / "hf.json")
    assert [p.name for p in tmp_path.iterdir()] == ["hf.json"]
