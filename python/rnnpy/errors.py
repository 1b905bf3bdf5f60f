"""Every exception rnnpy raises for input it cannot use, in one place.

All derive from ``RnnpyError``, a ``ValueError``; the core's four come from the
one error map in ``rust/src/python/errors.rs``::

    RnnpyError (ValueError)
    ├── ConfigError        a model configuration that cannot describe a model (core)
    ├── InputError         arrays, ids or settings that do not fit the model or the call (core)
    ├── CheckpointError    a checkpoint file that is missing, truncated, foreign or inconsistent (core)
    │   └── MetadataError  ... whose metadata rnnpy cannot read
    ├── MemoryLimitError   sizes that need more memory than the machine has (core)
    ├── DivergenceError    training whose loss or gradient norm stopped being finite
    ├── TokenizerError     a tokenizer file, training text or id sequence (rnnpy.tokenizer)
    ├── VocabularyError    text with characters outside a model's vocabulary
    ├── TaskError          an unknown RL task, or a vocabulary that cannot express it
    ├── TextTooShortError  a training text shorter than one window
    └── UsageError         a bad command line (rnnpy.cli)

I/O failures (a file that cannot be written, a closed pipe) stay ``OSError``;
the core's say what failed in words, naming the user's path. A Ctrl-C that
stops the core mid-call is ``KeyboardInterrupt``.
"""

from __future__ import annotations

from rnnpy._core import CheckpointError, ConfigError, InputError, MemoryLimitError, RnnpyError
from rnnpy.tokenizer.errors import TokenizerError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DivergenceError",
    "InputError",
    "MemoryLimitError",
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


class DivergenceError(RnnpyError):
    """Training whose loss or gradient norm stopped being finite (NaN or
    infinity). The non-finite step was not applied, and nothing non-finite
    is saved: a checkpoint on disk keeps the last good state."""


class VocabularyError(RnnpyError):
    """Text with characters outside a character vocabulary."""


class TaskError(RnnpyError):
    """An unknown RL task, or a vocabulary lacking characters a task needs."""


class TextTooShortError(RnnpyError):
    """A training text that gives fewer positions than one window."""


class UsageError(RnnpyError):
    """A bad command line: printed as one line, exit status 2."""
