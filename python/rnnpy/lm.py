"""Text in, text out: a model together with its vocabulary.

``rnnpy.load`` reads a checkpoint (or an export directory) with the
vocabulary or BPE tokenizer stored in it; ``LanguageModel`` then takes and
gives text. Sampling runs in the Rust core with the GIL released; ``stream``
yields text as each token is drawn.

>>> import rnnpy
>>> lm = rnnpy.train_text("hello world " * 8, hidden_size=16, embed_size=8, fast_mode=True,
...                       seq_length=8, learning_rate=0.01, epochs=60, seed=0)
>>> lm.generate("hel", length=8, temperature=0)
'hello world'
>>> "".join(lm.stream("hel", length=8, temperature=0))
'lo world'
>>> lm.generate("hel", length=20, temperature=0.8, top_k=3, top_p=0.9, seed=1)
'hello world hello world'
>>> round(lm.perplexity("hello world hello world"), 3)
1.002
>>> lm.generate("hello!")
Traceback (most recent call last):
rnnpy.errors.VocabularyError: the text has characters outside the model's vocabulary: '!'
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator

import numpy as np

from rnnpy import __version__
from rnnpy.checkpoint import save_checkpoint
from rnnpy.errors import InputError, TextTooShortError, VocabularyError
from rnnpy.metadata import RunMetadata
from rnnpy.model import Model, ModelConfig
from rnnpy.tokenizer import BPETokenizer
from rnnpy.trainer import Trainer
from rnnpy.vocab import BPEVocab, CharVocab, Vocab

#: Positions scored per call into the core by `perplexity` (the state carries across calls).
SCORE_WINDOW = 4096


class LanguageModel:
    """A model and the vocabulary its ids belong to.

    ``start`` is the default prompt (the first character of the training
    text, as the old program generated from); ``metadata`` what the checkpoint
    recorded; ``trainer`` AdamW's state when there is one (``save`` keeps it,
    so training can resume from the file).
    """

    def __init__(
        self,
        model: Model,
        vocab: Vocab,
        *,
        start: str | None = None,
        metadata: RunMetadata | None = None,
        trainer: Trainer | None = None,
    ) -> None:
        if vocab.size != model.config.vocab_size:
            raise VocabularyError(
                f"the {vocab.kind} vocabulary has {vocab.size} tokens but the model has {model.config.vocab_size}: "
                "it is not the model's tokenizer"
            )
        self.model = model
        self.vocab = vocab
        self.start = start
        self.metadata = metadata if metadata is not None else RunMetadata(version=__version__)
        self.trainer = trainer

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def __repr__(self) -> str:
        return f"LanguageModel({self.vocab.kind} vocabulary of {self.vocab.size}, {self.model!r})"

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.vocab.decode(ids)

    # -- generation ---------------------------------------------------------------
    def generate(
        self,
        prompt: str | None = None,
        length: int = 100,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
    ) -> str:
        """The prompt followed by ``length`` sampled tokens, as text.

        The prompt is fed once and sampling continues from its state (without
        one: the first character of the training text). Tokens are drawn from
        ``softmax(logits / temperature)`` (0 = argmax) restricted to the
        ``top_k`` most likely (0 = all), then to the fewest most likely whose
        probability reaches ``top_p`` (1 = all). The same seed gives the same text.
        """
        text = self._prompt(prompt)
        return text + "".join(self.stream(text, length, temperature, top_k, top_p, seed))

    def stream(
        self,
        prompt: str | None = None,
        length: int = 100,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
    ) -> Iterator[str]:
        """``generate``'s continuation (without the prompt), piece by piece as
        each token is drawn. A UTF-8 character split across BPE tokens comes
        out once it is complete. The prompt is checked before this returns."""
        ids = self.vocab.encode(self._prompt(prompt))
        if seed < 0:
            raise InputError(f"seed must be non-negative, got {seed}")
        tokens = self.model.stream(ids, length, temperature, seed, top_k, top_p)
        show = self.vocab.printer()
        return (piece for piece in map(show, tokens) if piece)

    def _prompt(self, prompt: str | None) -> str:
        if prompt is None:
            if not self.start:
                raise InputError("this model records no training text to start from: give a prompt")
            return self.start
        if not prompt:
            raise InputError("the prompt is empty: generation needs at least one token to start from")
        return prompt

    # -- scoring --------------------------------------------------------------------
    def perplexity(self, text: str) -> float:
        """``exp`` of the mean cross-entropy of each token of ``text`` given
        all of the text before it (the first token is only read): one pass
        from zero state, the state carried across the whole text."""
        ids = self.vocab.encode(text)
        if len(ids) < 2:
            raise TextTooShortError(f"perplexity needs a text of at least two tokens, got {len(ids)}")
        x = np.asarray(ids[:-1], dtype=np.int64)[None]
        y = np.asarray(ids[1:], dtype=np.int64)[None]
        state = self.model.new_state(1)
        total = 0.0  # summed in float64: the core returns each window's mean
        for i in range(0, x.shape[1], SCORE_WINDOW):
            n = min(SCORE_WINDOW, x.shape[1] - i)
            total += self.model.loss(x[:, i : i + n], y[:, i : i + n], state) * n
        return math.exp(total / x.shape[1])

    # -- files ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """A checkpoint with this vocabulary inside (and AdamW's state when
        there is a trainer), atomically; ``rnnpy.load`` and every command read it."""
        meta = dataclasses.replace(self.metadata, vocab=self.vocab, start=self.start)
        save_checkpoint(path, self.model, self.trainer, meta.to_dict())


def load(
    path: str | os.PathLike[str],
    *,
    text: str | None = None,
    tokenizer: str | os.PathLike[str] | BPETokenizer | None = None,
) -> LanguageModel:
    """A checkpoint (or an export directory) as a ``LanguageModel``.

    rnnpy's checkpoints carry their vocabulary. The old program's carry none:
    give the text it was trained on (``text=``, characters) or its tokenizer
    (``tokenizer=``, a ``tokenizer.json`` path or a ``BPETokenizer``). A
    vocabulary of another size than the model's, or one that differs from the
    vocabulary stored in the checkpoint, is a VocabularyError.
    """
    from rnnpy.export import open_model

    ck, meta = open_model(path)
    stored = meta.vocab
    start = meta.start or (text[:1] if text else None)
    given = _given_vocab(text, tokenizer)
    if stored is not None and given is not None and given != stored:
        raise VocabularyError(f"'{os.fspath(path)}' stores its own vocabulary, and the one given is different")
    vocab = stored or given
    if vocab is None:
        raise VocabularyError(
            f"'{os.fspath(path)}' is an old program's checkpoint with no vocabulary inside: "
            "give its training text (text=...) or its tokenizer (tokenizer=...)"
        )
    trainer = ck.trainer() if ck.optimizer_step > 0 else None
    return LanguageModel(ck.model, vocab, start=start, metadata=meta, trainer=trainer)


def _given_vocab(text: str | None, tokenizer: str | os.PathLike[str] | BPETokenizer | None) -> Vocab | None:
    if tokenizer is not None:
        return BPEVocab(tokenizer if isinstance(tokenizer, BPETokenizer) else BPETokenizer.load(tokenizer))
    return CharVocab.from_text(text) if text else None


__all__ = ["LanguageModel", "load"]
