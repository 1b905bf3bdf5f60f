"""Byte-pair-encoding tokenizer compatible with the old rnn-rust program's files.

Pure Python (no Rust extension needed). See docs/tokenizer.md for the id
scheme, the training tie rule, the lossless ``utf8-bytes`` mode and the file
format.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from rnnpy.tokenizer import io
from rnnpy.tokenizer.encode import MergeTable
from rnnpy.tokenizer.errors import TokenizerError
from rnnpy.tokenizer.ids import FIRST_MERGE_ID, LATIN1, SCHEMES, UTF8_BYTES, latin1_round_trips
from rnnpy.tokenizer.train import MergeStep, TrainResult, train_merges

__all__ = ["BPETokenizer", "MergeStep", "TokenizerError", "LATIN1", "UTF8_BYTES", "read_text"]


class BPETokenizer:
    """A trained or loaded tokenizer: ``encode``/``decode``, ``save``, HF export."""

    def __init__(self, data: io.TokenizerData, training: TrainResult | None = None) -> None:
        self._data = data
        self._table = MergeTable(data.vocab, data.merges, data.scheme)
        self.training = training  # counts and stop reason when trained in this process

    # -- construction -------------------------------------------------------

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int = 512,
        min_frequency: int = 2,
        progress: Callable[[MergeStep], None] | None = None,
        scheme: str = UTF8_BYTES,
    ) -> BPETokenizer:
        """Learn ``vocab_size - 260`` merges (fewer if pairs run out or fall
        below ``min_frequency``). ``progress`` is called after every merge.
        ``scheme="latin1"`` reproduces the old program's ids exactly; the
        default ``utf8-bytes`` makes decode lossless for every string."""
        if scheme not in SCHEMES:
            raise TokenizerError(f"unknown scheme {scheme!r} (expected one of {', '.join(SCHEMES)})")
        if vocab_size < 0 or min_frequency < 0:
            raise TokenizerError("vocab_size and min_frequency must not be negative")
        result = train_merges(text, max(0, vocab_size - FIRST_MERGE_ID), min_frequency, scheme, progress)
        data = io.TokenizerData(result.vocab, result.merges, scheme, vocab_size)
        return cls(data, result)

    @classmethod
    def train_from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> BPETokenizer:
        """``train`` on a UTF-8 text file (any other encoding is an error)."""
        return cls.train(read_text(path), **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BPETokenizer:
        """Load an rnnpy or old-program ``tokenizer.json``."""
        return cls(io.load(path))

    # -- use ------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self._data.vocab)

    @property
    def scheme(self) -> str:
        return self._data.scheme

    @property
    def merges(self) -> list[tuple[int, int]]:
        return list(self._data.merges)

    @property
    def target_vocab_size(self) -> int:
        return self._data.target_vocab_size

    def token(self, token_id: int) -> str:
        """The vocabulary string of ``token_id`` (what the old program printed)."""
        return self._data.vocab[token_id]

    def encode(self, text: str) -> list[int]:
        return self._table.encode(text)

    def decode(self, ids: list[int]) -> str:
        """Concatenate the tokens, leaving out special tokens (ids 0-3) only."""
        return self._table.decode(ids)

    def can_round_trip(self, text: str) -> bool:
        """Whether ``decode(encode(text)) == text`` (always, except for some
        Latin-1 sequences under the old ``latin1`` scheme; docs/tokenizer.md)."""
        return self.scheme == UTF8_BYTES or latin1_round_trips(text)

    # -- files ------------------------------------------------------------------

    def to_json(self, timestamp: str | None = None) -> str:
        return io.to_json(self._data, timestamp)

    def save(self, path: str | os.PathLike[str]) -> None:
        io.write_atomic(path, self.to_json())

    def to_huggingface(self, path: str | os.PathLike[str]) -> None:
        """Write a Hugging Face ``tokenizers`` JSON giving the same ids."""
        io.write_atomic(path, self.to_huggingface_json())

    def to_huggingface_json(self) -> str:
        """The Hugging Face ``tokenizers`` JSON of ``to_huggingface``."""
        from rnnpy.tokenizer.hf import to_huggingface_json

        return to_huggingface_json(self._data)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self._data.merges)}, scheme={self.scheme!r})"


def read_text(path: str | os.PathLike[str]) -> str:
    """A training file's text; non-UTF-8 bytes are a TokenizerError naming the offset.
    Only regular files that fit in memory are read (see `io.read_bytes`)."""
    raw = io.read_bytes(path, "training file", per_byte=4)  # a str takes up to 4 bytes a character
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None
