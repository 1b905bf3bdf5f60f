"""Exact held-out scoring: the mean negative log-likelihood of every token
of a text after the first, with the recurrent state carried across it.

The text's P positions are cut into S contiguous streams (S = 32 for long
texts, fewer for short ones, so every stream has at least ``MIN_STREAM``
positions of context; the last stream also takes the remainder, so no
position is dropped). Each stream starts from zero state and is scored
window by window with its state carried, which gives the same number as one
pass over the stream. The streams only make the work batched: a token's
score depends on the stream it is in, and S is a function of P alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnnpy.errors import TextTooShortError
from rnnpy.model import Model
from rnnpy.vocab import Vocab

STREAMS = 32
MIN_STREAM = 1024  # positions: shorter texts are scored in fewer streams
WINDOW = 256  # positions per call into the core: any value gives the same score


@dataclass(frozen=True)
class Score:
    """A text's score under a model."""

    loss: float  # mean nats per predicted token
    tokens: int  # predicted tokens: every token after the first
    chars: int  # characters those tokens spell

    @property
    def total_nats(self) -> float:
        return self.loss * self.tokens

    @property
    def bits_per_char(self) -> float:
        return self.total_nats / self.chars / math.log(2) if self.chars else math.nan

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss) if self.loss < 700 else math.inf


def streams_for(positions: int) -> int:
    """How many streams a text of ``positions`` positions is scored in."""
    return max(1, min(STREAMS, positions // MIN_STREAM))


def score(model: Model, ids: np.ndarray | list[int], chars: int | None = None) -> Score:
    """The exact mean NLL of ``ids[1:]`` given what precedes each, in
    ``streams_for(P)`` streams with the state carried (see the module
    docstring). ``chars`` is how many characters the predicted tokens spell
    (default: one per token, as for a character vocabulary)."""
    t = np.asarray(ids, dtype=np.int64)
    positions = len(t) - 1
    if positions < 1:
        raise TextTooShortError("a text of fewer than two tokens has nothing to score")
    s = streams_for(positions)
    length = positions // s
    # Streams 0 .. s-2 have `length` positions each; the last has the rest.
    nats = _stream_nats(model, t[: (s - 1) * length + 1], s - 1, length) if s > 1 else 0.0
    nats += _stream_nats(model, t[(s - 1) * length :], 1, positions - (s - 1) * length)
    return Score(nats / positions, positions, positions if chars is None else chars)


def score_text(model: Model, vocab: Vocab, text: str) -> Score:
    """``score`` of a text in ``vocab`` (VocabularyError names characters it
    lacks); bits per character count the characters after the first token."""
    ids = vocab.encode(text)
    first = vocab.decode(ids[:1]) if vocab.kind == "bpe" else text[:1]
    return score(model, ids, chars=len(text) - len(first))


def _stream_nats(model: Model, t: np.ndarray, streams: int, length: int) -> float:
    """Summed nats over ``streams`` contiguous streams of ``length`` positions of ``t``."""
    x = t[:-1][: streams * length].reshape(streams, length)
    y = t[1:][: streams * length].reshape(streams, length)
    state = model.new_state(streams)
    total = 0.0
    for a in range(0, length, WINDOW):
        xs, ys = x[:, a : a + WINDOW], y[:, a : a + WINDOW]
        total += model.loss(xs, ys, state=state) * xs.size
    return total
