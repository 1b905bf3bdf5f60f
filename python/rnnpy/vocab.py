"""The one vocabulary type: how a model's token ids map to text.

``CharVocab`` is the sorted distinct characters of a text, one token per
character (spec/MODEL.md); ``BPEVocab`` is a BPE tokenizer's ids. Both encode
text, decode ids, name each token and print tokens as they are generated.
A checkpoint stores its vocabulary (rnnpy.metadata), so generation needs
nothing else.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from typing import Union

from rnnpy.errors import VocabularyError
from rnnpy.tokenizer import BPETokenizer
from rnnpy.tokenizer.hf import char_vocab_to_huggingface_json
from rnnpy.tokenizer.ids import LATIN1, SPECIAL_TOKENS


class CharVocab:
    """One token per character; id = position in ``chars``."""

    kind = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        chars = tuple(chars)
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise VocabularyError("a character vocabulary is a list of distinct single characters")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of character-level training: the sorted distinct characters."""
        return cls(sorted(set(text)))

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharVocab({''.join(self.chars)!r})"

    def id(self, char: str) -> int:
        """The id of one character (KeyError when it is not in the vocabulary)."""
        return self._ids[char]

    def encode(self, text: str) -> list[int]:
        missing = sorted({c for c in text if c not in self._ids})
        if missing:
            shown = "".join(missing[:10])
            raise VocabularyError(f"the text has characters outside the model's vocabulary: {shown!r}")
        return [self._ids[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def token(self, i: int) -> str:
        return self.chars[i]

    def printer(self) -> Callable[[int], str]:
        """Id -> the text to print for it while streaming."""
        return self.token

    def to_huggingface_json(self) -> str:
        """A Hugging Face ``tokenizers`` JSON giving the same ids (tokenizer/hf.py)."""
        return char_vocab_to_huggingface_json(self.chars)


class BPEVocab:
    """The ids of a BPE tokenizer (rnnpy.tokenizer)."""

    kind = "bpe"

    def __init__(self, tokenizer: BPETokenizer) -> None:
        self.tokenizer = tokenizer

    @property
    def size(self) -> int:
        return self.tokenizer.vocab_size

    def __len__(self) -> int:
        return self.tokenizer.vocab_size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BPEVocab):
            return False
        return other.tokenizer.to_json(timestamp="") == self.tokenizer.to_json(timestamp="")

    def __repr__(self) -> str:
        return f"BPEVocab({self.tokenizer!r})"

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def token(self, i: int) -> str:
        return self.tokenizer.token(i)

    def to_huggingface_json(self) -> str:
        """A Hugging Face ``tokenizers`` JSON giving the same ids (tokenizer/hf.py)."""
        return self.tokenizer.to_huggingface_json()

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
