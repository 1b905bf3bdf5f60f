"""The texts and vocabularies commands work on: the training text, a file
the user named, a tokenizer file, and the vocabulary of a checkpoint (stored
in it, or rebuilt from its training text for the old program's files); the
paths they write, checked before the work, and the checkpoints they save."""

from __future__ import annotations

import os

from rnnpy import _core
from rnnpy.checkpoint import save_checkpoint
from rnnpy.cli.options import BPEOptions, DataOptions
from rnnpy.errors import TokenizerError, UsageError
from rnnpy.metadata import RunMetadata
from rnnpy.model import Model
from rnnpy.tokenizer import BPETokenizer, read_text
from rnnpy.trainer import Trainer
from rnnpy.vocab import BPEVocab, CharVocab, Vocab


def read_file(path: str, option: str) -> str:
    """A UTF-8 file the user named with `option` (a missing or non-UTF-8 file is an error naming both)."""
    try:
        return read_text(path)
    except TokenizerError as e:
        raise UsageError(f"{option}: {e}") from None


def file_mb(path: str) -> str:
    return f"{os.path.getsize(path) / 1_048_576:.2f}"


def save_model(path: str, model: Model, trainer: Trainer, meta: RunMetadata) -> str:
    """Writes a checkpoint (creating missing folders); returns the line that says so."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    save_checkpoint(path, model, trainer, meta.to_dict())
    return f"Saved binary checkpoint to {path} ({file_mb(path)} MB)"


def check_output(path: str, option: str) -> None:
    """Finds out now, not after the work, whether `path` can be written:
    UsageError naming `option` (when the command line gave it: "" names only
    the path) when it is a folder, a device, read-only, in a folder that
    does not take files... (missing folders will be created)."""
    if not path:
        raise UsageError(f"{option or 'the output path'} is empty: give a file path")
    try:
        _core.check_output_path(path, True)
    except OSError as e:
        raise UsageError(f"{option}: {e}" if option else str(e)) from None


def training_text(data: DataOptions, given: frozenset[str]) -> tuple[str, str]:
    """The training text and where it came from: ``--trainingFile`` when given
    (where the old program fell back silently on a bad file), else ``--trainingText``."""
    if data.training_file:
        return read_file(data.training_file, "--trainingFile"), data.training_file
    return data.training_text, "--trainingText" if "trainingText" in given else "the built-in sample"


def checkpoint_vocab(
    meta: RunMetadata, vocab_size: int, data: DataOptions, bpe: BPEOptions, given: frozenset[str], path: str
) -> tuple[Vocab, str | None]:
    """The vocabulary of a checkpoint and the training text it was rebuilt
    from (None when the checkpoint carries its own). The old program's
    checkpoints carry none: it is rebuilt from the training text (or a
    tokenizer file), as the old program did, and must have the checkpoint's size."""
    if meta.vocab is not None:
        vocab, text = meta.vocab, None
    elif bpe.use_bpe:
        if not bpe.load_path:
            raise UsageError(f"{path} has no tokenizer inside: give the one it was trained with, --bpeLoadPath=FILE")
        vocab, text = BPEVocab(BPETokenizer.load(bpe.load_path)), training_text(data, given)[0]
    else:
        text, source = training_text(data, given)
        vocab = CharVocab.from_text(text)
        if vocab.size != vocab_size:
            raise UsageError(
                f"{path} has a vocabulary of {vocab_size} tokens but {source} has {vocab.size} distinct "
                "characters: give the text it was trained on (--trainingFile or --trainingText)"
            )
    if vocab.size != vocab_size:
        raise UsageError(f"{path} has a vocabulary of {vocab_size} tokens but its tokenizer has {vocab.size}")
    return vocab, text
