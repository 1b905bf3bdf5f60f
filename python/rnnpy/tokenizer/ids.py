"""Base ids: how text becomes the 256 single-character tokens, and back.

Ids 0-3 are the special tokens, id ``4 + i`` is the token whose string is the
character U+00XX with code point ``i``, merges follow from 260 (spec/TOKENIZER.md).

Two schemes map text onto those 256 base tokens:

* ``latin1`` (the old rnn-rust program): a character below U+0100 is its own
  base token; any other character becomes its UTF-8 bytes. A byte >= 0x80 and
  the Latin-1 character with the same value therefore share an id.
* ``utf8-bytes`` (rnnpy's default for tokenizers it trains): every character
  becomes its UTF-8 bytes, so ids are plain bytes and decoding is lossless.
  ASCII and characters >= U+0100 get the same base ids as under ``latin1``;
  only U+0080-U+00FF differ (``é`` is 0xC3 0xA9 instead of 0xE9).

Internally a "byte string" is a ``str`` whose characters are all below U+0100,
one per base token: exactly the token strings stored in the JSON file.
"""

from __future__ import annotations

import re

SPECIAL_TOKENS = {"<PAD>": 0, "<UNK>": 1, "<BOS>": 2, "<EOS>": 3}
BASE_OFFSET = 4
FIRST_MERGE_ID = BASE_OFFSET + 256

LATIN1 = "latin1"
UTF8_BYTES = "utf8-bytes"
SCHEMES = (LATIN1, UTF8_BYTES)

# Rust's char::is_whitespace (Unicode White_Space), which the old program split
# pieces on. Python's str.isspace differs (it adds U+001C-U+001F), so the set
# is spelled out.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)
_WS_CLASS = "[" + re.escape(WHITESPACE) + "]"

# Training pieces: split after every whitespace character ("a b  c" ->
# "a ", "b ", " ", "c"), like Rust's str::split_inclusive(char::is_whitespace).
PIECE_RE = re.compile(f"[^{re.escape(WHITESPACE)}]*{_WS_CLASS}|[^{re.escape(WHITESPACE)}]+")

# Encoding chunks: split only after ASCII whitespace. No learned merge has a
# left token ending in an ASCII whitespace id (such an id ends its training
# piece, and ASCII ids never stand for a UTF-8 byte), so no merge can span
# these cuts and encoding chunk by chunk equals encoding the whole text. The
# non-ASCII whitespace ids do double as UTF-8 bytes (U+00A0 is also the last
# byte of U+2020 "†"), so cutting after them would not be exact.
ASCII_WS = "\t\n\x0b\x0c\r "
CHUNK_RE = re.compile(r"[^\t\n\x0b\x0c\r ]*[\t\n\x0b\x0c\r ]|[^\t\n\x0b\x0c\r ]+")

# A run of characters in U+0080-U+00FF that reads as the UTF-8 encoding
# (surrogates allowed) of a code point >= U+0100. Under ``latin1`` such runs
# are exactly what a non-Latin-1 character turns into, so decoding folds them
# back; a text that contains one literally cannot round-trip (docs/tokenizer.md).
UTF8_RUN_RE = re.compile(
    "[\xc4-\xdf][\x80-\xbf]"
    "|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xef][\x80-\xbf]{2}"
    "|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_NON_LATIN1_RE = re.compile("[^\x00-\xff]+")


def split_pieces(text: str) -> list[str]:
    """Whitespace-terminated training pieces, as the old program made them."""
    return PIECE_RE.findall(text)


def split_chunks(text: str) -> list[str]:
    """Pieces cut only after ASCII whitespace: safe units for encoding."""
    return CHUNK_RE.findall(text)


def _utf8_as_latin1(match: re.Match[str]) -> str:
    return match.group().encode("utf-8", "surrogatepass").decode("latin-1")


def to_byte_string(text: str, scheme: str) -> str:
    """The base-token string of ``text``: one character (< U+0100) per base id."""
    if scheme == UTF8_BYTES:
        return text.encode("utf-8", "surrogatepass").decode("latin-1")
    return _NON_LATIN1_RE.sub(_utf8_as_latin1, text)


def base_ids(text: str, scheme: str) -> list[int]:
    """Base ids (4 + byte value) of ``text`` under ``scheme``."""
    raw = to_byte_string(text, scheme).encode("latin-1")
    return [b + BASE_OFFSET for b in raw]


def _fold_utf8(match: re.Match[str]) -> str:
    return match.group().encode("latin-1").decode("utf-8", "surrogatepass")


def from_byte_string(chars: str, scheme: str) -> str:
    """Text back from concatenated token strings (inverse of to_byte_string)."""
    if scheme == UTF8_BYTES:
        raw = chars.encode("latin-1")
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            # Only for id sequences no text encodes to (e.g. sampled by a model).
            return raw.decode("utf-8", "replace")
    return UTF8_RUN_RE.sub(_fold_utf8, chars)


def latin1_round_trips(text: str) -> bool:
    """Whether ``text`` survives encode/decode under the old ``latin1`` scheme.

    Applied to the original text the run pattern only sees its Latin-1
    characters (anything >= U+0100 is outside the class), so a match is exactly
    a literal Latin-1 run that decoding would fold into one character.
    """
    return UTF8_RUN_RE.search(text) is None
