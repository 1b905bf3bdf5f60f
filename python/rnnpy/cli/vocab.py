"""Token vocabularies for the CLI: characters (the default) or a BPE tokenizer.

Both map text to ids and ids to the strings the old program printed, and
round-trip through checkpoint metadata so that ``generate`` needs nothing
but the checkpoint.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, Callable, Union

from rnnpy.cli.options import UsageError
from rnnpy.tokenizer import BPETokenizer, TokenizerError, read_text
from rnnpy.tokenizer import io as tok_io
from rnnpy.tokenizer.ids import LATIN1, SPECIAL_TOKENS


class CharVocab:
    """The sorted distinct characters of the training text (spec/MODEL.md)."""

    kind = "char"

    def __init__(self, chars: list[str]) -> None:
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        missing = sorted({c for c in text if c not in self._ids})
        if missing:
            shown = "".join(missing[:10])
            raise UsageError(f"the text has characters outside the model's vocabulary: {shown!r}")
        return [self._ids[c] for c in text]

    def token(self, i: int) -> str:
        return self.chars[i]

    def to_metadata(self) -> dict[str, Any]:
        return {"type": "char", "chars": self.chars}

    def printer(self) -> Callable[[int], str]:
        return self.token


class BPEVocab:
    kind = "bpe"

    def __init__(self, tokenizer: BPETokenizer) -> None:
        self.tokenizer = tokenizer

    @property
    def size(self) -> int:
        return self.tokenizer.vocab_size

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def token(self, i: int) -> str:
        return self.tokenizer.token(i)

    def to_metadata(self) -> dict[str, Any]:
        return {"type": "bpe", "tokenizer": json.loads(self.tokenizer.to_json(timestamp=""))}

    def printer(self) -> Callable[[int], str]:
        """Id -> text to print. Old-scheme (latin1) tokens print as their
        vocabulary strings, as the old program did; utf8-bytes tokens are
        byte strings, so their bytes go through an incremental UTF-8 decoder
        (a character split across tokens appears once complete)."""
        if self.tokenizer.scheme == LATIN1:
            return self.token
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        specials = set(SPECIAL_TOKENS.values())

        def show(i: int) -> str:
            if i in specials:
                return decoder.decode(b"", final=True) + self.token(i)
            return decoder.decode(self.token(i).encode("latin-1"))

        return show


Vocab = Union[CharVocab, BPEVocab]


def from_metadata(meta: dict[str, Any] | None) -> Vocab | None:
    """The vocabulary an rnnpy checkpoint carries, or None (old checkpoints)."""
    entry = (meta or {}).get("rnnpy", {}).get("vocab")
    if not isinstance(entry, dict):
        return None
    if entry.get("type") == "char":
        return CharVocab(list(entry["chars"]))
    if entry.get("type") == "bpe":
        return BPEVocab(load_tokenizer_json(entry["tokenizer"], "checkpoint metadata"))
    raise UsageError(f"checkpoint metadata has an unknown vocabulary type {entry.get('type')!r}")


def load_tokenizer_json(doc: object, where: str) -> BPETokenizer:
    try:
        return BPETokenizer(tok_io.parse(doc))
    except TokenizerError as e:
        raise UsageError(f"{where}: bad tokenizer: {e}") from None


def load_tokenizer(path: str) -> BPETokenizer:
    try:
        return BPETokenizer.load(path)
    except TokenizerError as e:
        raise UsageError(str(e)) from None


def read_training_text(opts) -> tuple[str, str]:
    """The training text and a description of where it came from:
    ``--trainingFile`` when given (a missing or non-UTF-8 file is an error,
    where the old program fell back silently), else ``--trainingText``."""
    if opts.trainingFile:
        return read_file(opts.trainingFile, "--trainingFile"), opts.trainingFile
    return opts.trainingText, "--trainingText" if "trainingText" in opts.given else "the built-in sample"


def read_file(path: str, option: str) -> str:
    try:
        return read_text(path)
    except TokenizerError as e:
        raise UsageError(f"{option}: {e}") from None


def vocab_for_checkpoint(meta: dict | None, vocab_size: int, opts, path: str) -> tuple[Vocab, str | None]:
    """The vocabulary of a checkpoint and the training text it was built from
    (None when the checkpoint carries its own). Old checkpoints carry none: the
    vocabulary is rebuilt from the training text (or a tokenizer file), as the
    old program did, and must have the checkpoint's size."""
    stored = from_metadata(meta)
    if stored is not None:
        vocab, text = stored, None
    elif opts.useBPE:
        if not opts.bpeLoadPath:
            raise UsageError(f"{path} has no tokenizer inside: give the one it was trained with, --bpeLoadPath=FILE")
        vocab, text = BPEVocab(load_tokenizer(opts.bpeLoadPath)), read_training_text(opts)[0]
    else:
        text, source = read_training_text(opts)
        vocab = CharVocab.from_text(text)
        if vocab.size != vocab_size:
            raise UsageError(
                f"{path} has a vocabulary of {vocab_size} tokens but {source} has {vocab.size} distinct "
                "characters: give the text it was trained on (--trainingFile or --trainingText)"
            )
    if vocab.size != vocab_size:
        raise UsageError(f"{path} has a vocabulary of {vocab_size} tokens but its tokenizer has {vocab.size}")
    return vocab, text
