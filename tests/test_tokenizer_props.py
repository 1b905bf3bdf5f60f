"""Property tests: round trips over arbitrary Unicode, and chunked encoding
equal to the old whole-text encoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnpy.tokenizer import BPETokenizer
from rnnpy.tokenizer.ids import latin1_round_trips
from test_tokenizer import G6, reference_encode, shakespeare

# Every code point, lone surrogates included (Python strings may hold them).
any_text = st.text(st.characters(blacklist_categories=()), max_size=60)
# Weighted towards what makes the schemes hard: Latin-1 high characters (the
# ambiguous ones), whitespace of all kinds, and multi-byte characters.
tricky_chars = st.one_of(
    st.sampled_from("ab e\t\n\u00a0\u0085\u2000\u3000\u2020\u2026\u4e00\u20ac"),
    st.characters(min_codepoint=0x80, max_codepoint=0xFF),
    st.characters(max_codepoint=0x2FF),
    st.characters(blacklist_categories=("Cs",)),
)
tricky_text = st.text(tricky_chars, max_size=40)
CORPUS = shakespeare(20000) + " \u00e9t\u00e9 \u20ac \u00c4\u00a1 \u65e5\u672c\u8a9e \U0001f389 " * 20


@pytest.fixture(scope="module")
def trained() -> dict[str, BPETokenizer]:
    return {s: BPETokenizer.train(CORPUS, vocab_size=420, scheme=s) for s in ("utf8-bytes", "latin1")}


@pytest.fixture(scope="module")
def g6() -> BPETokenizer:
    return BPETokenizer.load(G6 / "tokenizer.json")


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(any_text, tricky_text))
def test_rnnpy_trained_round_trips_everything(trained: dict[str, BPETokenizer], text: str) -> None:
    tok = trained["utf8-bytes"]
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(any_text, tricky_text))
def test_old_scheme_round_trips_exactly_the_representable(
    g6: BPETokenizer, trained: dict[str, BPETokenizer], text: str
) -> None:
    # Not just "representable => round trip": the predicate is exact, so the
    # documented set of failures is the whole set.
    for tok in (g6, trained["latin1"]):
        assert (tok.decode(tok.encode(text)) == text) == latin1_round_trips(text)


@settings(max_examples=150, deadline=None)
@given(text=tricky_text, cut=st.integers(0, 500))
def test_chunked_encoding_equals_whole_text(g6: BPETokenizer, trained: dict[str, BPETokenizer], text, cut) -> None:
    sample = shakespeare(120, start=cut) + text
    for tok in (g6, *trained.values()):
        assert tok.encode(sample) == reference_encode(tok, sample)
