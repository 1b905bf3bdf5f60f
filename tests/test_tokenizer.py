"""BPE tokenizer: golden case g6, training rules, files and errors.

Reference values come from the old rnn-rust program (golden/g6) and from a
literal re-implementation of its algorithm kept in this file (`reference_*`),
slow but obviously faithful to spec/TOKENIZER.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnpy.tokenizer import BPETokenizer, TokenizerError
from rnnpy.tokenizer.ids import base_ids, split_pieces

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
G6 = SHARED / "golden" / "g6"
SHAKESPEARE = SHARED / "data" / "tinyshakespeare.txt"


def shakespeare(n: int, start: int = 0) -> str:
    return SHAKESPEARE.read_text(encoding="utf-8")[start : start + n]


def reference_train(text: str, merges: int, min_frequency: int, scheme: str) -> list[tuple[int, int]]:
    """The old program's loop (full recount per merge) with rnnpy's tie rule."""
    pieces = [base_ids(p, scheme) for p in split_pieces(text)]
    out: list[tuple[int, int]] = []
    while len(out) < merges:
        counts: dict[tuple[int, int], int] = {}
        for ids in pieces:
            for pair in zip(ids, ids[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair, count = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < min_frequency:
            break
        pieces = [reference_replace(ids, pair, 260 + len(out)) for ids in pieces]
        out.append(pair)
    return out


def reference_replace(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def reference_encode(tok: BPETokenizer, text: str) -> list[int]:
    """Whole-text encoding, every merge in order, ids looked up by string."""
    vocab = [tok.token(i) for i in range(tok.vocab_size)]
    by_string = {s: i for i, s in enumerate(vocab)}
    ids = base_ids(text, tok.scheme)
    for a, b in tok.merges:
        ids = reference_replace(ids, (a, b), by_string[vocab[a] + vocab[b]])
    return ids


@pytest.fixture(scope="module")
def g6() -> BPETokenizer:
    return BPETokenizer.load(G6 / "tokenizer.json")


# -- golden case g6 ----------------------------------------------------------------


def test_g6_ids_identical(g6: BPETokenizer) -> None:
    expected = json.loads((G6 / "expected.json").read_text())
    ids = g6.encode((G6 / "train.txt").read_text(encoding="utf-8"))
    n = len(expected["inputs"])
    assert ids[:n] == expected["inputs"]
    assert ids[1 : n + 1] == expected["targets"]


def test_g6_decode(g6: BPETokenizer) -> None:
    text = (G6 / "train.txt").read_text(encoding="utf-8")
    assert g6.decode(g6.encode(text)) == text
    assert g6.vocab_size == 400 and g6.scheme == "latin1"


@pytest.mark.parametrize(
    "text",
    [
        "tricky\u00a0whitespace\u2000\u3000and bytes \u2020x \u4e00\u2026 \u0085y",
        "\u00e9t\u00e9 \u20ac5 \u00c4\u00a1 <PAD> \t\r\n  end",
    ],
)
def test_chunked_encoding_equals_whole_text(g6: BPETokenizer, text: str) -> None:
    sample = (G6 / "train.txt").read_text(encoding="utf-8")[:2000] + text
    assert g6.encode(sample) == reference_encode(g6, sample)


# -- training ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["utf8-bytes", "latin1"])
def test_training_matches_reference_and_tie_rule(scheme: str) -> None:
    text = shakespeare(8000) + " caf\u00e9 na\u00efve \u20ac \u65e5\u672c " * 5
    tok = BPETokenizer.train(text, vocab_size=360, scheme=scheme)
    assert tok.merges == reference_train(text, 100, 2, scheme)
    assert tok.encode(text) == reference_encode(tok, text)


def test_tie_rule_smallest_pair_wins() -> None:
    # "ab" and "cd" both occur twice: (a, b) has the smaller ids.
    tok = BPETokenizer.train("cd ab cd ab", vocab_size=261, min_frequency=1)
    assert tok.token(260) == "ab"


def test_training_is_deterministic(tmp_path: Path) -> None:
    text = shakespeare(20000)
    a = BPETokenizer.train(text, vocab_size=400)
    b = BPETokenizer.train(text, vocab_size=400)
    assert a.to_json(timestamp="T") == b.to_json(timestamp="T")
    a.save(tmp_path / "a.json")
    b.save(tmp_path / "b.json")
    lines_a = (tmp_path / "a.json").read_text().splitlines()
    lines_b = (tmp_path / "b.json").read_text().splitlines()
    differ = [x for x, y in zip(lines_a, lines_b) if x != y]
    assert len(lines_a) == len(lines_b) and all('"timestamp"' in x for x in differ)


def test_min_frequency_stops() -> None:
    tok = BPETokenizer.train(shakespeare(20000), vocab_size=4000, min_frequency=50)
    assert tok.training.stop_reason == "min_frequency"
    assert min(tok.training.counts) >= 50
    assert tok.vocab_size == 260 + len(tok.training.counts) < 4000


def test_vocab_size_stops() -> None:
    tok = BPETokenizer.train(shakespeare(20000), vocab_size=300)
    assert tok.vocab_size == 300 and tok.training.stop_reason == "vocab_size"
    assert BPETokenizer.train("hello hello", vocab_size=100).vocab_size == 260


def test_no_pairs_left_stops() -> None:
    tok = BPETokenizer.train("ab ab", vocab_size=1000, min_frequency=1)
    assert [tok.token(i) for i in range(260, tok.vocab_size)] == ["ab", "ab "]
    assert tok.training.stop_reason == "no_pairs"


@pytest.mark.parametrize("text", ["", " ", "   \n\t  \r\n", "\u3000\u00a0 "])
def test_empty_and_whitespace_only(text: str) -> None:
    tok = BPETokenizer.train(text, vocab_size=512)
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("") == [] and tok.decode([]) == ""


def test_training_file_must_be_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(TokenizerError, match=r"latin1\.txt.*not UTF-8.*offset 3"):
        BPETokenizer.train_from_file(bad)
    good = tmp_path / "ok.txt"
    good.write_text(shakespeare(3000), encoding="utf-8")
    assert BPETokenizer.train_from_file(good, vocab_size=280).vocab_size == 280


# -- decoding ---------------------------------------------------------------------


def test_decode_drops_only_special_tokens(g6: BPETokenizer) -> None:
    ids = g6.encode("a <b> <PAD>")
    assert g6.decode([2, *ids, 3, 0, 1]) == "a <b> <PAD>"
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        g6.decode([400])


def test_latin1_ambiguity_is_exactly_the_documented_one(g6: BPETokenizer) -> None:
    # U+00C4 U+00A1 are the UTF-8 bytes of U+0121, so the old ids cannot tell them apart.
    assert g6.encode("\u00c4\u00a1") == g6.encode("\u0121")
    assert g6.decode(g6.encode("\u00c4\u00a1")) == "\u0121"
    assert not g6.can_round_trip("\u00c4\u00a1")
    assert g6.can_round_trip("\u00c4 \u00a1 \u00e9t\u00e9 \u20ac")
    lossless = BPETokenizer.train("x", vocab_size=260)
    assert lossless.decode(lossless.encode("\u00c4\u00a1")) == "\u00c4\u00a1"


# -- files ------------------------------------------------------------------------


def test_saved_file_has_old_shape_and_reloads(tmp_path: Path) -> None:
    tok = BPETokenizer.train(shakespeare(10000), vocab_size=320, scheme="latin1")
    path = tmp_path / "tok.json"
    tok.save(path)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text.startswith('{\n  "version": "1.0",\n  "type": "BPE",')
    assert list(doc)[:9] == [
        "version", "type", "timestamp", "targetVocabSize", "vocabSize",
        "mergeCount", "specialTokens", "merges", "vocab",
    ]  # fmt: skip
    assert [i for i, _ in doc["vocab"]] == list(range(320))
    assert doc["mergeCount"] == 60 and doc["rnnpyScheme"] == "latin1"
    again = BPETokenizer.load(path)
    sample = shakespeare(3000, start=10000)
    assert again.encode(sample) == tok.encode(sample) and again.scheme == "latin1"
    assert list(tmp_path.iterdir()) == [path]  # the temp file was renamed away


def test_old_file_without_scheme_key_is_latin1(tmp_path: Path) -> None:
    doc = json.loads((G6 / "tokenizer.json").read_text())
    assert "rnnpyScheme" not in doc
    doc["rnnpyScheme"] = "utf8-bytes"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    assert BPETokenizer.load(path).encode("\u00e9") == [4 + 0xC3, 4 + 0xA9]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not a JSON tokenizer file"),
        ('{"version": "1.0", "model": {"type": "BPE"}}', "not an rnn-rust BPE tokenizer"),
        ('{"type": "BPE", "merges": [], "vocab": [[0, "<PAD>"]]}', "vocab ids must be"),
    ],
)
def test_bad_files_raise_tokenizer_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TokenizerError, match=message) as info:
        BPETokenizer.load(path)
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)


def test_inconsistent_merge_is_rejected(tmp_path: Path) -> None:
    doc = json.loads((G6 / "tokenizer.json").read_text())
    doc["merges"][0] = [105, 37]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TokenizerError, match="merge 0"):
        BPETokenizer.load(path)


def test_duplicate_merge_strings_use_the_later_id(tmp_path: Path) -> None:
    # Merges 2 and 3 both make "abc"; the old encoder looked ids up by string,
    # so merge 2 yields id 263 too. The HF export must agree.
    a, b, c = (4 + ord(ch) for ch in "abc")
    doc = json.loads((G6 / "tokenizer.json").read_text())
    base = [entry for entry in doc["vocab"] if entry[0] < 260]
    doc["vocab"] = base + [[260, "ab"], [261, "bc"], [262, "abc"], [263, "abc"]]
    doc["merges"] = [[a, b], [b, c], [260, c], [a, 261]]
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(doc))
    tok = BPETokenizer.load(path)
    text = "abc xbc abcabc"
    assert tok.encode("abc") == [263]
    assert tok.encode(text) == reference_encode(tok, text)
    assert tok.decode(tok.encode(text)) == text
    tokenizers = pytest.importorskip("tokenizers")
    tok.to_huggingface(tmp_path / "hf.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "hf.json"))
    assert hf.encode(text).ids == tok.encode(text)
