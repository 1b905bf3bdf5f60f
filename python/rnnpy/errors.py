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
    ├── TextTooShortError  a text too short for its use (one training window, two tokens to score)
    ├── ExportError        an export directory rnnpy cannot read back (rnnpy.export)
    ├── MetricsError       a metrics file that is not one JSON object per line (rnnpy.plot)
    ├── MissingDependencyError  an optional package a feature needs is not installed
    └── UsageError         a bad command line (rnnpy.cli)

I/O failures (a file that cannot be written, a closed pipe) stay ``OSError``;
the core's say what failed in words, naming the user's path. A Ctrl-C that
stops the core mid-call is ``KeyboardInterrupt``.
"""

from __future__ import annotations

import importlib
from typing import Any

from rnnpy._core import CheckpointError, ConfigError, InputError, MemoryLimitError, RnnpyError
from rnnpy.tokenizer.errors import TokenizerError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DivergenceError",
    "ExportError",
    "InputError",
    "MemoryLimitError",
    "MetadataError",
    "MetricsError",
    "MissingDependencyError",
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
    """A text too short for its use: fewer positions than one training window, or fewer than two tokens to score."""


class ExportError(RnnpyError):
    """An export directory (``model.safetensors`` + ``config.json``) missing a file or not fitting its config."""


class MetricsError(RnnpyError):
    """A metrics file that is not one JSON object per line, or has no loss to plot."""


class MissingDependencyError(RnnpyError):
    """An optional package a feature needs is not installed; the message says which extra installs it."""

    def __init__(self, package: str, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the optional package {package}: pip install 'rnnpy[{extra}]'")
        self.package = package


class UsageError(RnnpyError):
    """A bad command line: printed as one line, exit status 2."""


class DistributedError(RnnpyError):
    """A data-parallel run that cannot start or go on: mpi4py missing, ranks
    started differently, a batch smaller than the world, ranks that diverged."""


def require(module: str, feature: str, extra: str) -> Any:
    """Imports an optional package, or raises MissingDependencyError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module.split(".")[0], feature, extra) from None
