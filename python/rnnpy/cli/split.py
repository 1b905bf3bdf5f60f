"""The training text and the held-out text of a ``train`` run.

``--valFraction=f`` holds out the end of the training text: characters
``int(n·(1−f))`` on, where n is its length (nanoGPT's 90/10 split for
f = 0.1). ``--valFile`` validates on a file instead. A character-level
vocabulary is built from both texts, so every held-out character can be
scored and ``--valFraction`` does not change the model's vocabulary; a
tokenizer trained by the run learns from the training part only. Without
either option nothing is held out and the run trains on exactly what the
old program trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnpy.cli.data import read_file
from rnnpy.cli.options import ValidationOptions
from rnnpy.errors import UsageError


@dataclass(frozen=True)
class Texts:
    train: str
    val: str | None  # None: no validation
    val_source: str | None  # how messages name the held-out text

    @property
    def both(self) -> str:
        """What a character vocabulary is built from."""
        return self.train + (self.val or "")


def split(text: str, source: str, v: ValidationOptions) -> Texts:
    if v.fraction > 0 and v.file:
        raise UsageError("give --valFraction or --valFile, not both")
    if v.file:
        return Texts(text, read_file(v.file, "--valFile"), v.file)
    if v.fraction > 0:
        cut = int(len(text) * (1 - v.fraction))
        if cut < 1 or cut >= len(text):
            raise UsageError(f"--valFraction={v.fraction} leaves nothing to train or validate on in {source}")
        return Texts(text[:cut], text[cut:], f"the last {v.fraction:g} of {source}")
    if v.save_best or v.patience > 0:
        option = "--saveBest" if v.save_best else "--patience"
        raise UsageError(f"{option} needs a validation text: give --valFraction or --valFile")
    return Texts(text, None, None)


def check_val_length(tokens: int, seq_length: int, source: str) -> None:
    """A held-out text of at least one training window (``seqLength`` + 1 tokens)."""
    if tokens - 1 < seq_length:
        raise UsageError(
            f"{source} gives {max(tokens - 1, 0)} validation positions, fewer than one window of "
            f"seqLength={seq_length}: hold out more (--valFraction) or use a longer --valFile"
        )
