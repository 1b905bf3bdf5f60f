"""Export to the Hugging Face ``tokenizers`` JSON format, with the same ids
(a BPE tokenizer here; a character vocabulary at the end).

Both exports use a plain BPE model (merges ranked in file order, which is what
"lowest-ranked merge first" in encode.py relies on too) and a pre-tokenizer
that cuts after ASCII whitespace, the same cut the encoder caches on.

* ``utf8-bytes``: a ByteLevel pre-tokenizer (no regex, no prefix space) turns
  text into UTF-8 bytes written in GPT-2's byte alphabet, so every token
  string is translated byte by byte into that alphabet. The ByteLevel decoder
  then decodes losslessly too.
* ``latin1``: token strings are used as they are (Latin-1 characters map to
  themselves). A character >= U+0100 is not in the vocabulary, so
  ``byte_fallback`` looks up ``<0xXX>`` for each of its UTF-8 bytes; those
  names are added as aliases of the base ids 4 + 0xXX, exactly the old
  program's ids. HF decoding of this export gives the Latin-1 view of bytes.

Special tokens are ordinary vocabulary entries, not "added tokens": the old
program encoded a literal "<PAD>" in text as characters, and so must HF.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

from rnnpy.tokenizer.ids import ASCII_WS, BASE_OFFSET, FIRST_MERGE_ID, UTF8_BYTES
from rnnpy.tokenizer.io import TokenizerData


@lru_cache(maxsize=1)
def gpt2_byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what ByteLevel emits)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def to_huggingface_json(data: TokenizerData) -> str:
    byte_level = data.scheme == UTF8_BYTES
    if byte_level:
        alphabet = gpt2_byte_alphabet()
        name = [s if i < BASE_OFFSET else "".join(alphabet[ord(c)] for c in s) for i, s in enumerate(data.vocab)]
    else:
        name = list(data.vocab)
    vocab = {s: i for i, s in enumerate(name)}  # later id wins, as in encode.py
    # A merge that uses an id shadowed by a later duplicate string never fires
    # in the old encoder (that id is never produced), so it is left out.
    merges = [[name[a], name[b]] for a, b in data.merges if vocab[name[a]] == a and vocab[name[b]] == b]
    if not byte_level:
        for b in range(0x80, 0x100):
            vocab[f"<0x{b:02X}>"] = BASE_OFFSET + b
    ws_split: dict[str, object] = {
        "type": "Split",
        "pattern": {"Regex": "[" + "".join(f"\\x{ord(c):02x}" for c in ASCII_WS) + "]"},
        "behavior": "MergedWithPrevious",
        "invert": False,
    }
    if byte_level:
        byte_level_cfg = {"add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        pre_tokenizer: dict[str, object] = {
            "type": "Sequence",
            "pretokenizers": [ws_split, {"type": "ByteLevel", **byte_level_cfg}],
        }
        decoder: dict[str, object] = {"type": "ByteLevel", **byte_level_cfg}
    else:
        pre_tokenizer = ws_split
        decoder = {"type": "Fuse"}
    assert len(data.vocab) >= FIRST_MERGE_ID
    return _bpe_document(vocab, merges, pre_tokenizer, decoder, unk_token="<UNK>", byte_fallback=not byte_level)


def char_vocab_to_huggingface_json(chars: Sequence[str]) -> str:
    """A character vocabulary (id = position in ``chars``) as a Hugging Face
    tokenizer with the same ids: a BPE model without merges and without a
    pre-tokenizer splits the text into characters and looks each one up; the
    Fuse decoder joins them back. A character outside ``chars`` has no id
    (rnnpy raises VocabularyError; this tokenizer, having no unknown token,
    leaves it out)."""
    vocab = {c: i for i, c in enumerate(chars)}
    return _bpe_document(vocab, [], None, {"type": "Fuse"}, unk_token=None, byte_fallback=False)


def _bpe_document(
    vocab: dict[str, int],
    merges: list[list[str]],
    pre_tokenizer: dict[str, object] | None,
    decoder: dict[str, object],
    unk_token: str | None,
    byte_fallback: bool,
) -> str:
    """A `tokenizers` JSON document of a BPE model, no normalizer, padding or post-processing."""
    doc: dict[str, object] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": None,
        "decoder": decoder,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk_token,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": byte_fallback,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
