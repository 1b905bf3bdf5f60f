"""Every exception rnnpy raises for input it cannot use, in one place.

All derive from ``RnnpyError``, a ``ValueError``; the core's four come from the
one error map in ``rust/src/python/errors.rs``::

    RnnpyError (ValueError)
    ├── ConfigError        a model configuration that cannot describe a model (core)
    ├── InputError         arrays, ids or settings that do not fit the model or the call (core)
    ├── CheckpointError    a checkpoint file that is missing, truncated, foreign or inconsistent (core)
    │   └── MetadataError  ... whose metadata rnnpy cannot read
    ├── TokenizerError     a tokenizer file, training text or id sequence (rnnpy.tokenizer)
    ├── VocabularyError    text with characters outside a model's vocabulary
    ├── TaskError          an unknown RL task, or a vocabulary that cannot express it
    ├── TextTooShortError  a training text shorter than one window
    └── UsageError         a bad command line (rnnpy.cli)

I/O failures (a file that cannot be written, a closed pipe) stay ``OSError``.
"""

from __future__ import annotations

from rnnpy._core import CheckpointError, ConfigError, InputError, RnnpyError
from rnnpy.tokenizer.errors import TokenizerError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "InputError",
    "MetadataError",
    "RnnpyError",
    "TaskError",
    "TextTooShortError",
    "TokenizerError",
    "UsageError",
    "VocabularyError",
]


class MetadataError(CheckpointError):
    """Checkpoint metadata that rnnpy cannot read (a wrong type, an unknown vocabulary)."""


class VocabularyError(RnnpyError):
    """Text with characters outside a character vocabulary."""


class TaskError(RnnpyError):
    """An unknown RL task, or a vocabulary lacking characters a task needs."""


class TextTooShortError(RnnpyError):
    """A training text that gives fewer positions than one window."""


class UsageError(RnnpyError):
    """A bad command line: printed as one line, exit status 2."""


class DistributedError(RnnpyError):
    """A data-parallel run that cannot start or go on: mpi4py missing, ranks
    started differently, a batch smaller than the world, ranks that diverged."""
